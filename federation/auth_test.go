package federation

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/stix"
)

type peersPeer = peers.Peer

func peersStore(n *testNode) *peers.Store { return peers.NewStore(n.n.Objects) }

// signedRequest builds a feed request to target signed by s.
func signedRequest(t *testing.T, target *testNode, s *seal.Sealer, to string, when time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target.url+wire.BasePath+wire.PathFeed+"?limit=10", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Sign(req, s, to, nil, when); err != nil {
		t.Fatal(err)
	}
	return req
}

func send(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func clone(req *http.Request) *http.Request {
	c := req.Clone(context.Background())
	return c
}

// TestRequestAuthentication: only pinned peers with a valid, fresh, unique
// signature get anything; every refusal is counted by reason.
func TestRequestAuthentication(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b")
	c := startNode(t, "c")
	a.peer(b, policy.Policy{MaxTLP: "green"})
	a.peer(c, policy.Policy{MaxTLP: "green"})
	c.peer(b, policy.Policy{MaxTLP: "green"})
	bSeal, cSeal := seal.New(b.n.Identity, nil), seal.New(c.n.Identity, nil)
	stranger, _ := identity.Generate("stranger", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	now := time.Now()

	ok := signedRequest(t, a, cSeal, a.fpr(), now)
	if code := send(t, clone(ok)); code != http.StatusOK {
		t.Fatalf("valid request: %d", code)
	}
	if code := send(t, clone(ok)); code != http.StatusUnauthorized {
		t.Fatalf("replayed request: %d", code)
	}
	// The same request sent to another node that knows C: the signature
	// names A as the recipient.
	other := clone(ok)
	other.URL, _ = url.Parse(c.url + other.URL.RequestURI())
	other.Host = other.URL.Host
	b.peer(c, policy.Policy{MaxTLP: "green"})
	cross := signedRequest(t, a, cSeal, a.fpr(), now)
	cross.URL, _ = url.Parse(b.url + cross.URL.RequestURI())
	cross.Host = cross.URL.Host
	if code := send(t, cross); code != http.StatusUnauthorized {
		t.Fatalf("request for A sent to B: %d", code)
	}
	// C's valid key, claiming to be B.
	imp := signedRequest(t, a, cSeal, a.fpr(), now)
	imp.Header.Set(wire.HeaderNode, b.fpr())
	if code := send(t, imp); code != http.StatusUnauthorized {
		t.Fatalf("impersonation: %d", code)
	}
	if code := send(t, signedRequest(t, a, seal.New(stranger, nil), a.fpr(), now)); code != http.StatusUnauthorized {
		t.Fatalf("unknown node: %d", code)
	}
	if code := send(t, signedRequest(t, a, bSeal, a.fpr(), now.Add(-10*time.Minute))); code != http.StatusUnauthorized {
		t.Fatalf("stale date: %d", code)
	}
	// Dated before A started: A's nonce memory of its previous run is
	// gone, so such a request is treated as a possible replay.
	if code := send(t, signedRequest(t, a, bSeal, a.fpr(), a.f.started.Add(-3*time.Second))); code != http.StatusUnauthorized {
		t.Fatalf("request dated before the node started: %d", code)
	}
	tampered := signedRequest(t, a, bSeal, a.fpr(), now)
	tampered.URL.RawQuery = "limit=5000"
	if code := send(t, tampered); code != http.StatusUnauthorized {
		t.Fatalf("changed query: %d", code)
	}
	unsigned, _ := http.NewRequest(http.MethodPost, a.url+wire.BasePath+wire.PathNotify, bytes.NewReader([]byte(`{}`)))
	if code := send(t, unsigned); code != http.StatusUnauthorized {
		t.Fatalf("unsigned notice: %d", code)
	}
	for reason, want := range map[string]float64{
		RefusedReplay: 2, RefusedImpersonation: 1, RefusedUnknownNode: 1, RefusedClockSkew: 1, RefusedBadSignature: 2,
	} {
		if got := a.metric(`kurier_federation_refusals_total{reason="` + reason + `"}`); got != want {
			t.Errorf("refusals{%s} at A = %v, want %v", reason, got, want)
		}
	}
	if got := b.metric(`kurier_federation_refusals_total{reason="bad_signature"}`); got != 1 {
		t.Errorf("B refused the cross-node replay as %v bad signatures, want 1", got)
	}
}

func TestNonceCacheBounded(t *testing.T) {
	c := newNonceCache(time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }
	if !c.add("n", "x", now) || c.add("n", "x", now) || !c.seen("n", "x") {
		t.Fatal("add/seen")
	}
	for i := range 3000 {
		c.add("n", string(rune(i))+"-nonce", now)
	}
	now = now.Add(2 * time.Minute)
	c.add("n", "late", now) // prunes
	c.mu.Lock()
	left := len(c.byNode["n"])
	c.mu.Unlock()
	if left > 1100 {
		t.Fatalf("%d nonces kept after their window", left)
	}
}

// TestPausedPeer: a paused peer is neither pulled nor notified, and its
// requests are refused (reason policy) until it is resumed.
func TestPausedPeer(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b")
	a.peer(b, policy.Policy{MaxTLP: "green"})
	b.peer(a, policy.Policy{MaxTLP: "green"})
	b.sync("a")
	pause := func(n *testNode, name string, on bool) {
		if _, err := peersStore(n).Update(context.Background(), name, func(d *peersPeer) error { d.Paused = on; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := n.f.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if keys := a.f.PeerKeys(); len(keys) != 1 || identity.Fingerprint(keys[0]) != b.fpr() {
		t.Fatalf("peer keys: %d", len(keys))
	}
	pause(a, "b", true)
	if len(a.f.PeerKeys()) != 0 {
		t.Fatal("a paused peer's key is still offered")
	}
	if code := send(t, signedRequest(t, a, seal.New(b.n.Identity, nil), a.fpr(), time.Now())); code != http.StatusUnauthorized {
		t.Fatalf("paused peer's request: %d", code)
	}
	if got := a.metric(`kurier_federation_refusals_total{reason="policy"}`); got != 1 {
		t.Fatalf("policy refusals %v", got)
	}
	id := a.indicator(stix.TLPGreen)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, _ := b.f.SyncNow(ctx, "a"); res.Error == "" || b.visible(id) {
		t.Fatalf("B pulled from a node that pauses it: %+v", res)
	}
	pause(b, "a", true)
	if res, _ := b.f.SyncNow(ctx, "a"); !strings.Contains(res.Error, "paused") {
		t.Fatalf("paused pull: %+v", res)
	}
	pause(a, "b", false)
	pause(b, "a", false)
	b.sync("a")
	if !b.visible(id) {
		t.Fatal("not resumed")
	}
}
