// Package policy decides what may flow between this node and one peer. A
// peer's policy is one small declarative document (see package peers); the
// same rules are applied by the serving node before anything is sent
// (Outbound) and again by the receiving node (Inbound), so a misconfigured
// or malicious peer cannot widen what a node accepts.
//
// The TLP 2.0 table:
//
//	TLP:CLEAR, TLP:GREEN   to every peer whose max_tlp allows them
//	TLP:AMBER              only to peers whose max_tlp is amber
//	TLP:AMBER+STRICT       never automatically
//	TLP:RED                never
//
// Types and sharing groups narrow it further. Objects another node wrote
// (relayed) flow only to and from peers marked relay, and only at
// TLP:CLEAR or TLP:GREEN: TLP:AMBER is for its recipient's organisation,
// never passed on. An object never goes back to a node it came from (its
// origin or a node on its path).
package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kurier/kurier/node/stix"
)

// GroupPrefix marks a label as a sharing group: an object labelled
// "group:eu-cert" goes only to peers in group eu-cert.
const GroupPrefix = "group:"

// Policy is what may flow between this node and one peer.
type Policy struct {
	// MaxTLP is the most restrictive level exchanged: "clear", "green"
	// (the default) or "amber". AMBER+STRICT and RED are never exchanged
	// automatically, whatever it says.
	MaxTLP string `json:"max_tlp"`
	// Types, when set, limits the exchange to these STIX types.
	Types []string `json:"types,omitempty"`
	// Groups are the sharing groups the peer belongs to.
	Groups []string `json:"groups,omitempty"`
	// Relay: objects written by other nodes flow to and from this peer
	// (TLP:CLEAR and TLP:GREEN only).
	Relay bool `json:"relay,omitempty"`
}

// Default is the policy of a peer added without options.
func Default() Policy { return Policy{MaxTLP: "green"} }

// Validate checks the policy and names what to fix.
func (p Policy) Validate() error {
	switch p.MaxTLP {
	case "clear", "green", "amber":
	case "amber+strict", "red":
		return fmt.Errorf("policy: max_tlp %q: TLP:AMBER+STRICT and TLP:RED are never shared automatically; use clear, green or amber", p.MaxTLP)
	default:
		return fmt.Errorf("policy: max_tlp %q must be clear, green or amber", p.MaxTLP)
	}
	for _, t := range p.Types {
		if !stix.ValidTypeName(t) {
			return fmt.Errorf("policy: %q is not a STIX type name", t)
		}
	}
	for _, g := range p.Groups {
		if g == "" || strings.ContainsAny(g, " \t\r\n,") || strings.HasPrefix(g, GroupPrefix) {
			return fmt.Errorf("policy: group %q must be a non-empty name without spaces, commas or the %q prefix", g, GroupPrefix)
		}
	}
	return nil
}

// Normalize sorts and deduplicates the lists, so equal policies encode
// equally.
func (p Policy) Normalize() Policy {
	p.Types = slices.Compact(slices.Sorted(slices.Values(p.Types)))
	p.Groups = slices.Compact(slices.Sorted(slices.Values(p.Groups)))
	if len(p.Types) == 0 {
		p.Types = nil
	}
	if len(p.Groups) == 0 {
		p.Groups = nil
	}
	return p
}

// Max returns the policy's TLP ceiling (TLPGreen for an unset one).
func (p Policy) Max() stix.TLP {
	t, err := stix.ParseTLP(p.MaxTLP)
	if err != nil || t > stix.TLPAmber {
		return stix.TLPGreen
	}
	return t
}

// Object is what a decision looks at: the node-side metadata of one object
// version, never its content.
type Object struct {
	Type    string
	TLP     stix.TLP // effective handling level
	Labels  []string
	Origin  string   // fingerprint of the node that signed it
	Path    []string // fingerprints of the nodes it travelled through after its origin
	Revoked bool
}

