// Package indicator is what CERT analysts use every day: STIX 2.1 objects
// put in, found, and shared. Each accepted object version is canonicalised
// (RFC 8785), signed by its origin node, appended to a sealed segment in the
// object store, and indexed. The index is derived: Reindex rebuilds it from
// the segments.
package indicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/segment"
	"github.com/kurier/kurier/node/stix"
)

// maxSegmentRecords bounds one segment so a reader never decrypts an
// unbounded object to reach one record.
const maxSegmentRecords = 5000

// Service holds the node's indicators.
type Service struct {
	log        *slog.Logger
	self       *identity.Identity
	sealer     *seal.Sealer
	seg        *segment.Log
	idx        *index.Index
	defaultTLP stix.TLP
	statePath  string
	creators   map[string]bool // STIX identities this node writes as
	m          *metrics

	mu        sync.Mutex // one ingest at a time: version and origin checks see a stable index
	lastAdded time.Time
	obs       observers // told about each commit (see Observe)
}

// Options are the service's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Identity   *identity.Identity
	Sealer     *seal.Sealer
	Segments   *segment.Log
	Index      *index.Index
	// DefaultTLP is the handling for objects with no TLP marking.
	DefaultTLP stix.TLP
	// StatePath records the last segment applied to the index, so a
	// restart replays only what a crash may have left unindexed.
	StatePath string
	// CreatorRefs are the STIX identity ids this node authors as: objects
	// whose created_by_ref is one of them (or unset) may be revoked and
	// remarked here; any other created_by_ref is a third party's object.
	CreatorRefs []string
}

// New builds the service and brings the index up to date with the
// segments (replaying any a crash left unindexed).
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Identity == nil || opts.Sealer == nil || opts.Segments == nil || opts.Index == nil {
		return nil, errors.New("indicator: identity, sealer, segments and index are required")
	}
	if !opts.DefaultTLP.Valid() {
		opts.DefaultTLP = stix.TLPAmber
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{
		log: opts.Logger, self: opts.Identity, sealer: opts.Sealer, seg: opts.Segments, idx: opts.Index,
		defaultTLP: opts.DefaultTLP, statePath: opts.StatePath, m: m, lastAdded: opts.Index.LastAdded(),
		creators: map[string]bool{},
	}
	for _, ref := range opts.CreatorRefs {
		s.creators[ref] = true
	}
	if s.idx.Incomplete() {
		s.log.Info("index is new or an earlier rebuild was interrupted: building it from the object store")
		if _, err := s.Reindex(ctx); err != nil {
			return nil, err
		}
		return s, nil
	}
	if _, err := s.catchUp(ctx, s.appliedSegment()); err != nil {
		return nil, err
	}
	return s, nil
}

// Fingerprint is this node's key fingerprint (the origin of what it writes).
func (s *Service) Fingerprint() string { return s.self.Fingerprint() }

// DefaultTLP is the node's handling for unmarked objects.
func (s *Service) DefaultTLP() stix.TLP { return s.defaultTLP }

// Status is the outcome for one submitted object (TAXII status details).
type Status struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
	Message string `json:"message,omitempty"`
	// Property names the offending property of a failure.
	Property string `json:"property,omitempty"`
	// Reason is a stable, bounded label for metrics and clients.
	Reason string `json:"reason,omitempty"`
	// Outcome for successes: "stored", "duplicate" or "older" (ignored).
	Outcome string `json:"outcome,omitempty"`
}

// Result is the outcome of an import: every object is in exactly one list.
type Result struct {
	Successes []Status `json:"successes"`
	Failures  []Status `json:"failures"`
}

// Rejection reasons (metric label values and Status.Reason).
const (
	ReasonInvalid        = "invalid"
	ReasonSpecVersion    = "spec_version"
	ReasonPattern        = "pattern"
	ReasonMarking        = "unknown_marking"
	ReasonDuplicate      = "duplicate_in_bundle"
	ReasonNotOrigin      = "not_origin"
	ReasonNotCreator     = "not_creator"
	ReasonLossyNumber    = "lossy_number"
	ReasonMediaType      = "unsupported_media_type"
	ReasonBadSignature   = "bad_signature"
	ReasonMalformed      = "malformed"
	ReasonTooLarge       = "too_large"
	ReasonNotPermitted   = "not_permitted"
	ReasonStoreFailure   = "store_failure"
	ReasonVersionTooLate = "not_newer"
	// ReasonConflict: other content under an id and modified already held
	// (a STIX version is immutable; a change needs a later modified).
	ReasonConflict = "conflict"
)

