package federation

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
)

// serveFeed answers GET /federation/v1/feed?cursor=…&limit=… for an
// authenticated peer: the next batch of its view of the change feed,
// decided by this node's outbound policy for it, signed by this node and
// encrypted to the peer.
func (f *Federation) serveFeed(w http.ResponseWriter, r *http.Request) {
	ps := peerFrom(r.Context())
	q := r.URL.Query()
	cur, err := decodeFeedCursor(q.Get("cursor"))
	if err != nil {
		f.opts.API.Problems().Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "cursor is not one this node made").With("parameter", "cursor"))
		return
	}
	limit, p := api.QueryLimit(q, "limit", f.opts.BatchLimit, MaxBatchLimit)
	if p != nil {
		f.opts.API.Problems().Write(w, r, p)
		return
	}
	if f.idx.Incomplete() {
		f.opts.API.Problems().Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "the index is being rebuilt; retry later"))
		return
	}
	release, ok := f.acquireFeed(ps.fpr)
	if !ok {
		w.Header().Set("Retry-After", "1")
		f.opts.API.Problems().Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "too many feed requests at once; retry"))
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), f.opts.RequestTimeout)
	defer cancel()
	// A peer that reads slowly cannot hold the slot longer than this.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(f.opts.RequestTimeout))
	b := f.newFeedBuilder(ctx, f.set.Load(), ps, cur, limit)
	plain, err := b.build(r.Header.Get(wire.HeaderNonce))
	if err != nil {
		f.log.Error("build feed batch", "peer", ps.cfg.Name, "err", err)
		f.opts.API.Problems().Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "the feed could not be read; retry"))
		return
	}
	w.Header().Set("Content-Type", wire.BatchMediaType)
	wc, err := f.signer().SealTo(w, ps.entity)
	if err == nil {
		_, err = wc.Write(plain)
		if err == nil {
			err = wc.Close()
		}
	}
	if err != nil {
		// Part of the batch may be out: the peer's signature check fails
		// on what it got, and it retries from the same cursor.
		f.log.Warn("send feed batch", "peer", ps.cfg.Name, "err", err)
		return
	}
	f.m.sent.WithLabelValues(ps.cfg.Name, "object").Add(float64(b.sentObjects))
	f.m.sent.WithLabelValues(ps.cfg.Name, "tombstone").Add(float64(b.sentTombs))
	for rule, n := range b.withheldBy {
		f.m.withheld.WithLabelValues(ps.cfg.Name, rule).Add(float64(n))
	}
}

// maxFeedsPerPeer bounds the feed requests one peer has served at once
// (its pull runs one at a time; a second may overlap a dropped one).
const maxFeedsPerPeer = 2

// acquireFeed takes a slot of the global and the per-peer limit.
func (f *Federation) acquireFeed(peer string) (release func(), ok bool) {
	f.feedMu.Lock()
	defer f.feedMu.Unlock()
	if f.feedsByPeer[peer] >= maxFeedsPerPeer || f.feedsActive >= f.opts.MaxConcurrentFeeds {
		return nil, false
	}
	f.feedsByPeer[peer]++
	f.feedsActive++
	return func() {
		f.feedMu.Lock()
		defer f.feedMu.Unlock()
		f.feedsActive--
		if f.feedsByPeer[peer]--; f.feedsByPeer[peer] <= 0 {
			delete(f.feedsByPeer, peer)
		}
	}, true
}

// slot is one decided feed entry, in feed order.
type slot struct {
	e      index.Entry
	tomb   bool         // send a tombstone hiding hide instead of e
	hide   *index.Entry // the version the tombstone hides
	attach *index.Entry // also attach the tombstone hiding this version (for relays)
}

type feedBuilder struct {
	f      *Federation
	ctx    context.Context
	set    *peerSet
	ps     *peerState
	pol    policy.Policy
	polVer int
	cur    feedCursor
	limit  int

	buf         bytes.Buffer
	enc         *wire.Encoder
	keysSent    map[string]bool
	records     int
	scanned     int
	withheld    int
	withheldBy  map[string]int
	sentObjects int
	sentTombs   int
	sweeping    bool
}

