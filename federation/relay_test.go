package federation

import (
	"context"
	"slices"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store/miniotest"
)

// chain builds A -> B -> C: A shares AMBER with B; B relays GREEN to C.
// C does not know A. A is on MinIO.
func chain(t *testing.T) (a, b, c *testNode) {
	srv := miniotest.Start(t)
	a = startNode(t, "a", onMinIO(srv))
	b = startNode(t, "b")
	c = startNode(t, "c")
	a.peer(b, policy.Policy{MaxTLP: "amber"})
	b.peer(a, policy.Policy{MaxTLP: "amber"})
	b.peer(c, policy.Policy{MaxTLP: "green", Relay: true})
	c.peer(b, policy.Policy{MaxTLP: "green", Relay: true})
	return a, b, c
}

// TestRelayProvenance: an object from A reaches C through B with A's
// signature and the path [B]; C verifies A's signature with the key B
// delivered; AMBER is not passed on; nothing goes back along its path.
func TestRelayProvenance(t *testing.T) {
	a, b, c := chain(t)
	green := a.indicator(stix.TLPGreen)
	amber := a.indicator(stix.TLPAmber)
	own := b.indicator(stix.TLPGreen)
	b.sync("a")
	c.sync("b")
	if !b.visible(green) || !b.visible(amber) {
		t.Fatal("B lacks A's objects")
	}
	if !c.visible(green) || !c.visible(own) {
		t.Fatalf("C: A's green via B %v, B's own %v", c.visible(green), c.visible(own))
	}
	if c.visible(amber) {
		t.Fatal("B passed A's AMBER object on to C")
	}
	st, ok, err := c.n.Indicators.Current(context.Background(), green)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if st.Origin != a.fpr() || !slices.Equal(st.Path, []string{b.fpr()}) {
		t.Fatalf("provenance at C: origin %s path %v; want origin A and path [B]", st.Origin, st.Path)
	}
	// Anyone holding A's key can check the object C has is what A wrote.
	aKey, _ := a.n.Identity.PublicEntity()
	other := startNode(t, "d")
	signer, err := seal.New(other.n.Identity, openpgp.EntityList{aKey}).VerifyJSON(st.Object, st.Signature)
	if err != nil || signer.Fingerprint != a.fpr() {
		t.Fatalf("A's signature does not verify at C: %v", err)
	}
	// C learnt A's key from B.
	if _, err := c.n.Objects.Stat(context.Background(), keysPrefix+a.fpr()+".asc", ""); err != nil {
		t.Fatalf("A's key not kept at C: %v", err)
	}
	// Nothing comes back: B pulling C gets neither A's object nor its own.
	res := b.sync("c")
	if res.Stored != 0 || res.Records != 0 {
		t.Fatalf("B got %d records back from C: %+v", res.Records, res)
	}
	if got := c.metric(`kurier_federation_withheld_total{peer="b",rule="loop"}`); got < 2 {
		t.Fatalf("C withheld %v objects from B as loops, want >= 2", got)
	}
	// A pulling B gets nothing of its own back either.
	if res := a.sync("b"); res.Records != 0 {
		t.Fatalf("A got %d records back from B", res.Records)
	}
}