// Submission is one object to store with its provenance.
type Submission struct {
	Object *stix.Object
	// Canonical and Sig are set when the object arrives already signed by
	// its origin (federation); otherwise this node signs it as origin.
	Canonical []byte
	Sig       []byte
	Origin    string
	Path      []string
	// TLP overrides the effective handling (federation carries it).
	TLP stix.TLP
}

// ImportBundle validates a bundle and stores every acceptable object; bad
// objects are listed as failures and nothing of them is stored.
func (s *Service) ImportBundle(ctx context.Context, b *stix.Bundle) (Result, error) {
	start := time.Now()
	vr := stix.ValidateBundle(b, &stix.BundleOptions{Options: stix.Options{KnownMarking: s.knownMarking}})
	var res Result
	var subs []Submission
	for _, or := range vr.Objects {
		if !or.OK() {
			res.Failures = append(res.Failures, FailureOf(or.ID, or.Version, or.Errors))
			continue
		}
		subs = append(subs, Submission{Object: or.Object})
	}
	stored, err := s.Store(ctx, subs)
	res.Successes = append(res.Successes, stored.Successes...)
	res.Failures = append(res.Failures, stored.Failures...)
	for _, f := range res.Failures {
		s.m.rejected.WithLabelValues(f.Reason).Inc()
	}
	s.m.ingestDuration.Observe(time.Since(start).Seconds())
	return res, err
}

// Rejected counts n objects refused before they reached ImportBundle
// (a body or envelope that could not be read, a wrong media type), so
// kurier_indicators_rejected_total covers every refusal.
func (s *Service) Rejected(reason string, n int) {
	s.m.rejected.WithLabelValues(reason).Add(float64(n))
}

// DecodeReason is the rejection reason for an input that failed to decode.
func DecodeReason(err error) string {
	if errors.Is(err, stix.ErrTooLarge) {
		return ReasonTooLarge
	}
	return ReasonMalformed
}

// FailureOf is the failure status for an object with validation errors:
// the first error names the property, Reason its metric label.
func FailureOf(id, version string, errs []*stix.ValidationError) Status {
	st := Status{ID: id, Version: version, Reason: ReasonInvalid}
	if len(errs) > 0 {
		e := errs[0]
		st.Property = e.Property
		st.Message = e.Error()
		if len(errs) > 1 {
			st.Message += fmt.Sprintf(" (and %d more problems)", len(errs)-1)
		}
		switch {
		case e.Property == "spec_version":
			st.Reason = ReasonSpecVersion
		case e.Property == "pattern":
			st.Reason = ReasonPattern
		case strings.Contains(e.Reason, "duplicate"):
			st.Reason = ReasonDuplicate
		case strings.Contains(e.Reason, "unknown marking"):
			st.Reason = ReasonMarking
		case strings.Contains(e.Reason, "RFC 8785"):
			st.Reason = ReasonLossyNumber
		}
	}
	return st
}

// knownMarking accepts marking definitions the node already holds.
func (s *Service) knownMarking(id string) bool {
	e, ok, err := s.idx.Current(id)
	return err == nil && ok && e.Type == "marking-definition"
}

type prepared struct {
	sub    Submission
	status Status
	rec    segment.Record
	entry  index.Entry
	err    *Status
}

