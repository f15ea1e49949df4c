package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/stix"
)

// fakePeer is a peer under the test's control: a real key, pinned by the
// node under test, serving whatever the test wants at /federation/v1/feed.
type fakePeer struct {
	t      testing.TB
	id     *identity.Identity
	sealer *seal.Sealer
	srv    *httptest.Server
	h      atomic.Pointer[http.HandlerFunc]
}

// serve sets what the fake peer answers (safe while it serves).
func (fp *fakePeer) serve(h http.HandlerFunc) { fp.h.Store(&h) }

func newFakePeer(t testing.TB) *fakePeer {
	t.Helper()
	id, err := identity.Generate("fake", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fp := &fakePeer{t: t, id: id, sealer: seal.New(id, nil)}
	fp.serve(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*fp.h.Load())(w, r) }))
	t.Cleanup(fp.srv.Close)
	return fp
}

func (fp *fakePeer) fpr() string { return fp.id.Fingerprint() }

// pin makes tn trust the fake peer under name.
func (fp *fakePeer) pin(tn *testNode, name string, p policy.Policy) {
	fp.t.Helper()
	pub, _ := fp.id.ArmoredPublicKey()
	doc, err := peers.New(name, fp.srv.URL, pub, fp.fpr(), p, time.Hour)
	if err != nil {
		fp.t.Fatal(err)
	}
	if _, err := peers.NewStore(tn.n.Objects).Add(context.Background(), doc); err != nil {
		fp.t.Fatal(err)
	}
	if err := tn.f.Reload(context.Background()); err != nil {
		fp.t.Fatal(err)
	}
}

// signed returns a canonical object and the fake peer's signature.
func (fp *fakePeer) signed(o *stix.Object) (json.RawMessage, []byte) {
	raw, _ := o.MarshalJSON()
	c, sig, err := fp.sealer.SignJSON(raw)
	if err != nil {
		fp.t.Fatal(err)
	}
	return c, sig
}

// batch seals lines for the requesting node (to), answering r.
func (fp *fakePeer) batch(w http.ResponseWriter, r *http.Request, to *openpgp.Entity, recs []wire.Record) {
	fp.batchBy(fp.sealer, w, r, to, recs)
}

// batchBy is batch sealed by s.
func (fp *fakePeer) batchBy(s *seal.Sealer, w http.ResponseWriter, r *http.Request, to *openpgp.Entity, recs []wire.Record) {
	var plain bytes.Buffer
	enc := wire.NewEncoder(&plain)
	_ = enc.Encode(wire.Line{Header: &wire.Header{Protocol: wire.Protocol, Server: fp.fpr(), Peer: identity.Fingerprint(to), Nonce: r.Header.Get(wire.HeaderNonce)}})
	for i := range recs {
		_ = enc.Encode(wire.Line{Record: &recs[i]})
	}
	_ = enc.Encode(wire.Line{Trailer: &wire.Trailer{Next: "", Records: len(recs)}})
	w.Header().Set("Content-Type", wire.BatchMediaType)
	wc, err := s.SealTo(w, to)
	if err != nil {
		fp.t.Error(err)
		return
	}
	_, _ = wc.Write(plain.Bytes())
	_ = wc.Close()
}

func indicatorObject(t testing.TB, tlp stix.TLP) *stix.Object {
	objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindIPv4, Value: nextIP()}, TLP: tlp})
	if err != nil {
		t.Fatal(err)
	}
	return objs[0]
}

