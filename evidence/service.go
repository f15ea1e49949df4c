package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/store"
)

// Storage layout in the evidence bucket (Object Lock). No key is a '/'
// parent of another:
//
//	index/<pkg>.json                   package record, create-if-absent: the replay guard
//	pkg/<pkg>/draft.json               manifest as created (outgoing; never locked: pre-seal)
//	pkg/<pkg>/manifest.json            signed manifest, canonical bytes
//	pkg/<pkg>/manifest.json.sig        detached signature of the sender
//	pkg/<pkg>/key.pgp                  package key, wrapped to recipients + node (never locked: shredding)
//	pkg/<pkg>/items/<name>/data        item ciphertext (addressed by version id)
//	pkg/<pkg>/items/<name>/record.json item record: hashes, size, object version
//	pkg/<pkg>/custody/<seq>.json       custody events, create-if-absent
//	pkg/<pkg>/receipts/<fpr>-<n>.json  signed receipts filed by the sender
//	transfers/<id>/<name>              ciphertext of received items (locked once verified)
//	quarantine/<id>.json               why a received transfer was quarantined
//
// Everything of a package except draft.json and key.pgp is written once
// under the package's Object Lock (objectLock), index record included.
const (
	prefixIndex      = "index/"
	prefixPkg        = "pkg/"
	prefixTransfers  = "transfers/"
	prefixQuarantine = "quarantine/"
)

func keyIndex(id string) string            { return prefixIndex + id + ".json" }
func keyPkg(id, rest string) string        { return prefixPkg + id + "/" + rest }
func keyCustody(id string, n int64) string { return keyPkg(id, fmt.Sprintf("custody/%010d.json", n)) }
func keyItemData(id, name string) string   { return keyPkg(id, "items/"+name+"/data") }
func keyItemRecord(id, name string) string {
	return keyPkg(id, "items/"+name+"/record.json")
}

// Direction says whether this node made a package or received it.
type Direction string

// Directions.
const (
	Outgoing Direction = "outgoing"
	Incoming Direction = "incoming"
)

// indexRecord is the first thing written for a package.
type indexRecord struct {
	ID        string    `json:"id"`
	Type      Type      `json:"type"`
	Direction Direction `json:"direction"`
	ReplyTo   string    `json:"reply_to,omitempty"`
	Created   time.Time `json:"created"`
}