// Store signs (or checks), seals and indexes already validated objects. It
// returns only after the segment is stored and indexed: an acknowledged
// object survives a crash.
func (s *Service) Store(ctx context.Context, subs []Submission) (Result, error) {
	if len(subs) == 0 {
		return Result{Successes: []Status{}, Failures: []Status{}}, nil
	}
	preps := make([]prepared, len(subs))
	for i := range subs {
		preps[i].sub = subs[i]
	}
	s.sign(preps)

	s.mu.Lock()
	defer s.mu.Unlock()
	var res Result
	var batch []*prepared
	seen := map[string]bool{}          // id+version within this call
	first := map[string]*index.Entry{} // first accepted version of an id within this call
	for i := range preps {
		p := &preps[i]
		if p.err != nil {
			res.Failures = append(res.Failures, *p.err)
			continue
		}
		key := p.entry.ID + "\x00" + p.status.Version
		if seen[key] {
			p.status.Outcome = "duplicate"
			res.Successes = append(res.Successes, p.status)
			continue
		}
		cur, ok, err := s.idx.Current(p.entry.ID)
		if err != nil {
			return res, fmt.Errorf("indicator: index lookup: %w", err)
		}
		// Versions earlier in this call are not indexed yet: judge origin
		// and creator against the first of them too.
		owner, held := cur, ok
		if !held {
			if e, pending := first[p.entry.ID]; pending {
				owner, held = *e, true
			}
		}
		// A version this node holds (any of its versions, whoever sent it)
		// is judged before any origin or ordering rule, and nothing is
		// written: the same content is a duplicate (federation may record
		// another provenance), other content a conflict (a STIX version
		// never changes; federation keeps it aside). Only a version no
		// newer than the current one can be held. SCOs have no modified:
		// their versions are not told apart, so a held SCO is a duplicate.
		if ok && !p.entry.Modified.After(cur.Modified) {
			heldV, dup, err := s.heldVersion(ctx, cur, p.entry.Modified)
			if err != nil {
				return res, err
			}
			if dup && (p.sub.Object.Modified.String() == "" || bytes.Equal(heldV.Object, p.rec.Object)) {
				p.status.Outcome = "duplicate"
				res.Successes = append(res.Successes, p.status)
				continue
			}
			if dup {
				st := p.status
				st.Reason = ReasonConflict
				st.Message = fmt.Sprintf("%s version %s is already held with other content; a STIX version cannot change: issue a new version with a later modified", p.entry.ID, p.status.Version)
				res.Failures = append(res.Failures, st)
				continue
			}
		}
		if held && owner.CreatedBy != p.entry.CreatedBy {
			// STIX: only the creator may version an object, so a version
			// naming another creator is not this object's history.
			st := p.status
			st.Reason = ReasonNotCreator
			st.Property = "created_by_ref"
			st.Message = fmt.Sprintf("%s is held with created_by_ref %q; a version with created_by_ref %q is not its creator's", p.entry.ID, owner.CreatedBy, p.entry.CreatedBy)
			res.Failures = append(res.Failures, st)
			continue
		}
		if held && owner.Origin != p.entry.Origin {
			st := p.status
			st.Reason = ReasonNotOrigin
			st.Message = fmt.Sprintf("%s was first published by node %s; only its origin may issue new versions", p.entry.ID, owner.Origin)
			res.Failures = append(res.Failures, st)
			continue
		}
		if ok && !p.entry.Modified.After(cur.Modified) {
			// Older than the current version and not held: ignored.
			p.status.Outcome = "older"
			res.Successes = append(res.Successes, p.status)
			continue
		}
		seen[key] = true
		if _, dup := first[p.entry.ID]; !dup {
			first[p.entry.ID] = &p.entry
		}
		batch = append(batch, p)
	}
	for len(batch) > 0 {
		n := min(len(batch), maxSegmentRecords)
		if err := s.commit(ctx, batch[:n]); err != nil {
			for _, p := range batch {
				st := p.status
				st.Reason = ReasonStoreFailure
				st.Message = "not stored: the object store failed; retry"
				res.Failures = append(res.Failures, st)
			}
			return res, err
		}
		for _, p := range batch[:n] {
			p.status.Outcome = "stored"
			res.Successes = append(res.Successes, p.status)
		}
		batch = batch[n:]
	}
	return res, nil
}