func (f *Federation) newFeedBuilder(ctx context.Context, set *peerSet, ps *peerState, cur feedCursor, limit int) *feedBuilder {
	// The newest loaded version of the peer's document decides.
	if latest, ok := set.byName[ps.cfg.Name]; ok && latest.fpr == ps.fpr {
		ps = latest
	}
	b := &feedBuilder{f: f, ctx: ctx, set: set, ps: ps, pol: ps.cfg.Policy, polVer: ps.cfg.Version, cur: cur, limit: limit,
		keysSent: map[string]bool{}, withheldBy: map[string]int{}}
	b.enc = wire.NewEncoder(&b.buf)
	return b
}

// build writes the whole batch plaintext: header, keys and records,
// trailer. The batch is bounded by the entry limit and a byte budget.
func (b *feedBuilder) build(nonce string) ([]byte, error) {
	st, _ := b.f.idx.Stats()
	if err := b.enc.Encode(wire.Line{Header: &wire.Header{
		Protocol: wire.Protocol, Server: b.f.fpr, Peer: b.ps.fpr, Nonce: nonce, Cursor: b.cur.encode(),
		PolicyVersion: b.polVer, Head: b.f.idx.LastAdded(), Versions: st.Versions,
	}}); err != nil {
		return nil, err
	}
	var next feedCursor
	var more bool
	var err error
	if !b.cur.A.IsZero() && (b.cur.P != b.polVer || b.cur.S != nil) {
		b.sweeping = true
		next, more, err = b.sweep()
	} else {
		next, more, err = b.feed()
	}
	if err != nil {
		return nil, err
	}
	advanced := b.scanned
	if b.sweeping {
		advanced = 0
	}
	if err := b.enc.Encode(wire.Line{Trailer: &wire.Trailer{
		Next: next.encode(), More: more, Records: b.records, Scanned: b.scanned, Withheld: b.withheld,
		Advanced: advanced, Reached: next.A,
	}}); err != nil {
		return nil, err
	}
	return b.buf.Bytes(), nil
}

// decide applies the outbound policy to an entry's metadata (the path is
// checked once the record is read).
func (b *feedBuilder) decide(pol policy.Policy, e index.Entry) policy.Decision {
	return pol.Outbound(b.f.fpr, b.ps.fpr, objectOf(e))
}

func objectOf(e index.Entry) policy.Object {
	t, _ := stix.ParseTLP(e.TLP)
	return policy.Object{Type: e.Type, TLP: t, Labels: e.Labels, Origin: e.Origin, Revoked: e.Revoked}
}

func (b *feedBuilder) withhold(rule string) {
	b.withheld++
	b.withheldBy[rule]++
}

// feed decides the entries after the cursor with the current policy.
func (b *feedBuilder) feed() (feedCursor, bool, error) {
	page, err := b.f.ind.Entries(index.Query{AddedAfter: b.cur.A, AllVersions: true, IncludeRevoked: true, Limit: b.limit})
	if err != nil {
		return feedCursor{}, false, err
	}
	next := feedCursor{A: b.cur.A, P: b.polVer}
	more := page.Next != ""
	var slots []slot
	budget := int64(0)
	for _, e := range page.Entries {
		if budget > feedPlaintextBudget {
			more = true
			break
		}
		b.scanned++
		next.A = e.Added
		d := b.decide(b.pol, e)
		if d.Allow {
			s := slot{e: e}
			s.attach, err = b.attachmentFor(e)
			if err != nil {
				return feedCursor{}, false, err
			}
			slots = append(slots, s)
			budget += e.Loc.Length + 512
			continue
		}
		b.withhold(d.Rule)
		// The peer may hold the previous version: hide it.
		pred, err := b.predecessor(e)
		if err != nil {
			return feedCursor{}, false, err
		}
		if pred != nil && !pred.Revoked && b.decide(b.pol, *pred).Allow {
			slots = append(slots, slot{e: e, tomb: true, hide: pred})
			budget += pred.Loc.Length + 512
		}
	}
	return next, more, b.emit(slots)
}

