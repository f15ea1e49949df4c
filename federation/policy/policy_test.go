package policy

import (
	"fmt"
	"testing"

	"github.com/kurier/kurier/node/stix"
)

const (
	self  = "SELF"
	peer  = "PEER"
	other = "OTHER"
)

// TestTLPTable is the sharing table of the issue, level by level, for a
// peer with and without amber, in both directions.
func TestTLPTable(t *testing.T) {
	green, amber := Policy{MaxTLP: "green"}, Policy{MaxTLP: "amber"}
	clear := Policy{MaxTLP: "clear"}
	want := map[stix.TLP]map[string]string{ // level -> policy -> rule
		stix.TLPClear:       {"clear": RuleAllowed, "green": RuleAllowed, "amber": RuleAllowed},
		stix.TLPGreen:       {"clear": RuleTLPMax, "green": RuleAllowed, "amber": RuleAllowed},
		stix.TLPAmber:       {"clear": RuleTLPAmber, "green": RuleTLPAmber, "amber": RuleAllowed},
		stix.TLPAmberStrict: {"clear": RuleTLPStrict, "green": RuleTLPStrict, "amber": RuleTLPStrict},
		stix.TLPRed:         {"clear": RuleTLPRed, "green": RuleTLPRed, "amber": RuleTLPRed},
	}
	for _, level := range stix.TLPLevels {
		for name, p := range map[string]Policy{"clear": clear, "green": green, "amber": amber} {
			t.Run(fmt.Sprintf("%s to %s peer", level, name), func(t *testing.T) {
				o := Object{Type: "indicator", TLP: level, Origin: self}
				out := p.Outbound(self, peer, o)
				if out.Rule != want[level][name] || out.Allow != (out.Rule == RuleAllowed) {
					t.Fatalf("outbound = %+v, want rule %s", out, want[level][name])
				}
				o.Origin = peer
				in := p.Inbound(self, peer, o)
				if in.Rule != want[level][name] {
					t.Fatalf("inbound = %+v, want rule %s", in, want[level][name])
				}
			})
		}
	}
	if d := green.Outbound(self, peer, Object{Type: "indicator", Origin: self}); d.Allow || d.Rule != RuleNoTLP {
		t.Fatalf("no TLP: %+v", d)
	}
}

func TestTypesGroupsRelayLoop(t *testing.T) {
	p := Policy{MaxTLP: "amber", Types: []string{"indicator"}, Groups: []string{"eu"}}
	tests := []struct {
		name string
		p    Policy
		o    Object
		rule string
	}{
		{"type allowed", p, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: self}, RuleAllowed},
		{"type filtered", p, Object{Type: "malware", TLP: stix.TLPGreen, Origin: self}, RuleType},
		{"no group label", p, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: self, Labels: []string{"c2"}}, RuleAllowed},
		{"member group", p, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: self, Labels: []string{"group:eu", "group:nato"}}, RuleAllowed},
		{"other group", p, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: self, Labels: []string{"group:nato"}}, RuleGroup},
		{"relay off", p, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: other}, RuleRelay},
		{"relay green", Policy{MaxTLP: "amber", Relay: true}, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: other}, RuleAllowed},
		{"relay amber", Policy{MaxTLP: "amber", Relay: true}, Object{Type: "indicator", TLP: stix.TLPAmber, Origin: other}, RuleRelayTLP},
		{"back to origin", Policy{MaxTLP: "amber", Relay: true}, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: peer}, RuleLoop},
		{"back along path", Policy{MaxTLP: "amber", Relay: true}, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: other, Path: []string{peer}}, RuleLoop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := tt.p.Outbound(self, peer, tt.o); d.Rule != tt.rule || d.Reason == "" {
				t.Fatalf("Outbound = %+v, want %s", d, tt.rule)
			}
		})
	}
	// Inbound: our own object coming back, or one that passed through us.
	r := Policy{MaxTLP: "green", Relay: true}
	for _, o := range []Object{
		{Type: "indicator", TLP: stix.TLPGreen, Origin: self},
		{Type: "indicator", TLP: stix.TLPGreen, Origin: other, Path: []string{self, peer}},
	} {
		if d := r.Inbound(self, peer, o); d.Rule != RuleLoop {
			t.Fatalf("Inbound(%+v) = %+v, want loop", o, d)
		}
	}
	if d := r.Inbound(self, peer, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: other, Path: []string{peer}}); !d.Allow {
		t.Fatalf("relayed green from a relay peer refused: %+v", d)
	}
	if d := (Policy{MaxTLP: "green"}).Inbound(self, peer, Object{Type: "indicator", TLP: stix.TLPGreen, Origin: other, Path: []string{peer}}); d.Rule != RuleRelay {
		t.Fatalf("relayed object from a non-relay peer: %+v", d)
	}
}

func TestValidate(t *testing.T) {
	for _, bad := range []Policy{{MaxTLP: "red"}, {MaxTLP: "amber+strict"}, {MaxTLP: ""}, {MaxTLP: "green", Types: []string{"Not A Type"}}, {MaxTLP: "green", Groups: []string{"a b"}}, {MaxTLP: "green", Groups: []string{"group:x"}}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if err := (Policy{MaxTLP: "amber", Types: []string{"indicator"}, Groups: []string{"eu-cert"}}).Validate(); err != nil {
		t.Fatal(err)
	}
	n := Policy{MaxTLP: "green", Types: []string{"b", "a", "b"}}.Normalize()
	if fmt.Sprint(n.Types) != "[a b]" || n.Groups != nil {
		t.Fatalf("Normalize = %+v", n)
	}
}