// ObjectRef addresses one stored object version.
type ObjectRef struct {
	Key     string `json:"key"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
}

// ItemRecord is what the node keeps about a stored item.
type ItemRecord struct {
	Item   Item      `json:"item"`
	Object ObjectRef `json:"object"`
	Stored time.Time `json:"stored"`
	By     string    `json:"by,omitempty"`
}

// Options configure a Service.
type Options struct {
	// Bucket is the evidence bucket; it must have Object Lock.
	Bucket store.Bucket
	// Sealer signs as the node and verifies with the node's keyring, which
	// must hold the keys of every peer packages are exchanged with.
	Sealer *seal.Sealer
	// Keys finds a peer's public key by fingerprint (recipients of outgoing
	// packages). Default: look in Peers.
	Keys func(fingerprint string) (*openpgp.Entity, bool)
	// Peers, if set, is the current set of peer keys (e.g. the federation's
	// peer registry); signatures are then verified against it at the time
	// of each act, so a peer added later is trusted without a restart.
	Peers func() openpgp.EntityList
	// NodeName and Country describe this node in custody events.
	NodeName string
	Country  string
	// Retention is how long stored evidence is kept at least (governance
	// mode) when the manifest asks for nothing longer (`evidence.retention_days`
	// of the node configuration). Default 365 days.
	Retention time.Duration
	// Transport delivers packages to peers (Send); nil: Send is unavailable.
	Transport PeerTransport
	// Registerer receives the evidence metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Service keeps evidence packages.
type Service struct {
	bucket    store.Bucket
	sealer    *seal.Sealer
	self      *identity.Identity
	selfFpr   string
	keys      func(string) (*openpgp.Entity, bool)
	peers     func() openpgp.EntityList
	nodeName  string
	country   string
	retention time.Duration
	log       *slog.Logger
	now       func() time.Time
	m         *metrics
	transport PeerTransport

	mu   sync.RWMutex
	pkgs map[string]*pkgState
}

// pkgState is the in-memory view of a package, rebuilt from the store at
// start (the store is the system of record).
type pkgState struct {
	mu       sync.Mutex // serialises custody appends and changes
	rec      indexRecord
	manifest *Manifest // sealed manifest, or the draft
	raw      []byte    // canonical manifest when sealed
	sig      []byte
	sealed   bool
	state    State
	last     *SignedEvent
	hold     bool
	disposed bool
	items    map[string]ItemRecord
	sentTo   map[string]bool
	receipts map[string]bool
	retain   time.Time // latest retention set on the package's objects
	// released: a hold-released event is recorded, so the policy's hold
	// (lockPolicy) no longer applies to new objects until a hold is set.
	released bool
	// recordHidden: a delete marker hides the package record; the package
	// was loaded from recordVersion, the record's latest stored version.
	recordHidden  bool
	recordVersion string
}

// New opens the service and rebuilds its view of the packages in the
// bucket.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Bucket == nil || opts.Sealer == nil {
		return nil, errors.New("evidence: a bucket and a sealer are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retention <= 0 {
		opts.Retention = 365 * 24 * time.Hour
	}
	if opts.Keys == nil {
		opts.Keys = func(fpr string) (*openpgp.Entity, bool) {
			if opts.Peers == nil {
				return nil, false
			}
			for _, e := range opts.Peers() {
				if strings.EqualFold(identity.Fingerprint(e), fpr) {
					return e, true
				}
			}
			return nil, false
		}
	}
	s := &Service{
		bucket: opts.Bucket, sealer: opts.Sealer, self: opts.Sealer.Self(), selfFpr: opts.Sealer.Self().Fingerprint(),
		keys: opts.Keys, peers: opts.Peers, nodeName: opts.NodeName, country: opts.Country, retention: opts.Retention,
		log: opts.Logger, now: opts.Now, pkgs: map[string]*pkgState{}, transport: opts.Transport,
	}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer, s)
	if err != nil {
		return nil, err
	}
	s.m = m
	return s, nil
}

// seal returns the sealer to verify with: the configured one, or one with
// the current peer keys when Options.Peers is set. Signing is the same
// either way (the node's key).
func (s *Service) seal() *seal.Sealer {
	if s.peers == nil {
		return s.sealer
	}
	return seal.New(s.self, s.peers())
}

// Fingerprint is this node's key fingerprint.
func (s *Service) Fingerprint() string { return s.selfFpr }

func (s *Service) reload(ctx context.Context) error {
	for info, err := range s.bucket.List(ctx, prefixIndex, "") {
		if err != nil {
			return fmt.Errorf("evidence: list packages: %w", err)
		}
		var rec indexRecord
		if err := s.getJSON(ctx, info.Key, &rec); err != nil {
			return err
		}
		p, err := s.loadPackage(ctx, rec)
		if err != nil {
			return err
		}
		s.pkgs[rec.ID] = p
	}
	// List leaves out records a delete marker hides: find those too, or
	// the package would vanish and its id look unused.
	for info, err := range s.bucket.ListDeleted(ctx, prefixIndex, "") {
		if err != nil {
			return fmt.Errorf("evidence: list hidden package records: %w", err)
		}
		if err := s.loadHidden(ctx, info.Key); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) loadPackage(ctx context.Context, rec indexRecord) (*pkgState, error) {
	p := &pkgState{rec: rec, items: map[string]ItemRecord{}, sentTo: map[string]bool{}, receipts: map[string]bool{}}
	raw, err := s.getBytes(ctx, keyPkg(rec.ID, "manifest.json"), 16<<20)
	switch {
	case err == nil:
		m, err := ParseManifest(raw, false)
		if err != nil {
			return nil, fmt.Errorf("evidence: package %s: stored manifest: %w", rec.ID, err)
		}
		p.manifest, p.raw, p.sealed = m, raw, true
		if p.sig, err = s.getBytes(ctx, keyPkg(rec.ID, "manifest.json.sig"), 1<<20); err != nil {
			return nil, err
		}
	case errors.Is(err, store.ErrNotFound):
		draft, err := s.getBytes(ctx, keyPkg(rec.ID, "draft.json"), 16<<20)
		if err != nil {
			return nil, err
		}
		if p.manifest, err = ParseManifest(draft, false); err != nil {
			return nil, fmt.Errorf("evidence: package %s: stored draft: %w", rec.ID, err)
		}
	default:
		return nil, err
	}
	for info, err := range s.bucket.List(ctx, keyPkg(rec.ID, "items/"), "") {
		if err != nil {
			return nil, fmt.Errorf("evidence: list items: %w", err)
		}
		if !strings.HasSuffix(info.Key, "/record.json") {
			continue
		}
		var ir ItemRecord
		if err := s.getJSON(ctx, info.Key, &ir); err != nil {
			return nil, err
		}
		p.items[ir.Item.Name] = ir
	}
	events, err := s.readCustody(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	for i := range events {
		p.apply(&events[i])
	}
	return p, nil
}

// apply updates the view with one custody event.
func (p *pkgState) apply(ev *SignedEvent) {
	p.last = ev
	e := ev.Event
	if st := e.Attrs["state"]; st != "" {
		p.state = State(st)
	}
	switch e.Kind {
	case EvHoldSet:
		p.hold, p.released = true, false
	case EvHoldReleased:
		p.hold, p.released = false, true
	case EvDisposed:
		p.disposed = true
	case EvSent:
		p.sentTo[e.Attrs["to"]] = true
	case EvDelivered, EvDeliveryFailed:
		p.receipts[e.Attrs["receiver"]] = true
	}
	if r := e.Attrs["retain_until"]; r != "" {
		if t, err := time.Parse(time.RFC3339, r); err == nil && t.After(p.retain) {
			p.retain = t
		}
	}
}

func (s *Service) readCustody(ctx context.Context, id string) ([]SignedEvent, error) {
	var out []SignedEvent
	for info, err := range s.bucket.List(ctx, keyPkg(id, "custody/"), "") {
		if err != nil {
			return nil, fmt.Errorf("evidence: list custody: %w", err)
		}
		var ev SignedEvent
		if err := s.getJSON(ctx, info.Key, &ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// pkg returns the package's state or a not-found error.
func (s *Service) pkg(id string) (*pkgState, error) {
	s.mu.RLock()
	p := s.pkgs[id]
	s.mu.RUnlock()
	if p == nil {
		return nil, fmt.Errorf("%w: package %q", ErrNotFound, id)
	}
	return p, nil
}

// ErrNotFound: no such package or item.
var ErrNotFound = errors.New("evidence: not found")

// append signs and stores the next custody event of p; p.mu must be held.
// Events are written create-if-absent, so a concurrent writer (another
// process on the same bucket) makes this fail rather than fork the chain.
func (s *Service) append(ctx context.Context, p *pkgState, who Actor, kind EventKind, what []ItemRef, why string, attrs map[string]string) (SignedEvent, error) {
	e := Event{
		Package: p.rec.ID, Kind: kind, Time: s.now(), Who: s.actor(who),
		Where: strings.TrimSpace(s.nodeName + " " + s.country), What: what, Why: why, Attrs: attrs,
	}
	if p.last != nil {
		e.Seq = p.last.Event.Seq + 1
		e.Prev = p.last.Hash()
		// Never let this node's own clock step make the chain run backwards.
		if e.Time.Before(p.last.Event.Time) && strings.EqualFold(p.last.Event.Who.Node, s.selfFpr) {
			return SignedEvent{}, fmt.Errorf("evidence: clock went back: now %s is before the last custody event %s", e.Time, p.last.Event.Time)
		}
	}
	ev, err := signEvent(s.sealer, e)
	if err != nil {
		return SignedEvent{}, err
	}
	ret, hold := s.objectLock(p)
	switch kind {
	case EvHoldSet:
		hold = true
	case EvHoldReleased:
		hold = false
	}
	if err := s.putEvent(ctx, ev, ret, hold); err != nil {
		return SignedEvent{}, err
	}
	p.apply(&ev)
	return ev, nil
}

// ErrCustodySlot: the next custody event cannot be written where it
// belongs because its key already holds a version: a current one (another
// writer got there first) or one hidden by a delete marker (the chain was
// cut there). Writing anyway would rewrite the chain.
var ErrCustodySlot = errors.New("evidence: custody event slot is taken")

// SlotError says what occupies a custody event's key.
type SlotError struct {
	Package string
	Seq     int64
	Stored  int // stored versions
	Markers int // delete markers
	Hidden  bool
}

func (e *SlotError) Error() string {
	if e.Hidden {
		return fmt.Sprintf("evidence: package %s: custody event %d cannot be written: its key already holds %d stored version(s) and %d delete marker(s), "+
			"so the chain was cut (or its next key tampered with) there; nothing more is recorded until the delete marker is removed (see kurier evidence verify)",
			e.Package, e.Seq, e.Stored, e.Markers)
	}
	return fmt.Sprintf("evidence: package %s: custody event %d already exists (written by another process on the same bucket); retry", e.Package, e.Seq)
}

func (e *SlotError) Unwrap() error { return ErrCustodySlot }

// reason is the slot reason the metric counts and the problem names.
func (e *SlotError) reason() string {
	if e.Hidden {
		return slotHidden
	}
	return slotExists
}

// Slot reasons in kurier_evidence_custody_appends_refused_total.
const (
	slotHidden = "hidden-version"
	slotExists = "exists"
)

// putEvent stores one custody event create-if-absent and under the same
// Object Lock as the package's data (retention, and legal hold while one
// applies): without the lock, deleting the chain's last events would leave
// a shorter chain that still verifies. Create-if-absent alone does not
// protect a slot whose event a delete marker hides (the put would succeed
// on top of it), so the key must have no version at all.
func (s *Service) putEvent(ctx context.Context, ev SignedEvent, ret store.Retention, hold bool) error {
	key := keyCustody(ev.Event.Package, ev.Event.Seq)
	kv, err := versionCounts(ctx, s.bucket, key)
	if err != nil {
		return fmt.Errorf("evidence: append custody event %d: versions: %w", ev.Event.Seq, err)
	}
	if kv.used() {
		return s.slotRefused(&SlotError{Package: ev.Event.Package, Seq: ev.Event.Seq, Stored: kv.stored, Markers: kv.markers, Hidden: kv.markers > 0})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := s.bucket.Put(ctx, key, bytes.NewReader(b), store.PutOptions{
		IfAbsent: true, Size: int64(len(b)), ContentType: "application/json", Retention: &ret, LegalHold: hold,
	}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return s.slotRefused(&SlotError{Package: ev.Event.Package, Seq: ev.Event.Seq, Stored: 1})
		}
		return fmt.Errorf("evidence: append custody event %d: %w", ev.Event.Seq, err)
	}
	return nil
}

func (s *Service) slotRefused(se *SlotError) error {
	reason := se.reason()
	s.m.slotRefused.WithLabelValues(reason).Inc()
	s.log.Error("custody event not written", "package", se.Package, "seq", se.Seq, "reason", reason, "stored", se.Stored, "delete_markers", se.Markers)
	return se
}

func (s *Service) actor(a Actor) Actor {
	a.Node, a.NodeName, a.Country = s.selfFpr, s.nodeName, s.country
	return a
}

// Package is what callers see of a package.
type Package struct {
	ID        string       `json:"id"`
	Type      Type         `json:"type"`
	Direction Direction    `json:"direction"`
	State     State        `json:"state"`
	Sealed    bool         `json:"sealed"`
	LegalHold bool         `json:"legal_hold"`
	Disposed  bool         `json:"disposed,omitempty"`
	ReplyTo   string       `json:"reply_to,omitempty"`
	Created   time.Time    `json:"created"`
	Items     []ItemRecord `json:"items,omitempty"`
	Overdue   []Overdue    `json:"overdue,omitempty"`
	// ReceiptsOutstanding counts recipients sent to without a receipt.
	ReceiptsOutstanding int       `json:"receipts_outstanding,omitempty"`
	RetainUntil         time.Time `json:"retain_until,omitzero"`
	Manifest            *Manifest `json:"manifest,omitempty"`
	// ManifestSHA256 is the hash of the signed canonical manifest.
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
	LastEvent      int64  `json:"last_event"`
	// IndexHidden: a delete marker hides the package record (index/<id>.json);
	// the package was loaded from the record's latest stored version.
	IndexHidden bool `json:"index_hidden,omitempty"`
}

// view builds a Package; p.mu must be held.
func (s *Service) view(p *pkgState, full bool) Package {
	v := Package{
		ID: p.rec.ID, Type: p.rec.Type, Direction: p.rec.Direction, State: p.state, Sealed: p.sealed,
		LegalHold: p.hold, Disposed: p.disposed, ReplyTo: p.rec.ReplyTo, Created: p.rec.Created,
		Overdue: OverdueAt(p.manifest, p.state, s.now()), RetainUntil: p.retain, IndexHidden: p.recordHidden,
	}
	for to := range p.sentTo {
		if !p.receipts[to] {
			v.ReceiptsOutstanding++
		}
	}
	if p.last != nil {
		v.LastEvent = p.last.Event.Seq
	}
	if p.sealed {
		v.ManifestSHA256 = sha256Hex(p.raw)
	}
	if full {
		v.Manifest = p.manifest
		for _, name := range slices.Sorted(maps.Keys(p.items)) {
			v.Items = append(v.Items, p.items[name])
		}
	}
	return v
}

// Filter selects packages in List.
type Filter struct {
	Overdue bool
	State   State
	Type    Type
}

// List returns the packages matching f, newest first. It reads no
// evidence (ids, types, states and deadlines only).
func (s *Service) List(f Filter) []Package {
	s.mu.RLock()
	all := slices.Collect(maps.Values(s.pkgs))
	s.mu.RUnlock()
	var out []Package
	for _, p := range all {
		p.mu.Lock()
		v := s.view(p, false)
		p.mu.Unlock()
		if (f.Overdue && len(v.Overdue) == 0) || (f.State != "" && v.State != f.State) || (f.Type != "" && v.Type != f.Type) {
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Package) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Get returns a package with its manifest and items, and records the read
// as an accessed custody event.
func (s *Service) Get(ctx context.Context, who Actor, id string) (Package, error) {
	p, err := s.pkg(id)
	if err != nil {
		return Package{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := s.flagRecord(ctx, p); err != nil {
		return Package{}, err
	}
	if _, err := s.append(ctx, p, who, EvAccessed, nil, "manifest read", nil); err != nil {
		return Package{}, err
	}
	return s.view(p, true), nil
}

// Custody returns the package's custody log, after recording the read.
func (s *Service) Custody(ctx context.Context, who Actor, id string) ([]SignedEvent, error) {
	p, err := s.pkg(id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := s.append(ctx, p, who, EvAccessed, nil, "custody log read", nil); err != nil {
		return nil, err
	}
	return s.readCustody(ctx, id)
}

// newID makes a random package id (a UUID v4).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Service) getBytes(ctx context.Context, key string, limit int64) ([]byte, error) {
	return s.getVersion(ctx, key, "", limit)
}

// getVersion reads one version of key (the current one when version is
// empty), at most limit bytes.
func (s *Service) getVersion(ctx context.Context, key, version string, limit int64) ([]byte, error) {
	rc, _, err := s.bucket.Get(ctx, key, version)
	if err != nil {
		return nil, fmt.Errorf("evidence: read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("evidence: read %s: %w", key, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("evidence: read %s: larger than %d bytes", key, limit)
	}
	return b, nil
}

func (s *Service) getJSON(ctx context.Context, key string, v any) error {
	b, err := s.getBytes(ctx, key, 16<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("evidence: decode %s: %w", key, err)
	}
	return nil
}

func (s *Service) putBytes(ctx context.Context, key string, b []byte, opts store.PutOptions) (store.ObjectInfo, error) {
	opts.Size = int64(len(b))
	info, err := s.bucket.Put(ctx, key, bytes.NewReader(b), opts)
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("evidence: write %s: %w", key, err)
	}
	return info, nil
}

// lockPolicy is the Object Lock for a package's data: governance retention
// for the configured period (or the manifest's retain_until, if later; the
// manifest may ask for compliance mode) and, while a preservation applies
// (see preservation), a legal hold plus a governance floor of 60 days or
// the end of the preservation, whichever is later. The manifest's
// retention.legal_hold asks for the hold on other packages too.
func (s *Service) lockPolicy(m *Manifest) (store.Retention, bool) {
	now := s.now()
	until := now.Add(s.retention)
	if r := m.Retention.RetainUntil; r != nil && r.After(until) {
		until = r.Time
	}
	preserved, preserveUntil := s.preservation(m)
	hold := m.Retention.LegalHold || preserved
	if hold {
		until = latest(until, now.Add(PreservationMinimum), preserveUntil)
	}
	mode := store.Governance
	if m.Retention.Mode == "compliance" {
		mode = store.Compliance
	}
	// Retention lives in the store's clock; never set it in the past.
	if until.Before(time.Now().Add(time.Minute)) {
		until = time.Now().Add(time.Minute)
	}
	return store.Retention{Mode: mode, Until: until.Truncate(time.Second).Add(time.Second)}, hold
}

// preservation reports whether m's data is preserved data — a preservation
// request or confirmation, or a disclosure answering a preservation request
// (Art. 29(7): preserved data stays preserved while it is disclosed) — and
// the latest preserve_until of m and the request it answers. The caller
// may hold m's package lock: the answered package is locked after it, the
// order applyReply uses too.
func (s *Service) preservation(m *Manifest) (bool, time.Time) {
	var until time.Time
	if d := m.Deadlines.PreserveUntil; d != nil {
		until = d.Time
	}
	switch m.Type {
	case PreservationRequest:
		return true, until
	case PreservationConfirmation, EvidenceDisclosure, PartialTrafficDisclosure:
	default:
		return false, until
	}
	// A confirmation confirms preserved data whatever it links to; a
	// disclosure holds only when it answers a preservation request.
	s.mu.RLock()
	ref := s.pkgs[m.ReplyTo]
	s.mu.RUnlock()
	if ref == nil || ref.rec.Type != PreservationRequest {
		return m.Type == PreservationConfirmation, until
	}
	ref.mu.Lock()
	defer ref.mu.Unlock()
	if d := ref.manifest.Deadlines.PreserveUntil; d != nil {
		until = latest(until, d.Time)
	}
	return true, until
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// lock applies the policy to one stored object version.
func (s *Service) lock(ctx context.Context, ref ObjectRef, r store.Retention, hold bool) error {
	if err := s.bucket.SetRetention(ctx, ref.Key, ref.Version, r, false); err != nil {
		return fmt.Errorf("evidence: lock %s: %w", ref.Key, err)
	}
	if hold {
		if err := s.bucket.SetLegalHold(ctx, ref.Key, ref.Version, true); err != nil {
			return fmt.Errorf("evidence: legal hold %s: %w", ref.Key, err)
		}
	}
	return nil
}

// packageKey unwraps the package key; p.mu must be held.
func (s *Service) packageKey(ctx context.Context, p *pkgState) ([]byte, error) {
	if p.disposed {
		return nil, fmt.Errorf("%w: package %s was disposed of (its key destroyed)", ErrDisposed, p.rec.ID)
	}
	wrapped, err := s.getBytes(ctx, keyPkg(p.rec.ID, "key.pgp"), 1<<20)
	if err != nil {
		return nil, err
	}
	key, signer, err := s.seal().OpenBytes(wrapped)
	if err != nil {
		return nil, fmt.Errorf("evidence: unwrap package key: %w", err)
	}
	if !strings.EqualFold(signer.Fingerprint, p.manifest.Sender.Node) {
		return nil, fmt.Errorf("evidence: package key of %s was wrapped by %s, not its sender", p.rec.ID, signer.Fingerprint)
	}
	if len(key) != packageKeyLen {
		return nil, errors.New("evidence: package key has the wrong length")
	}
	return key, nil
}

// objectLock is the Object Lock for an object of p written now: the
// package's policy, never shorter than what its objects already carry, and
// a legal hold while the package is held, or while the policy asks for one
// and no release was recorded. p.mu must be held.
func (s *Service) objectLock(p *pkgState) (store.Retention, bool) {
	ret, hold := s.lockPolicy(p.manifest)
	if p.retain.After(ret.Until) {
		ret.Until = p.retain
	}
	return ret, p.hold || (hold && !p.released)
}

// unlocked names the objects of a package that are never locked: the
// wrapped key (destroyed to dispose of the package) and the draft (the
// manifest before sealing; the signed manifest is what counts).
func unlocked(id, key string) bool {
	return key == keyPkg(id, "key.pgp") || key == keyPkg(id, "draft.json")
}

// holdAll turns the legal hold of every locked object of p on or off
// (SetHold, ReleaseHold, Seal, Receive): items by their version, the index
// record, and the current version of everything else under pkg/<id>/.
func (s *Service) holdAll(ctx context.Context, p *pkgState, on bool) error {
	id := p.rec.ID
	done := map[string]bool{}
	for _, ir := range p.items {
		if err := s.bucket.SetLegalHold(ctx, ir.Object.Key, ir.Object.Version, on); err != nil {
			return fmt.Errorf("evidence: legal hold of item %s: %w", ir.Item.Name, err)
		}
		done[ir.Object.Key] = true
	}
	// A hidden record has no current version: hold its stored one.
	if _, err := s.flagRecord(ctx, p); err != nil {
		return err
	}
	keys := []string{keyIndex(id)}
	if p.recordHidden {
		if err := s.bucket.SetLegalHold(ctx, keyIndex(id), p.recordVersion, on); err != nil {
			return fmt.Errorf("evidence: legal hold of hidden %s: %w", keyIndex(id), err)
		}
		keys = nil
	}
	for info, err := range s.bucket.List(ctx, keyPkg(id, ""), "") {
		if err != nil {
			return fmt.Errorf("evidence: list package %s: %w", id, err)
		}
		if !done[info.Key] && !unlocked(id, info.Key) {
			keys = append(keys, info.Key)
		}
	}
	for _, key := range keys {
		if err := s.bucket.SetLegalHold(ctx, key, "", on); err != nil { // "": the current version
			return fmt.Errorf("evidence: legal hold of %s: %w", key, err)
		}
	}
	return nil
}

// ErrDisposed: the package was crypto-shredded.
var ErrDisposed = errors.New("evidence: disposed")

func itemRefs(items map[string]ItemRecord) []ItemRef {
	out := make([]ItemRef, 0, len(items))
	for _, name := range slices.Sorted(maps.Keys(items)) {
		it := items[name].Item
		out = append(out, ItemRef{Name: it.Name, SHA256: it.SHA256, SHA512: it.SHA512, Size: it.Size})
	}
	return out
}
