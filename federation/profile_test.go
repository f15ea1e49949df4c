package federation

import (
	"testing"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/stix"
)

// TestKeyProfiles: a node on the rfc9580 profile (v6 key, AEAD) federates
// with one on the same profile and with one on the default (v4, GnuPG
// 2.2) profile, in both directions: requests, batch signatures and
// encryption, and every object's origin signature verify across profiles.
func TestKeyProfiles(t *testing.T) {
	rfc := func(c *config.Config) { c.Keys.Profile = "rfc9580" }
	a := startNode(t, "a", rfc)
	b := startNode(t, "b", rfc)
	c := startNode(t, "c")
	if a.n.Identity.Entity().PrimaryKey.Version != 6 || c.n.Identity.Entity().PrimaryKey.Version != 4 {
		t.Fatalf("key versions: a v%d, c v%d", a.n.Identity.Entity().PrimaryKey.Version, c.n.Identity.Entity().PrimaryKey.Version)
	}
	open := policy.Policy{MaxTLP: "green"}
	for _, pair := range [][2]*testNode{{a, b}, {b, a}, {a, c}, {c, a}} {
		pair[0].peer(pair[1], open)
	}
	fromA := a.indicator(stix.TLPGreen)
	fromC := c.indicator(stix.TLPGreen)
	for _, tc := range []struct {
		puller *testNode
		peer   string
		id     string
	}{
		{b, "a", fromA}, // rfc9580 -> rfc9580
		{c, "a", fromA}, // rfc9580 -> default
		{a, "c", fromC}, // default -> rfc9580
	} {
		// A push notice may have pulled it already: a forced pull then
		// finds nothing new, and must refuse nothing.
		if res := tc.puller.sync(tc.peer); len(res.Rejected) != 0 {
			t.Fatalf("%s pulling from %s: %+v", tc.puller.name, tc.peer, res)
		}
		if !tc.puller.visible(tc.id) {
			t.Fatalf("%s does not hold %s after pulling from %s", tc.puller.name, tc.id, tc.peer)
		}
		if e, _ := tc.puller.current(tc.id); e.Origin == tc.puller.fpr() {
			t.Fatalf("%s holds %s as its own", tc.puller.name, tc.id)
		}
		vs, err := tc.puller.n.Indicators.Versions(t.Context(), tc.id)
		if err != nil || len(vs) != 1 {
			t.Fatalf("versions of %s on %s: %v %v", tc.id, tc.puller.name, vs, err)
		}
	}
}
