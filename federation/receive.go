package federation

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/stix"
)

// verifiedBatch is a batch whose signature, binding and records were
// checked: subs are ready to store, rejected records are counted.
type verifiedBatch struct {
	header      wire.Header
	trailer     wire.Trailer
	subs        []indicator.Submission
	tombstones  int
	attachments []keptAttachment
	rejected    map[string]int
}

type keptAttachment struct {
	id      string
	version time.Time // the version the tombstone hides
	doc     signedDoc
}

// fetch gets one batch from the peer and verifies it: the batch must be
// signed by the pinned peer, encrypted to us, answer our request (nonce),
// and every record carries a valid origin signature. Records that fail
// are rejected one by one; the batch itself fails only if its envelope
// does.
func (p *puller) fetch(ctx context.Context, ps *peerState, cursor string) (*verifiedBatch, error) {
	f := p.f
	q := url.Values{"limit": {strconv.Itoa(f.opts.BatchLimit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
	defer cancel()
	start := time.Now()
	result := "ok"
	defer func() {
		f.m.duration.WithLabelValues(p.name, "feed", result).Observe(time.Since(start).Seconds())
	}()
	resp, nonce, err := f.call(ctx, ps, http.MethodGet, wire.PathFeed, q, nil, f.opts.MaxBatchBytes)
	if err != nil {
		result = "error"
		return nil, err
	}
	defer resp.Body.Close()
	plain := &boundedBuffer{max: f.opts.MaxBatchBytes}
	signer, err := ps.sealer.Open(resp.Body, plain)
	if err != nil {
		result = "error"
		return nil, fmt.Errorf("federation: batch from %s: %w", p.name, err)
	}
	if signer.Fingerprint != ps.fpr {
		result = "error"
		return nil, fmt.Errorf("%w: signed by %s, not by the peer", errBadBatch, signer.Fingerprint)
	}
	batch, err := wire.DecodeBatch(plain.Bytes())
	if err != nil {
		result = "error"
		return nil, err
	}
	h := batch.Header
	if h.Server != ps.fpr || h.Peer != f.fpr || h.Nonce != nonce {
		result = "error"
		return nil, fmt.Errorf("%w: the batch does not answer this request (server %s, peer %s)", errBadBatch, h.Server, h.Peer)
	}
	return f.verifyBatch(ctx, ps, batch), nil
}

// boundedBuffer is where a batch is decrypted: it must be held until the
// signature at its end is checked, so its size is capped (a compressed
// message could otherwise expand without bound).
type boundedBuffer struct {
	bytes.Buffer
	max int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if int64(b.Len()+len(p)) > b.max {
		return 0, errOversized
	}
	return b.Buffer.Write(p)
}

// verifyBatch checks every record; the CPU-bound signature checks run on
// a bounded number of goroutines.
func (f *Federation) verifyBatch(ctx context.Context, ps *peerState, b *wire.Batch) *verifiedBatch {
	vb := &verifiedBatch{header: b.Header, trailer: b.Trailer, rejected: map[string]int{}}
	set := f.set.Load()
	pol := ps.cfg.Policy
	if cur, ok := set.byName[ps.cfg.Name]; ok && cur.fpr == ps.fpr {
		pol = cur.cfg.Policy
	}
	// Keys of third-party origins: only a relay peer may deliver them.
	if pol.Relay {
		for _, k := range b.Keys {
			if k.Fingerprint == f.fpr || k.Fingerprint == ps.fpr {
				continue
			}
			if _, err := f.keys.learn(ctx, k.Fingerprint, k.PublicKey); err != nil {
				f.log.Warn("key from relay peer refused", "peer", ps.cfg.Name, "err", err)
			}
		}
	}
	type out struct {
		sub    indicator.Submission
		att    *keptAttachment
		reject string
		tomb   bool
	}
	outs := make([]out, len(b.Records))
	workers := min(runtime.GOMAXPROCS(0), 8, max(len(b.Records), 1))
	next := make(chan int, len(b.Records))
	for i := range b.Records {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rec := &b.Records[i]
				sub, att, reason := f.verifyRecord(ctx, set, ps, pol, rec)
				outs[i] = out{sub: sub, att: att, reject: reason, tomb: rec.Tombstone}
			}
		}()
	}
	wg.Wait()
	for i, o := range outs {
		if o.reject != "" {
			vb.rejected[o.reject]++
			f.m.rejected.WithLabelValues(ps.cfg.Name, o.reject).Inc()
			f.log.Warn("record rejected", "peer", ps.cfg.Name, "reason", o.reject, "origin", b.Records[i].Origin)
			continue
		}
		vb.subs = append(vb.subs, o.sub)
		if o.tomb {
			vb.tombstones++
		}
		if o.att != nil {
			vb.attachments = append(vb.attachments, *o.att)
		}
	}
	return vb
}

// verifyRecord checks one record's provenance, origin signature, content
// and our inbound policy. It returns the submission, or a reject reason.
func (f *Federation) verifyRecord(ctx context.Context, set *peerSet, ps *peerState, pol policy.Policy, rec *wire.Record) (indicator.Submission, *keptAttachment, string) {
	claimed, err := stix.ParseTLP(rec.TLP)
	if err != nil || !claimed.Valid() {
		return indicator.Submission{}, nil, RejectInvalid
	}
	// Provenance: straight from its origin (no path), or relayed with the
	// sending peer as the last hop.
	if rec.Origin == ps.fpr {
		if len(rec.Path) != 0 {
			return indicator.Submission{}, nil, RejectBadPath
		}
	} else if len(rec.Path) == 0 || rec.Path[len(rec.Path)-1] != ps.fpr || len(rec.Path) > 32 {
		return indicator.Submission{}, nil, RejectBadPath
	}
	if rec.Origin == f.fpr || slices.Contains(rec.Path, f.fpr) {
		return indicator.Submission{}, nil, "policy_" + policy.RuleLoop
	}
	if rec.Origin != ps.fpr && !pol.Relay {
		return indicator.Submission{}, nil, "policy_" + policy.RuleRelay
	}
	key, err := f.keys.get(ctx, set, rec.Origin)
	if err != nil || key == nil {
		return indicator.Submission{}, nil, RejectUnknownOrigin
	}
	verifier := f.keys.sealer(f.self, rec.Origin, key)
	canonical, ok := verifyOrigin(verifier, rec.Origin, rec.Object, rec.Sig)
	if !ok {
		return indicator.Submission{}, nil, RejectBadSignature
	}
	o, err := stix.DecodeObject(canonical)
	if err != nil {
		return indicator.Submission{}, nil, RejectInvalid
	}
	if err := stix.Check(o, nil).Err(); err != nil {
		return indicator.Submission{}, nil, RejectInvalid
	}
	// Never handle an object below its own marking or the sender's level.
	eff := claimed
	if t, marked := stix.TLPOf(o); marked && t > eff {
		eff = t
	}
	d := pol.Inbound(f.fpr, ps.fpr, policy.Object{Type: o.Type, TLP: eff, Labels: o.Labels, Origin: rec.Origin, Path: rec.Path, Revoked: o.Revoked})
	if !d.Allow && !(o.Revoked && f.holds(o.ID, rec.Origin)) {
		// A revocation of an object we hold passes whatever its level:
		// it can only hide what we already have.
		return indicator.Submission{}, nil, "policy_" + d.Rule
	}
	sub := indicator.Submission{Object: o, Canonical: canonical, Sig: rec.Sig, Origin: rec.Origin, Path: slices.Clone(rec.Path), TLP: eff}
	var att *keptAttachment
	if rec.Attachment != nil {
		att = f.verifyAttachment(verifier, rec.Origin, o, rec.Attachment)
	}
	return sub, att, ""
}

// verifyOrigin checks sig over obj as the origin's signature; obj is the
// canonical form, or a re-serialisation of it (then canonicalised again).
// It returns the bytes the signature covers.
func verifyOrigin(s *seal.Sealer, origin string, obj, sig []byte) ([]byte, bool) {
	signer, err := s.VerifyDetached(bytes.NewReader(obj), bytes.NewReader(sig))
	if err == nil && signer.Fingerprint == origin {
		return obj, true
	}
	c, cerr := seal.Canonicalize(obj)
	if cerr != nil || bytes.Equal(c, obj) {
		return nil, false
	}
	signer, err = s.VerifyDetached(bytes.NewReader(c), bytes.NewReader(sig))
	if err == nil && signer.Fingerprint == origin {
		return c, true
	}
	return nil, false
}

// verifyAttachment checks a tombstone carried for a relay: signed by the
// object's origin, a revoked version of the same object, older than the
// version it travels with.
func (f *Federation) verifyAttachment(s *seal.Sealer, origin string, o *stix.Object, a *wire.Attachment) *keptAttachment {
	canonical, ok := verifyOrigin(s, origin, a.Object, a.Sig)
	if !ok {
		return nil
	}
	t, err := stix.DecodeObject(canonical)
	if err != nil || t.ID != o.ID || !t.Revoked || t.Modified.IsZero() || !t.Modified.Time().Before(o.Modified.Time()) {
		return nil
	}
	return &keptAttachment{id: t.ID, version: t.Modified.Time().Add(-time.Nanosecond),
		doc: signedDoc{Object: canonical, Sig: a.Sig, Origin: origin}}
}

// holds reports whether we hold an object written by origin.
func (f *Federation) holds(id, origin string) bool {
	e, ok, err := f.idx.Current(id)
	return err == nil && ok && e.Origin == origin
}

// storeBatch stores the verified records (idempotent: versions we hold
// are duplicates), keeps relay attachments and flags conflicts.
func (f *Federation) storeBatch(ctx context.Context, ps *peerState, b *verifiedBatch, res *SyncResult) error {
	res.Records += len(b.subs)
	for r, n := range b.rejected {
		res.Rejected[r] += n
	}
	res.Tombstones += b.tombstones
	for _, a := range b.attachments {
		if err := f.tombs.keep(ctx, a.id, a.version, a.doc); err != nil {
			return wrapStore(err)
		}
	}
	if len(b.subs) == 0 {
		return nil
	}
	result, err := f.ind.Store(ctx, b.subs)
	if err != nil {
		return wrapStore(err)
	}
	name := ps.cfg.Name
	dupKeys := map[string]bool{}
	for _, s := range result.Successes {
		switch s.Outcome {
		case "stored":
			res.Stored++
		case "duplicate":
			res.Duplicates++
			dupKeys[s.ID+"\x00"+s.Version] = true
		default:
			res.Older++
		}
		f.m.received.WithLabelValues(name, outcomeLabel(s.Outcome)).Inc()
	}
	// Versions we already held (any of an object's versions, from any
	// origin): the same content is one object with one more provenance
	// record, other content under the same id and modified (the store
	// refused it as a conflict) is kept aside.
	for _, s := range result.Failures {
		if s.Reason == indicator.ReasonConflict {
			dupKeys[s.ID+"\x00"+s.Version] = true
			f.m.received.WithLabelValues(name, "conflict").Inc()
		}
	}
	seen := map[string]bool{}
	for i := range b.subs {
		sub := &b.subs[i]
		k := versionKey(sub.Object)
		if !dupKeys[k] || seen[k+string(sub.Canonical)] {
			continue
		}
		seen[k+string(sub.Canonical)] = true
		conflict, path, err := f.reconcile(ctx, ps, sub)
		if err != nil {
			return wrapStore(err)
		}
		if conflict {
			res.Conflicts++
		}
		if path {
			res.Provenance++
		}
	}
	for _, s := range result.Failures {
		if s.Reason == indicator.ReasonConflict {
			continue // kept aside and counted above
		}
		reason := RejectInvalid
		if s.Reason == indicator.ReasonNotOrigin {
			reason = RejectNotOrigin
		}
		res.Rejected[reason]++
		f.m.rejected.WithLabelValues(name, reason).Inc()
		f.log.Warn("record refused by the store", "peer", name, "id", s.ID, "reason", s.Reason, "message", s.Message)
	}
	return nil
}

func outcomeLabel(o string) string {
	switch o {
	case "stored", "duplicate":
		return o
	}
	return "older"
}

func versionKey(o *stix.Object) string {
	v := o.Modified.String()
	if v == "" {
		v = o.Created.String()
	}
	return o.ID + "\x00" + v
}

func versionTime(o *stix.Object) time.Time {
	if !o.Modified.IsZero() {
		return o.Modified.Time()
	}
	return o.Created.Time()
}
