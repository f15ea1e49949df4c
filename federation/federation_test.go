package federation

import (
	"testing"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store/miniotest"
)

func identityObject(tn *testNode, tlp stix.TLP) string {
	ts := stix.NewTimestamp(time.Now())
	return tn.object(stix.P("type", "identity"), stix.P("spec_version", "2.1"), stix.P("id", stix.NewID("identity")),
		stix.P("created", ts), stix.P("modified", ts), stix.P("name", "ACME"), stix.P("identity_class", "organization"),
		stix.P("object_marking_refs", []string{tlp.MarkingID()}))
}

// TestPolicyTable runs the TLP table object by object across three real
// nodes (A on MinIO): what A's outbound policy withholds never leaves A,
// and what C's own inbound policy refuses is rejected and counted at C.
func TestPolicyTable(t *testing.T) {
	srv := miniotest.Start(t)
	a := startNode(t, "a", onMinIO(srv))
	b := startNode(t, "b")
	c := startNode(t, "c")
	// A shares AMBER with B, and (wrongly wide) AMBER with C for
	// indicators of group g1; C only accepts GREEN from A.
	a.peer(b, policy.Policy{MaxTLP: "amber"})
	a.peer(c, policy.Policy{MaxTLP: "amber", Types: []string{"indicator"}, Groups: []string{"g1"}})
	b.peer(a, policy.Policy{MaxTLP: "amber"})
	c.peer(a, policy.Policy{MaxTLP: "green", Types: []string{"indicator"}, Groups: []string{"g1"}})

	objects := []struct {
		name string
		id   string
		atB  bool
		atC  bool
	}{
		{"indicator TLP:CLEAR", a.indicator(stix.TLPClear), true, true},
		{"indicator TLP:GREEN", a.indicator(stix.TLPGreen), true, true},
		{"indicator TLP:AMBER", a.indicator(stix.TLPAmber), true, false},
		{"indicator TLP:AMBER+STRICT", a.indicator(stix.TLPAmberStrict), false, false},
		{"indicator TLP:RED", a.indicator(stix.TLPRed), false, false},
		{"indicator unmarked (node default AMBER)", a.indicator(stix.TLPNone), true, false},
		{"identity TLP:GREEN (type filter)", identityObject(a, stix.TLPGreen), true, false},
		{"indicator TLP:GREEN group:g1", a.indicator(stix.TLPGreen, "group:g1"), false, true},
		{"indicator TLP:GREEN group:g2", a.indicator(stix.TLPGreen, "group:g2"), false, false},
		{"indicator TLP:CLEAR group:g1 group:g2", a.indicator(stix.TLPClear, "group:g1", "group:g2"), false, true},
	}
	b.sync("a")
	c.sync("a")
	for _, o := range objects {
		if got := b.visible(o.id); got != o.atB {
			t.Errorf("%s at B (amber peer): %v, want %v", o.name, got, o.atB)
		}
		if got := c.visible(o.id); got != o.atC {
			t.Errorf("%s at C (green peer, indicators of g1): %v, want %v", o.name, got, o.atC)
		}
	}
	// Provenance is kept: origin A, no path, A's signature.
	e, _ := b.current(objects[1].id)
	if e.Origin != a.fpr() {
		t.Errorf("origin at B = %s, want A %s", e.Origin, a.fpr())
	}
	// What A withheld, by rule; what C refused on arrival, by reason.
	for series, want := range map[string]float64{
		`kurier_federation_withheld_total{peer="b",rule="tlp_strict"}`: 1,
		`kurier_federation_withheld_total{peer="b",rule="tlp_red"}`:    1,
		`kurier_federation_withheld_total{peer="b",rule="group"}`:      3,
		`kurier_federation_withheld_total{peer="c",rule="type"}`:       1,
		`kurier_federation_withheld_total{peer="c",rule="group"}`:      1,
		`kurier_federation_sent_total{kind="object",peer="b"}`:         5,
	} {
		if got := a.metric(series); got != want {
			t.Errorf("A: %s = %v, want %v", series, got, want)
		}
	}
	if got := c.metric(`kurier_federation_rejected_total{peer="a",reason="policy_tlp_amber"}`); got != 2 {
		t.Errorf("C rejected AMBER from A %v times, want 2 (its inbound policy)", got)
	}
}