// TestForgedObjectRejected: in one batch from a pinned peer, a forged
// object (changed after signing), an object claiming another origin, a
// malformed one, and a conflicting version are rejected or flagged and
// counted; the good objects of the same batch are stored.
func TestForgedObjectRejected(t *testing.T) {
	b := startNode(t, "b")
	fp := newFakePeer(t)
	bKey, _ := b.n.Identity.PublicEntity()

	good1, good2 := indicatorObject(t, stix.TLPGreen), indicatorObject(t, stix.TLPGreen)
	forged := indicatorObject(t, stix.TLPGreen)
	c1, s1 := fp.signed(good1)
	c2, s2 := fp.signed(good2)
	cf, sf := fp.signed(forged)
	cf = bytes.Replace(cf, []byte("198.51."), []byte("203.0."), 1) // altered after signing
	// Same id and modified as good1, other content, validly signed.
	conflicting := good1.Clone()
	_ = conflicting.Set("name", "something else")
	cc, sc := fp.signed(conflicting)
	// Claims a third-party origin though the peer is not a relay.
	other, _ := identity.Generate("other", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	co, so, _ := seal.New(other, nil).SignJSON(mustJSON(indicatorObject(t, stix.TLPGreen)))
	// Not STIX at all, yet signed.
	cg, sg, _ := fp.sealer.SignJSON([]byte(`{"type":"indicator","id":"nonsense"}`))

	now := time.Now().UTC()
	recs := []wire.Record{
		{Object: c1, Sig: s1, Origin: fp.fpr(), TLP: "green", Added: now},
		{Object: cf, Sig: sf, Origin: fp.fpr(), TLP: "green", Added: now},
		{Object: co, Sig: so, Origin: other.Fingerprint(), Path: []string{fp.fpr()}, TLP: "green", Added: now},
		{Object: cg, Sig: sg, Origin: fp.fpr(), TLP: "green", Added: now},
		{Object: cc, Sig: sc, Origin: fp.fpr(), TLP: "green", Added: now},
		{Object: c2, Sig: s2, Origin: fp.fpr(), TLP: "green", Added: now},
	}
	// The batch is served once (the pull that gets it may be the first
	// periodic one), then the feed is empty.
	served := make(chan struct{}, 1)
	served <- struct{}{}
	fp.serve(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-served:
			fp.batch(w, r, bKey, recs)
		default:
			fp.batch(w, r, bKey, nil)
		}
	})
	fp.pin(b, "f", policy.Policy{MaxTLP: "green"})
	b.sync("f")
	if !b.visible(good1.ID) || !b.visible(good2.ID) {
		t.Fatal("the good objects of the batch were not stored")
	}
	if b.visible(forged.ID) {
		t.Fatal("the forged object was stored")
	}
	st, _, _ := b.n.Indicators.Current(context.Background(), good1.ID)
	if !bytes.Equal(st.Object, c1) {
		t.Fatal("the conflicting version replaced the stored one")
	}
	for series, want := range map[string]float64{
		`kurier_federation_rejected_total{peer="f",reason="bad_signature"}`: 1,
		`kurier_federation_rejected_total{peer="f",reason="policy_relay"}`:  1,
		`kurier_federation_rejected_total{peer="f",reason="invalid"}`:       1,
		`kurier_federation_conflicts_total{peer="f"}`:                       1,
		`kurier_federation_received_total{outcome="stored",peer="f"}`:       2,
	} {
		if got := b.metric(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	n := 0
	for info, err := range b.n.Objects.List(context.Background(), conflictsPrefix, "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		_ = info
	}
	if n != 1 {
		t.Fatalf("%d conflict records kept, want 1", n)
	}
}

func mustJSON(o *stix.Object) []byte {
	b, _ := o.MarshalJSON()
	return b
}

// TestBatchEnvelopeChecks: a batch not signed by the pinned peer, not
// answering our request, or tampered with is refused whole.
func TestBatchEnvelopeChecks(t *testing.T) {
	b := startNode(t, "b")
	fp := newFakePeer(t)
	bKey, _ := b.n.Identity.PublicEntity()
	o := indicatorObject(t, stix.TLPGreen)
	c, s := fp.signed(o)
	rec := []wire.Record{{Object: c, Sig: s, Origin: fp.fpr(), TLP: "green", Added: time.Now()}}
	impostor, _ := identity.Generate("impostor", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	cases := map[string]http.HandlerFunc{
		"signed by another key": func(w http.ResponseWriter, r *http.Request) {
			fp.batchBy(seal.New(impostor, nil), w, r, bKey, rec)
		},
		"old nonce (replayed batch)": func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set(wire.HeaderNonce, "0123456789abcdef0123456789abcdef")
			fp.batch(w, r, bKey, rec)
		},
		"tampered ciphertext": func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			fp.batch(rec, r, bKey, []wire.Record{{Object: c, Sig: s, Origin: fp.fpr(), TLP: "green", Added: time.Now()}})
			body := rec.Body.Bytes()
			body[len(body)-40] ^= 1
			_, _ = w.Write(body)
		},
	}
	fp.pin(b, "f", policy.Policy{MaxTLP: "green"})
	for name, h := range cases {
		fp.serve(h)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		res, err := b.f.SyncNow(ctx, "f")
		cancel()
		if err != nil || res.Error == "" {
			t.Errorf("%s: accepted (%v, %+v)", name, err, res)
		}
		if b.visible(o.ID) {
			t.Fatalf("%s: object stored", name)
		}
	}
	_ = io.Discard
}