// heldVersion reads the stored version of cur's object with this
// modified, if any (segment records hold the canonical bytes that were
// signed). The current version, the usual case of a re-sent object, needs
// no index scan.
func (s *Service) heldVersion(ctx context.Context, cur index.Entry, modified time.Time) (Stored, bool, error) {
	if cur.Modified.Equal(modified) {
		st, err := s.load(ctx, cur)
		return st, err == nil, err
	}
	es, err := s.idx.Versions(cur.ID)
	if err != nil {
		return Stored{}, false, fmt.Errorf("indicator: versions of %s: %w", cur.ID, err)
	}
	for _, e := range es {
		if e.Modified.Equal(modified) {
			st, err := s.load(ctx, e)
			return st, err == nil, err
		}
	}
	return Stored{}, false, nil
}

// sign canonicalises and signs in parallel: signing is the CPU-bound part
// of ingest (~24 µs per object), the rest is one segment write.
func (s *Service) sign(preps []prepared) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	next := make(chan int, len(preps))
	for i := range preps {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s.prepare(&preps[i])
			}
		}()
	}
	wg.Wait()
}

func (s *Service) prepare(p *prepared) {
	o := p.sub.Object
	version := o.Modified.String()
	if version == "" {
		version = o.Created.String()
	}
	p.status = Status{ID: o.ID, Version: version}
	fail := func(reason, msg string) {
		st := p.status
		st.Reason, st.Message = reason, msg
		p.err = &st
	}
	canonical, sig, origin := p.sub.Canonical, p.sub.Sig, p.sub.Origin
	if canonical == nil {
		raw, err := json.Marshal(o)
		if err != nil {
			fail(ReasonMalformed, "cannot encode object")
			return
		}
		canonical, sig, err = s.sealer.SignJSON(raw)
		if err != nil {
			fail(ReasonMalformed, "cannot canonicalise object: "+err.Error())
			return
		}
		origin = s.self.Fingerprint()
	}
	tlp, marked := stix.TLPOf(o)
	if p.sub.TLP.Valid() {
		tlp, marked = p.sub.TLP, true
	}
	if !marked {
		tlp = s.defaultTLP
	}
	vals := stix.Values(o)
	iv := make([]index.Value, len(vals))
	for i, v := range vals {
		iv[i] = index.Value{Kind: string(v.Kind), Value: v.Value}
	}
	p.rec = segment.Record{
		Kind: segment.KindObject, Object: canonical, Sig: sig, Origin: origin,
		TLP: tlp.Short(), DefaultTLP: !marked, Path: p.sub.Path,
	}
	p.entry = index.Entry{
		ID: o.ID, Type: o.Type, SpecVersion: o.SpecVersion,
		Created: o.Created.Time(), Modified: versionTime(o), Origin: origin,
		CreatedBy: o.CreatedByRef, TLP: tlp.Short(), Labels: o.Labels, Revoked: o.Revoked, Values: iv,
	}
}

// versionTime identifies a version: modified, or created for objects that
// are never versioned, or zero for SCOs.
func versionTime(o *stix.Object) time.Time {
	if !o.Modified.IsZero() {
		return o.Modified.Time()
	}
	return o.Created.Time()
}

// commit appends one segment and indexes it; s.mu held.
func (s *Service) commit(ctx context.Context, batch []*prepared) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	recs := make([]segment.Record, len(batch))
	for i, p := range batch {
		// Distinct, increasing date_added values keep TAXII's added_after
		// paging exact even within one batch.
		if !now.After(s.lastAdded) {
			now = s.lastAdded.Add(time.Microsecond)
		}
		s.lastAdded = now
		p.rec.Added = now
		p.entry.Added = now
		recs[i] = p.rec
	}
	start := time.Now()
	name, locs, err := s.seg.Append(ctx, recs)
	if err != nil {
		s.m.storeFailures.Inc()
		return fmt.Errorf("indicator: append segment: %w", err)
	}
	entries := make([]index.Entry, len(batch))
	for i, p := range batch {
		p.entry.Loc = index.Location{Segment: locs[i].Segment, Offset: locs[i].Offset, Length: locs[i].Length}
		entries[i] = p.entry
	}
	if _, err := s.idx.PutBatch(entries); err != nil {
		// The segment is durable; a restart replays it into the index.
		return fmt.Errorf("indicator: index %s: %w", name, err)
	}
	s.markApplied(name)
	s.m.segmentSeconds.Observe(time.Since(start).Seconds())
	for _, p := range batch {
		s.m.stored.WithLabelValues(p.entry.Type, p.entry.TLP).Inc()
	}
	s.obs.notify(entries)
	return nil
}