// TestRetraction: the origin narrows or withdraws objects; peers that may
// no longer see them get signed tombstones, directly or through a relay,
// and the objects leave their default views.
func TestRetraction(t *testing.T) {
	a, b, c := chain(t)
	narrowed := a.indicator(stix.TLPGreen)  // green -> amber: B sees v2, C (via B) gets a tombstone
	redded := a.indicator(stix.TLPGreen)    // green -> red: B and C get tombstones
	withdrawn := a.indicator(stix.TLPGreen) // revoked
	kept := a.indicator(stix.TLPGreen)
	b.sync("a")
	c.sync("b")
	for _, id := range []string{narrowed, redded, withdrawn, kept} {
		if !c.visible(id) {
			t.Fatalf("%s did not reach C", id)
		}
	}
	ctx := context.Background()
	now := time.Now()
	if _, err := a.n.Indicators.Remark(ctx, narrowed, stix.TLPAmber, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.n.Indicators.Remark(ctx, redded, stix.TLPRed, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.n.Indicators.Revoke(ctx, withdrawn, now); err != nil {
		t.Fatal(err)
	}
	b.sync("a")
	c.sync("b")

	check := func(n *testNode, id string, want bool, tlp string) {
		t.Helper()
		e, ok := n.current(id)
		if got := ok && !e.Revoked; got != want {
			t.Errorf("%s: %s visible = %v, want %v", n.name, id, got, want)
		}
		if tlp != "" && e.TLP != tlp {
			t.Errorf("%s: %s at %s, want %s", n.name, id, e.TLP, tlp)
		}
	}
	check(b, narrowed, true, "amber")
	check(c, narrowed, false, "")
	check(b, redded, false, "")
	check(c, redded, false, "")
	check(b, withdrawn, false, "")
	check(c, withdrawn, false, "")
	check(b, kept, true, "green")
	check(c, kept, true, "green")
	// The tombstone at B is signed by A, the origin, and hides the version
	// B held: the object is gone from B's searches too.
	st, _, _ := b.n.Indicators.Current(ctx, redded)
	if st.Origin != a.fpr() || !st.Revoked {
		t.Fatalf("tombstone at B: origin %s revoked %v", st.Origin, st.Revoked)
	}
	if hits := search(t, b, redded); hits != 0 {
		t.Fatalf("retracted object still found by search at B (%d hits)", hits)
	}
	// C's view of the narrowed object hides it (tombstone via B's kept
	// attachment); C never saw the AMBER version.
	vs, _ := c.n.Indicators.Versions(ctx, narrowed)
	for _, v := range vs {
		if v.TLP == "amber" {
			t.Fatal("C holds the AMBER version")
		}
	}
	// Widening again later: a newer version B may see supersedes the
	// tombstone.
	if _, err := a.n.Indicators.Remark(ctx, redded, stix.TLPGreen, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	b.sync("a")
	check(b, redded, true, "green")
}

// search counts default-search hits for the value of an indicator.
func search(t *testing.T, n *testNode, id string) int {
	t.Helper()
	vs, err := n.n.Indicators.Versions(context.Background(), id)
	if err != nil || len(vs) == 0 {
		t.Fatal(err)
	}
	o, _ := stix.DecodeObject(vs[0].Object)
	vals := stix.Values(o)
	if len(vals) == 0 {
		t.Fatal("no value")
	}
	res, err := n.n.Indicators.Search(context.Background(), vals[0].Value, index.SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Hits)
}

// TestPolicyChangeSweep: when a peer's policy changes, what it already
// received is re-decided: dropped from a group, it gets tombstones; granted
// AMBER, it gets the AMBER objects it was refused before.
func TestPolicyChangeSweep(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b")
	a.peer(b, policy.Policy{MaxTLP: "green", Groups: []string{"g1"}})
	b.peer(a, policy.Policy{MaxTLP: "amber", Groups: []string{"g1"}})
	g1 := a.indicator(stix.TLPGreen, "group:g1")
	plain := a.indicator(stix.TLPGreen)
	amber := a.indicator(stix.TLPAmber)
	b.sync("a")
	if !b.visible(g1) || !b.visible(plain) || b.visible(amber) {
		t.Fatal("initial state wrong")
	}
	a.setPolicy("b", policy.Policy{MaxTLP: "amber"}) // out of g1, into amber
	later := a.indicator(stix.TLPAmber)
	res := b.sync("a")
	t.Logf("%+v", res)
	if b.visible(g1) {
		t.Error("B still shows the group:g1 object after leaving g1")
	}
	if !b.visible(plain) || !b.visible(amber) || !b.visible(later) {
		t.Errorf("after widening: plain %v, earlier amber %v, later amber %v", b.visible(plain), b.visible(amber), b.visible(later))
	}
	// A second sync has nothing to add.
	if res := b.sync("a"); res.Records != 0 {
		t.Errorf("second sync got %d records", res.Records)
	}
}
