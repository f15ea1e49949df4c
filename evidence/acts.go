package evidence

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kurier/kurier/node/store"
)

// Transition moves a package to another state (for acts outside Kurier,
// e.g. "production pending" once the formal request went by post). Answers
// exchanged through Kurier move their request themselves.
func (s *Service) Transition(ctx context.Context, who Actor, id string, to State, why string) (Package, error) {
	p, err := s.pkg(id)
	if err != nil {
		return Package{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := checkTransition(p.state, to); err != nil {
		return Package{}, err
	}
	if to == Sent && !p.sealed {
		return Package{}, refuse(RuleState, "state", "seal the package before it is sent")
	}
	if strings.TrimSpace(why) == "" {
		return Package{}, refuse(RuleRequired, "why", "say why the state changes")
	}
	if _, err := s.append(ctx, p, who, EvStateChanged, nil, why, map[string]string{"state": string(to), "from": string(p.state)}); err != nil {
		return Package{}, err
	}
	if to == Sent {
		// An answer sent by other means moves the request like one sent here.
		if err := s.answerSent(ctx, p, who); err != nil {
			return Package{}, err
		}
	}
	return s.view(p, true), nil
}

// moveRequest moves request ref to the state the answer m leads to
// (replyState), when the lifecycle allows it; ref.mu must be held.
func (s *Service) moveRequest(ctx context.Context, ref *pkgState, who Actor, m *Manifest, why string) error {
	to, ok := replyState(m.Type)
	if !ok || !CanTransition(ref.state, to) {
		return nil
	}
	_, err := s.append(ctx, ref, who, EvStateChanged, nil, why,
		map[string]string{"state": string(to), "from": string(ref.state), "answer": m.ID})
	return err
}

// answerSent moves this node's copy of the request that p (an outgoing
// answer, being sent) answers: the requested side's case follows the
// answers it sends (a confirmation makes it preserved, a disclosure
// disclosed, a refusal refused) as the requester's follows the answers it
// receives. p.mu must be held; the request is locked after it.
func (s *Service) answerSent(ctx context.Context, p *pkgState, who Actor) error {
	m := p.manifest
	if m.ReplyTo == "" || p.rec.Direction != Outgoing {
		return nil
	}
	s.mu.RLock()
	ref := s.pkgs[m.ReplyTo]
	s.mu.RUnlock()
	if ref == nil {
		return nil // checked when the answer was created
	}
	ref.mu.Lock()
	defer ref.mu.Unlock()
	if ref.rec.Direction != Incoming {
		return nil
	}
	return s.moveRequest(ctx, ref, who, m, fmt.Sprintf("answered with %s %s", m.Type, m.ID))
}

// sweeper is who records what deadlines do by themselves.
var sweeper = Actor{Person: "kurier (deadline sweep)", Role: "system"}

// expiresAt is when a package in state st expires: a preservation request
// still awaiting or under preservation (sent, acknowledged, preserved on
// the requesting side; verified or preserved on the requested side) when
// its preserve_until passes. Production pending does not expire: the
// preservation continues while the mutual-assistance request is pending
// (Art. 29(7)).
func expiresAt(m *Manifest, st State) (time.Time, bool) {
	if m.Type != PreservationRequest || m.Deadlines.PreserveUntil == nil || m.Deadlines.PreserveUntil.IsZero() {
		return time.Time{}, false
	}
	switch st {
	case Sent, Acknowledged, Preserved, Verified:
		return m.Deadlines.PreserveUntil.Time, true
	}
	return time.Time{}, false
}

// ExpireDue moves every package whose deadline has passed to expired
// (expiresAt), recording a state-changed event, and returns their ids. It
// runs on a timer (Run) and before each listing, so `list` never shows a
// package as preserved after its preservation ended. Legal holds stay:
// releasing one needs its authorisation.
func (s *Service) ExpireDue(ctx context.Context) ([]string, error) {
	s.mu.RLock()
	all := slices.Collect(maps.Values(s.pkgs))
	s.mu.RUnlock()
	var ids []string
	var errs []error
	for _, p := range all {
		p.mu.Lock()
		now := s.now()
		if until, ok := expiresAt(p.manifest, p.state); ok && p.sealed && now.After(until) {
			why := fmt.Sprintf("preservation period ended %s without a pending mutual-assistance request (Art. 29(7))", until.UTC().Format(time.DateOnly))
			if _, err := s.append(ctx, p, sweeper, EvStateChanged, nil, why, map[string]string{"state": string(Expired), "from": string(p.state)}); err != nil {
				errs = append(errs, fmt.Errorf("evidence: expire %s: %w", p.rec.ID, err))
			} else {
				ids = append(ids, p.rec.ID)
			}
		}
		p.mu.Unlock()
	}
	slices.Sort(ids)
	return ids, errors.Join(errs...)
}

// Run calls ExpireDue every interval until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ids, err := s.ExpireDue(ctx); err != nil {
				s.log.Error("evidence deadline sweep", "err", err)
			} else if len(ids) > 0 {
				s.log.Info("evidence packages expired", "packages", ids)
			}
		}
	}
}