func (s *Service) appliedSegment() string {
	if s.statePath == "" {
		return ""
	}
	b, err := os.ReadFile(s.statePath)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// markApplied remembers the newest indexed segment. It is a hint: losing
// it only makes the next start replay more (replay is idempotent).
func (s *Service) markApplied(name string) {
	if s.statePath == "" {
		return
	}
	tmp := s.statePath + ".tmp"
	if err := os.WriteFile(tmp, []byte(name+"\n"), 0o600); err == nil {
		_ = os.Rename(tmp, s.statePath)
	}
}

// catchUp indexes every segment after `after`.
func (s *Service) catchUp(ctx context.Context, after string) (int, error) {
	n := 0
	for name, err := range s.seg.Segments(ctx, after) {
		if err != nil {
			return n, fmt.Errorf("indicator: replay: %w", err)
		}
		recs, err := s.seg.Records(ctx, name)
		if err != nil {
			return n, fmt.Errorf("indicator: replay %s: %w", name, err)
		}
		entries := make([]index.Entry, 0, len(recs))
		for _, r := range recs {
			e, err := s.entryOf(r)
			if err != nil {
				s.log.Error("skipping unreadable record", "segment", name, "offset", r.Loc.Offset, "err", err)
				continue
			}
			entries = append(entries, e)
			if r.Added.After(s.lastAdded) {
				s.lastAdded = r.Added
			}
		}
		if _, err := s.idx.PutBatch(entries); err != nil {
			return n, fmt.Errorf("indicator: replay %s: %w", name, err)
		}
		s.markApplied(name)
		n += len(entries)
	}
	return n, nil
}

// entryOf rebuilds an index entry from a stored record.
func (s *Service) entryOf(r segment.Entry) (index.Entry, error) {
	o, err := stix.DecodeObject(r.Object)
	if err != nil {
		return index.Entry{}, err
	}
	vals := stix.Values(o)
	iv := make([]index.Value, len(vals))
	for i, v := range vals {
		iv[i] = index.Value{Kind: string(v.Kind), Value: v.Value}
	}
	return index.Entry{
		ID: o.ID, Type: o.Type, SpecVersion: o.SpecVersion, Created: o.Created.Time(), Modified: versionTime(o),
		Added: r.Added, Origin: r.Origin, CreatedBy: o.CreatedByRef, TLP: r.TLP, Labels: o.Labels,
		Revoked: o.Revoked, Values: iv,
		Loc: index.Location{Segment: r.Loc.Segment, Offset: r.Loc.Offset, Length: r.Loc.Length},
	}, nil
}

// Reindex wipes the index and rebuilds it from the segments in the object
// store. It returns the number of records indexed.
func (s *Service) Reindex(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.idx.Reset(); err != nil {
		return 0, fmt.Errorf("indicator: reindex: %w", err)
	}
	s.lastAdded = time.Time{}
	n, err := s.catchUp(ctx, "")
	if err != nil {
		return n, err
	}
	if err := s.idx.MarkComplete(); err != nil {
		return n, fmt.Errorf("indicator: reindex: %w", err)
	}
	return n, nil
}

// StatePath is the default location of the applied-segment hint.
func StatePath(dataDir string) string { return filepath.Join(dataDir, "index", "applied-segment") }

// DecodeInput reads what users import: a STIX bundle, or a single STIX
// object (wrapped into a bundle), as several OASIS examples are.
// A decoding error names the object (index, id) and property where the
// input tells them.
func DecodeInput(data []byte) (*stix.Bundle, error) {
	b, err := decodeInput(data)
	var de *stix.DecodeError
	if errors.As(err, &de) {
		de.Locate(data)
	}
	return b, err
}

func decodeInput(data []byte) (*stix.Bundle, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return stix.DecodeBundle(bytes.NewReader(data)) // for its positioned error
	}
	if head.Type == "bundle" {
		return stix.DecodeBundle(bytes.NewReader(data))
	}
	o, err := stix.DecodeObject(data)
	if err != nil {
		return nil, err
	}
	return stix.NewBundle(o), nil
}