// Rules: stable names for why an object was allowed or withheld (metric
// label values, preview output).
const (
	RuleAllowed     = "allowed"
	RuleLoop        = "loop"       // the peer is the origin or on the path
	RuleTLPRed      = "tlp_red"    // TLP:RED never leaves automatically
	RuleTLPStrict   = "tlp_strict" // TLP:AMBER+STRICT never leaves automatically
	RuleTLPAmber    = "tlp_amber"  // TLP:AMBER to a peer not marked for amber
	RuleTLPMax      = "tlp_max"    // above the peer's max_tlp (e.g. green to a clear-only peer)
	RuleNoTLP       = "no_tlp"     // no valid TLP: never shared
	RuleRelay       = "relay"      // another node's object, peer not marked relay
	RuleRelayTLP    = "relay_tlp"  // another node's object above TLP:GREEN is not passed on
	RuleType        = "type"       // type not in the peer's types
	RuleGroup       = "group"      // restricted to sharing groups the peer is not in
	RuleTombstone   = "tombstone"  // withheld, but a signed tombstone is sent instead
	RuleUnavailable = "tombstone_unavailable"
)

// Rules lists every rule that withholds an object (for metric
// initialisation).
var Rules = []string{RuleLoop, RuleTLPRed, RuleTLPStrict, RuleTLPAmber, RuleTLPMax, RuleNoTLP, RuleRelay, RuleRelayTLP, RuleType, RuleGroup, RuleUnavailable}

// Decision is the outcome for one object: allowed or not, the rule that
// decided, and a sentence for people.
type Decision struct {
	Allow  bool   `json:"allow"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

func deny(rule, format string, args ...any) Decision {
	return Decision{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// Outbound decides whether this node (self) may send o to the peer (peer
// is its fingerprint).
func (p Policy) Outbound(self, peer string, o Object) Decision {
	if o.Origin == peer || slices.Contains(o.Path, peer) {
		return deny(RuleLoop, "the peer wrote or already passed on this object")
	}
	return p.decide(self, peer, o)
}

// Inbound decides whether this node (self) accepts o from the peer.
func (p Policy) Inbound(self, peer string, o Object) Decision {
	if o.Origin == self || slices.Contains(o.Path, self) {
		return deny(RuleLoop, "this node wrote or already passed on this object")
	}
	return p.decide(self, peer, o)
}

// decide applies the rules common to both directions; relayed means the
// object was written by neither this node nor the peer.
func (p Policy) decide(self, peer string, o Object) Decision {
	if d, ok := p.tlp(o.TLP); !ok {
		return d
	}
	if o.Origin != self && o.Origin != peer {
		if !p.Relay {
			return deny(RuleRelay, "written by another node (%s) and the peer is not marked relay", short(o.Origin))
		}
		if o.TLP > stix.TLPGreen {
			return deny(RuleRelayTLP, "written by another node (%s) at %s: only TLP:CLEAR and TLP:GREEN are passed on", short(o.Origin), o.TLP)
		}
	}
	if len(p.Types) > 0 && !slices.Contains(p.Types, o.Type) {
		return deny(RuleType, "type %s is not in the peer's types %v", o.Type, p.Types)
	}
	if gs := Groups(o.Labels); len(gs) > 0 {
		in := false
		for _, g := range gs {
			if slices.Contains(p.Groups, g) {
				in = true
				break
			}
		}
		if !in {
			return deny(RuleGroup, "restricted to sharing groups %v; the peer is in %v", gs, p.Groups)
		}
	}
	return Decision{Allow: true, Rule: RuleAllowed, Reason: fmt.Sprintf("%s within the peer's max %s", o.TLP, p.Max())}
}

func (p Policy) tlp(t stix.TLP) (Decision, bool) {
	switch {
	case !t.Valid():
		return deny(RuleNoTLP, "no valid TLP"), false
	case t == stix.TLPRed:
		return deny(RuleTLPRed, "TLP:RED is never shared automatically"), false
	case t == stix.TLPAmberStrict:
		return deny(RuleTLPStrict, "TLP:AMBER+STRICT is never shared automatically"), false
	case t == stix.TLPAmber && p.Max() < stix.TLPAmber:
		return deny(RuleTLPAmber, "TLP:AMBER only goes to peers marked for amber (max is %s)", p.Max()), false
	case t > p.Max():
		return deny(RuleTLPMax, "%s is above the peer's max %s", t, p.Max()), false
	}
	return Decision{}, true
}

// Groups returns the sharing groups named by an object's labels.
func Groups(labels []string) []string {
	var out []string
	for _, l := range labels {
		if g, ok := strings.CutPrefix(l, GroupPrefix); ok && g != "" {
			out = append(out, g)
		}
	}
	return out
}

func short(fpr string) string {
	if len(fpr) > 16 {
		return fpr[len(fpr)-16:]
	}
	return fpr
}
