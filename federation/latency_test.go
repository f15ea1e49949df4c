package federation

import (
	"slices"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/stix"
)

// TestPushNoticeLatency: with an hourly pull, a new indicator on A is
// searchable on B well within a second, woken by A's push notice.
func TestPushNoticeLatency(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b")
	a.peer(b, policy.Policy{MaxTLP: "green"})
	b.peerInterval(a, policy.Policy{MaxTLP: "green"}, time.Hour)
	b.sync("a")
	lat := addToSearchable(t, a, b, 20)
	t.Logf("add on A -> visible on B: p50 %s, max %s", lat[len(lat)/2], lat[len(lat)-1])
	if lat[len(lat)-1] > time.Second {
		t.Fatalf("slowest %s, want < 1s", lat[len(lat)-1])
	}
	if b.metric(`kurier_federation_notices_total{direction="received",peer="a",result="ok"}`) < 20 {
		t.Fatal("the pulls were not woken by notices")
	}
}

// addToSearchable adds n indicators on a, one at a time, and measures how
// long each takes to be visible on b. Sorted.
func addToSearchable(t testing.TB, a, b *testNode, n int) []time.Duration {
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		id := a.indicator(stix.TLPGreen)
		for !b.visible(id) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s never reached B", id)
			}
			time.Sleep(500 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat
}