// sweep re-decides, after a change of the peer's policy, the version the
// peer holds of each object it has been offered (everything up to cur.A):
// newly allowed versions are sent, newly denied ones hidden with
// tombstones. Then the feed continues under the new policy.
func (b *feedBuilder) sweep() (feedCursor, bool, error) {
	sw := sweep{To: b.polVer}
	if b.cur.S != nil {
		sw = *b.cur.S
	}
	newPol, ok := b.f.policyAt(b.ctx, b.ps.cfg.Name, sw.To, b.ps.cfg)
	if !ok {
		// The target version is gone from the store: sweep to the current.
		sw = sweep{To: b.polVer}
		newPol = b.pol
	}
	oldPol, oldOK := b.f.policyAt(b.ctx, b.ps.cfg.Name, b.cur.P, b.ps.cfg)
	page, err := b.f.ind.Entries(index.Query{AddedAfter: sw.Pos, AllVersions: true, IncludeRevoked: true, Limit: b.limit})
	if err != nil {
		return feedCursor{}, false, err
	}
	done := page.Next == ""
	var slots []slot
	for _, e := range page.Entries {
		if e.Added.After(b.cur.A) {
			done = true
			break
		}
		b.scanned++
		sw.Pos = e.Added
		if e.Revoked {
			continue
		}
		held, err := b.held(e)
		if err != nil {
			return feedCursor{}, false, err
		}
		if !held {
			continue
		}
		nd := newPol.Outbound(b.f.fpr, b.ps.fpr, objectOf(e))
		od := oldOK && oldPol.Outbound(b.f.fpr, b.ps.fpr, objectOf(e)).Allow
		switch {
		case nd.Allow && !od:
			slots = append(slots, slot{e: e})
		case !nd.Allow && od:
			b.withhold(nd.Rule)
			hide := e
			slots = append(slots, slot{e: e, tomb: true, hide: &hide})
		}
	}
	next := feedCursor{A: b.cur.A, P: b.cur.P, S: &sw}
	if done {
		next = feedCursor{A: b.cur.A, P: sw.To}
	}
	return next, true, b.emit(slots)
}

// held reports whether e is the version of its object the peer holds at
// the cursor: the newest (by modified) of those added up to cur.A.
func (b *feedBuilder) held(e index.Entry) (bool, error) {
	vs, err := b.f.idx.Versions(e.ID)
	if err != nil {
		return false, err
	}
	var best *index.Entry
	for i := range vs {
		if vs[i].Added.After(b.cur.A) {
			continue
		}
		if best == nil || vs[i].Modified.After(best.Modified) {
			best = &vs[i]
		}
	}
	return best != nil && best.Modified.Equal(e.Modified), nil
}

// predecessor returns the version just before e (by modified), if any.
func (b *feedBuilder) predecessor(e index.Entry) (*index.Entry, error) {
	if e.Modified.IsZero() || !e.Modified.After(e.Created) {
		return nil, nil // a first version (or an unversioned object)
	}
	vs, err := b.f.idx.Versions(e.ID)
	if err != nil {
		return nil, err
	}
	var pred *index.Entry
	for i := range vs {
		if vs[i].Modified.Before(e.Modified) && (pred == nil || vs[i].Modified.After(pred.Modified)) {
			pred = &vs[i]
		}
	}
	return pred, nil
}

// attachmentFor returns the version whose tombstone must travel with e (in
// case the peer relays the object): e's predecessor, when e may not go as
// far as it did (above TLP:GREEN, which is never relayed, more
// restrictive, or with other labels, hence other sharing groups).
func (b *feedBuilder) attachmentFor(e index.Entry) (*index.Entry, error) {
	pred, err := b.predecessor(e)
	if err != nil || pred == nil || pred.Revoked {
		return nil, err
	}
	et, _ := stix.ParseTLP(e.TLP)
	pt, _ := stix.ParseTLP(pred.TLP)
	if et > stix.TLPGreen || et > pt || !slices.Equal(e.Labels, pred.Labels) {
		return pred, nil
	}
	return nil, nil
}