// Authorisation is a decision that allows an act (hold release, onward
// transfer): who decided, under which reference.
type Authorisation struct {
	Authority string `json:"authority"`
	Reference string `json:"reference"`
	// Recipient is the node an onward transfer is authorised to.
	Recipient string `json:"recipient,omitempty"`
	Why       string `json:"why,omitempty"`
}

// Authorise records an authorising decision as a custody event (kind
// EvHoldReleaseAuthorised or EvOnwardTransferAuthorised) and returns it:
// the act it allows must cite its sequence number.
func (s *Service) Authorise(ctx context.Context, who Actor, id string, kind EventKind, a Authorisation) (SignedEvent, error) {
	if kind != EvHoldReleaseAuthorised && kind != EvOnwardTransferAuthorised {
		return SignedEvent{}, fmt.Errorf("evidence: %s is not an authorisation", kind)
	}
	if strings.TrimSpace(a.Authority) == "" || strings.TrimSpace(a.Reference) == "" {
		return SignedEvent{}, refuse(RuleRequired, "authorisation", "the authorising authority and its decision reference are required")
	}
	if kind == EvOnwardTransferAuthorised && !fingerprintPattern.MatchString(a.Recipient) {
		return SignedEvent{}, refuse(RuleRequired, "recipient", "an onward transfer is authorised to one node (fingerprint)")
	}
	p, err := s.pkg(id)
	if err != nil {
		return SignedEvent{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if kind == EvOnwardTransferAuthorised && p.manifest.Handling.OnwardTransfer == "prohibited" {
		return SignedEvent{}, refuse(RuleOnwardTransfer, "handling.onward_transfer", "the sender prohibited onward transfer of %s", id)
	}
	attrs := map[string]string{"authority": a.Authority, "reference": a.Reference}
	if a.Recipient != "" {
		attrs["recipient"] = a.Recipient
	}
	return s.append(ctx, p, who, kind, nil, a.Why, attrs)
}

// findAuthorisation returns the event seq in p's log if it is an
// authorisation of kind (and for recipient, if given) not used before.
func (s *Service) findAuthorisation(ctx context.Context, p *pkgState, kind EventKind, seq int64, recipient string) (*SignedEvent, error) {
	events, err := s.readCustody(ctx, p.rec.ID)
	if err != nil {
		return nil, err
	}
	var found *SignedEvent
	for i := range events {
		e := events[i].Event
		if e.Seq == seq && e.Kind == kind {
			found = &events[i]
		}
		if e.Attrs["authorised_by"] == strconv.FormatInt(seq, 10) {
			return nil, nil // already used
		}
	}
	if found == nil || (recipient != "" && !strings.EqualFold(found.Event.Attrs["recipient"], recipient)) {
		return nil, nil
	}
	return found, nil
}

// ReleaseHold lifts the legal hold on every stored object of the package.
// It is refused unless authorisedBy names an unused hold-release
// authorisation event of this package.
func (s *Service) ReleaseHold(ctx context.Context, who Actor, id string, authorisedBy int64, why string) (Package, error) {
	p, err := s.pkg(id)
	if err != nil {
		return Package{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hold {
		return Package{}, refuse(RuleState, "legal_hold", "package %s is not under legal hold", id)
	}
	auth, err := s.findAuthorisation(ctx, p, EvHoldReleaseAuthorised, authorisedBy, "")
	if err != nil {
		return Package{}, err
	}
	if auth == nil {
		return Package{}, refuse(RuleHoldRelease, "authorised_by", "no unused hold-release authorisation is recorded as event %d: record the decision first (hold-release-authorised)", authorisedBy)
	}
	if err := s.holdAll(ctx, p, false); err != nil {
		return Package{}, fmt.Errorf("evidence: release hold: %w", err)
	}
	if _, err := s.append(ctx, p, who, EvHoldReleased, itemRefs(p.items), why, map[string]string{"authorised_by": strconv.FormatInt(authorisedBy, 10)}); err != nil {
		return Package{}, err
	}
	return s.view(p, true), nil
}

// SetHold puts every stored object of the package under legal hold.
func (s *Service) SetHold(ctx context.Context, who Actor, id, why string) (Package, error) {
	p, err := s.pkg(id)
	if err != nil {
		return Package{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := s.holdAll(ctx, p, true); err != nil {
		return Package{}, fmt.Errorf("evidence: set hold: %w", err)
	}
	if _, err := s.append(ctx, p, who, EvHoldSet, itemRefs(p.items), why, nil); err != nil {
		return Package{}, err
	}
	return s.view(p, true), nil
}

// Dispose destroys the package key (crypto-shredding): every version of
// the wrapped key object is deleted, so the locked ciphertext stays but can
// never be read again here. Refused while a legal hold applies or before
// the retention of the package's data has ended.
func (s *Service) Dispose(ctx context.Context, who Actor, id, why string) (Package, error) {
	p, err := s.pkg(id)
	if err != nil {
		return Package{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.disposed:
		return Package{}, refuse(RuleDisposal, "", "package %s was already disposed of", id)
	case p.hold:
		return Package{}, refuse(RuleDisposal, "legal_hold", "package %s is under legal hold: release it (with its authorisation) first", id)
	case s.now().Before(p.retain):
		return Package{}, refuse(RuleDisposal, "retain_until", "package %s must be kept until %s", id, p.retain.Format(timeFormat))
	case strings.TrimSpace(why) == "":
		return Package{}, refuse(RuleRequired, "why", "say why the package is disposed of (the retention decision)")
	}
	key := keyPkg(id, "key.pgp")
	versions, err := s.bucket.Versions(ctx, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Package{}, fmt.Errorf("evidence: dispose: %w", err)
	}
	for _, v := range versions {
		if err := s.bucket.Delete(ctx, key, store.DeleteOptions{VersionID: v.VersionID}); err != nil {
			return Package{}, fmt.Errorf("evidence: dispose: delete key version %s: %w", v.VersionID, err)
		}
	}
	if _, err := s.append(ctx, p, who, EvDisposed, itemRefs(p.items), why, map[string]string{"key_versions_deleted": strconv.Itoa(len(versions))}); err != nil {
		return Package{}, err
	}
	return s.view(p, false), nil
}

// Report is the result of Verify.
type Report struct {
	Package        string      `json:"package"`
	OK             bool        `json:"ok"`
	Manifest       string      `json:"manifest"` // "ok", "unsealed" or the problem
	ManifestSHA256 string      `json:"manifest_sha256,omitempty"`
	Items          []ItemCheck `json:"items,omitempty"`
	Events         int         `json:"events"`
	Break          *ChainBreak `json:"break,omitempty"`
	// Hidden holds one problem sentence per custody event key whose
	// versions are not what the listed chain implies (an event hidden by a
	// delete marker, or rewritten); a chain cut at its end has no Break,
	// only these.
	Hidden []string `json:"hidden,omitempty"`
	// Index is the problem with the package record (index/<id>.json), if
	// any; IndexHidden says a delete marker hides it.
	Index       string   `json:"index,omitempty"`
	IndexHidden bool     `json:"index_hidden,omitempty"`
	Problems    []string `json:"problems,omitempty"`
}

// ItemCheck is the result for one item.
type ItemCheck struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Note string `json:"note,omitempty"`
}

// Verify re-checks a package: the manifest signature, each item's stored
// version decrypted and hashed against the manifest, and every hash,
// signature and link of the custody chain, naming the first break. The
// outcome is itself recorded (verified or verification-failed).
func (s *Service) Verify(ctx context.Context, who Actor, id string) (Report, error) {
	p, err := s.pkg(id)
	if err != nil {
		return Report{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rep := Report{Package: id, Manifest: "unsealed"}
	if err := s.checkRecord(ctx, p, &rep); err != nil {
		return Report{}, err
	}
	if p.sealed {
		rep.ManifestSHA256 = sha256Hex(p.raw)
		rep.Manifest = "ok"
		if _, bad := s.verifyManifest(p.raw, p.sig); bad != nil {
			rep.Manifest = bad.Error()
			rep.Problems = append(rep.Problems, "manifest: "+bad.Error())
		}
	}
	var key []byte
	if !p.disposed {
		if key, err = s.packageKey(ctx, p); err != nil {
			rep.Problems = append(rep.Problems, "package key: "+err.Error())
		}
		defer clear(key)
	}
	expect := p.manifest.Items
	if !p.sealed {
		expect = nil
		for _, ir := range p.items {
			expect = append(expect, ir.Item)
		}
	}
	for _, it := range expect {
		c := ItemCheck{Name: it.Name}
		ir, ok := p.items[it.Name]
		switch {
		case !ok:
			c.Note = "listed in the manifest but not stored"
		case p.disposed:
			c.OK, c.Note = true, "disposed of: key destroyed, ciphertext not checked"
		case key == nil:
			c.Note = "cannot check without the package key"
		default:
			c.OK, c.Note = s.checkItem(ctx, key, ir, it)
		}
		if !c.OK {
			rep.Problems = append(rep.Problems, "item "+it.Name+": "+c.Note)
		}
		rep.Items = append(rep.Items, c)
	}
	events, err := s.readCustody(ctx, id)
	if err != nil {
		return Report{}, err
	}
	rep.Events = len(events)
	rep.Break = VerifyChain(s.seal(), id, events, p.manifest.Sender.Node)
	if rep.Break != nil {
		rep.Problems = append(rep.Problems, rep.Break.Error())
	}
	hidden, err := s.hiddenEvents(ctx, id, events)
	if err != nil {
		return Report{}, err
	}
	rep.Hidden = hidden
	rep.Problems = append(rep.Problems, hidden...)
	rep.OK = len(rep.Problems) == 0
	kind, why := EvVerified, "package re-verified"
	if !rep.OK {
		kind, why = EvVerificationFailed, strings.Join(rep.Problems, "; ")
		s.m.verifyFailures.WithLabelValues("verify").Inc()
	}
	if _, err := s.append(ctx, p, who, kind, itemRefs(p.items), why, nil); err != nil {
		// A slot taken by a hidden event is itself the finding: report it
		// rather than fail, so the caller learns where the chain was cut.
		if !errors.Is(err, ErrCustodySlot) {
			return rep, err
		}
		rep.OK = false
		rep.Problems = append(rep.Problems, "the outcome could not be recorded: "+err.Error())
	}
	return rep, nil
}

// slotFinding says what a custody event key holding kv, where the listed
// chain implies want stored versions, tells about the chain.
func slotFinding(kv keyVersions, want int) string {
	switch {
	case kv.markers > 0:
		return "an event was hidden by a delete marker"
	case kv.stored > 1:
		return "the event was written more than once"
	case kv.stored > want:
		return "an event is stored there that the listing did not show"
	default:
		return "the event is missing"
	}
}

// hiddenEvents looks for custody events listing does not show. Locked
// events cannot be deleted, but a delete marker (which no lock prevents)
// hides one from listing: the chain would look complete one event short,
// or have a gap that looks like a lost write. So every listed event key
// must hold exactly one stored version, the first key of every gap and the
// key after the last listed event none.
func (s *Service) hiddenEvents(ctx context.Context, id string, events []SignedEvent) ([]string, error) {
	var problems []string
	check := func(seq int64, want int) error {
		kv, err := versionCounts(ctx, s.bucket, keyCustody(id, seq))
		if err != nil {
			return fmt.Errorf("evidence: versions of custody event %d: %w", seq, err)
		}
		if kv.stored != want {
			problems = append(problems, fmt.Sprintf("custody event %d has %d stored versions and %d delete markers: %s, so the chain was cut or rewritten there",
				seq, kv.stored, kv.markers, slotFinding(kv, want)))
		}
		return nil
	}
	next := int64(0)
	for _, ev := range events {
		if ev.Event.Seq > next {
			if err := check(next, 0); err != nil {
				return nil, err
			}
		}
		if err := check(ev.Event.Seq, 1); err != nil {
			return nil, err
		}
		next = ev.Event.Seq + 1
	}
	if err := check(next, 0); err != nil {
		return nil, err
	}
	return problems, nil
}

// checkItem decrypts one stored item version and compares it with want.
func (s *Service) checkItem(ctx context.Context, key []byte, ir ItemRecord, want Item) (bool, string) {
	rc, _, err := s.bucket.Get(ctx, ir.Object.Key, ir.Object.Version)
	if err != nil {
		return false, "stored version unreadable: " + err.Error()
	}
	defer rc.Close()
	dr, err := newDecryptReader(rc, key)
	if err != nil {
		return false, err.Error()
	}
	h256, h512 := sha256.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(h256, h512), dr)
	if err != nil {
		return false, err.Error()
	}
	if n != want.Size || hex.EncodeToString(h256.Sum(nil)) != want.SHA256 || hex.EncodeToString(h512.Sum(nil)) != want.SHA512 {
		return false, "content does not match the manifest's size and hashes"
	}
	return true, "SHA-256 and SHA-512 match"
}

// OpenItem streams the plaintext of a stored item into w after checking
// it against the manifest hashes; the read is recorded. On a mismatch, the
// bytes already written must be discarded.
func (s *Service) openItem(ctx context.Context, key []byte, ir ItemRecord, w io.Writer) error {
	rc, _, err := s.bucket.Get(ctx, ir.Object.Key, ir.Object.Version)
	if err != nil {
		return fmt.Errorf("evidence: read item %s: %w", ir.Item.Name, err)
	}
	defer rc.Close()
	dr, err := newDecryptReader(rc, key)
	if err != nil {
		return err
	}
	h256, h512 := sha256.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(w, h256, h512), dr)
	if err != nil {
		return fmt.Errorf("evidence: item %s: %w", ir.Item.Name, err)
	}
	if n != ir.Item.Size || hex.EncodeToString(h256.Sum(nil)) != ir.Item.SHA256 || hex.EncodeToString(h512.Sum(nil)) != ir.Item.SHA512 {
		s.m.verifyFailures.WithLabelValues("export").Inc()
		return refuse(RuleItemHash, ir.Item.Name, "stored item %s does not match its hashes", ir.Item.Name)
	}
	return nil
}

// Forward is an onward transfer (CETS 224 Art. 14(10)): a new outgoing
// package m whose items are the items of the received package src,
// re-encrypted under the new package's key and marked derived-from. It is
// refused, storing nothing, unless authorisedBy names an unused
// onward-transfer authorisation of src for each recipient of m.
func (s *Service) Forward(ctx context.Context, who Actor, src string, authorisedBy int64, manifest []byte) (Package, error) {
	m, err := ParseManifest(manifest, true)
	if err != nil {
		return Package{}, err
	}
	sp, err := s.pkg(src)
	if err != nil {
		return Package{}, err
	}
	sp.mu.Lock()
	var v []Violation
	for _, r := range m.Recipients {
		auth, err := s.findAuthorisation(ctx, sp, EvOnwardTransferAuthorised, authorisedBy, r.Node)
		if err != nil {
			sp.mu.Unlock()
			return Package{}, err
		}
		if auth == nil {
			v = append(v, Violation{Rule: RuleOnwardTransfer, Field: "recipients", Message: fmt.Sprintf("no unused onward-transfer authorisation to %s is recorded on %s as event %d", r.Node, src, authorisedBy)})
		}
	}
	if sp.manifest.Handling.OnwardTransfer == "prohibited" {
		v = append(v, Violation{Rule: RuleOnwardTransfer, Field: "handling.onward_transfer", Message: "the sender prohibited onward transfer"})
	}
	items := sp.items
	sp.mu.Unlock()
	if len(m.Recipients) == 0 && len(v) == 0 {
		v = append(v, Violation{Rule: RuleOnwardTransfer, Field: "recipients", Message: "an onward transfer names its recipient"})
	}
	if len(v) > 0 {
		return Package{}, &RefusedError{Violations: v}
	}
	pkg, err := s.create(ctx, who, m, nil)
	if err != nil {
		return Package{}, err
	}
	sp.mu.Lock()
	key, err := s.packageKey(ctx, sp)
	sp.mu.Unlock()
	if err != nil {
		return Package{}, err
	}
	defer clear(key)
	for _, ir := range items {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(s.openItem(ctx, key, ir, pw)) }()
		in := ItemInput{Name: ir.Item.Name, MediaType: ir.Item.MediaType, Exhibit: ir.Item.Exhibit, RootExhibit: ir.Item.RootExhibit,
			DerivedFrom: []string{src + "/" + ir.Item.Name}, PersonalData: ir.Item.PersonalData, Sensitive: ir.Item.Sensitive,
			Acquisition: ir.Item.Acquisition, Size: ir.Item.Size}
		_, err := s.AddItem(ctx, who, pkg.ID, in, pr)
		pr.CloseWithError(errors.New("stopped"))
		if err != nil {
			return Package{}, err
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if _, err := s.append(ctx, sp, who, EvOnwardTransferred, itemRefs(items), "onward transfer as package "+pkg.ID,
		map[string]string{"authorised_by": strconv.FormatInt(authorisedBy, 10), "package": pkg.ID}); err != nil {
		return Package{}, err
	}
	return s.Seal(ctx, who, pkg.ID)
}