// emit reads the records the slots need and writes their lines.
func (b *feedBuilder) emit(slots []slot) error {
	var need []index.Entry
	for _, s := range slots {
		if s.tomb {
			need = append(need, *s.hide)
		} else {
			need = append(need, s.e)
		}
		if s.attach != nil {
			need = append(need, *s.attach)
		}
	}
	loaded, err := b.f.ind.Load(b.ctx, need)
	if err != nil {
		return err
	}
	i := 0
	take := func() indicator.Stored { st := loaded[i]; i++; return st }
	for _, s := range slots {
		st := take()
		var att *indicator.Stored
		if s.attach != nil {
			a := take()
			att = &a
		}
		if slices.Contains(st.Path, b.ps.fpr) {
			b.withhold(policy.RuleLoop)
			continue
		}
		rec := wire.Record{Origin: st.Origin, TLP: st.TLP, Added: s.e.Added, Path: st.Path}
		if st.Origin != b.f.fpr {
			rec.Path = append(slices.Clone(st.Path), b.f.fpr)
		}
		if s.tomb {
			d, ok, err := b.tombstone(st)
			if err != nil {
				return err
			}
			if !ok {
				b.withhold(policy.RuleUnavailable)
				continue
			}
			rec.Object, rec.Sig, rec.Tombstone = d.Object, d.Sig, true
			b.sentTombs++
		} else {
			rec.Object, rec.Sig = st.Object, st.Signature
			b.sentObjects++
		}
		if att != nil && att.Origin == st.Origin {
			d, ok, err := b.tombstone(*att)
			if err != nil {
				return err
			}
			if ok {
				rec.Attachment = &wire.Attachment{Object: d.Object, Sig: d.Sig}
			}
		}
		if err := b.sendKey(st.Origin); err != nil {
			return err
		}
		if err := b.enc.Encode(wire.Line{Record: &rec}); err != nil {
			return err
		}
		b.records++
	}
	return nil
}

// tombstone returns the origin's tombstone hiding version v: signed now if
// the origin is this node, else one a relay attachment delivered.
func (b *feedBuilder) tombstone(v indicator.Stored) (signedDoc, bool, error) {
	if v.Origin == b.f.fpr {
		d, err := b.f.tombs.own(v)
		if err != nil {
			b.f.log.Warn("cannot sign tombstone", "id", v.ID, "err", err)
			return signedDoc{}, false, nil
		}
		return d, true, nil
	}
	return b.f.tombs.kept(b.ctx, v.ID, v.Version)
}

// sendKey writes the key of a third-party origin once per batch.
func (b *feedBuilder) sendKey(origin string) error {
	if origin == b.f.fpr || origin == b.ps.fpr || b.keysSent[origin] {
		return nil
	}
	armored, err := b.f.keys.armored(b.ctx, b.set, origin)
	if err != nil {
		return err
	}
	b.keysSent[origin] = true
	return b.enc.Encode(wire.Line{Key: &wire.Key{Fingerprint: origin, PublicKey: armored}})
}

// policyAt returns the policy of a peer document version (cached; the
// store keeps every version). Version 0 means "never served": no policy.
func (f *Federation) policyAt(ctx context.Context, name string, version int, current peers.Peer) (policy.Policy, bool) {
	if version == current.Version {
		return current.Policy, true
	}
	if version <= 0 {
		return policy.Policy{}, false
	}
	key := name + "\x00" + strconv.Itoa(version)
	f.policyMu.Lock()
	p, ok := f.policyCache[key]
	f.policyMu.Unlock()
	if ok {
		return p, true
	}
	doc, err := f.peers.At(ctx, name, version)
	if err != nil {
		if !errors.Is(err, peers.ErrNotFound) {
			f.log.Warn("read old peer document", "peer", name, "version", version, "err", err)
		}
		return policy.Policy{}, false
	}
	f.policyMu.Lock()
	f.policyCache[key] = doc.Policy
	f.policyMu.Unlock()
	return doc.Policy, true
}
