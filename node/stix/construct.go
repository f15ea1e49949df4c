package stix

import (
	"fmt"
	"time"

	"github.com/kurier/kurier/node/stix/pattern"
)

// QuickIndicatorSpec describes an indicator built from a single value
// (the CLI's "kurier indicator add ipv4-addr 203.0.113.7 --tlp green").
type QuickIndicatorSpec struct {
	Value          Value // normalised again by QuickIndicator
	TLP            TLP   // TLPNone: no marking
	Name           string
	Description    string
	Labels         []string
	IndicatorTypes []string // default ["malicious-activity"]
	CreatedByRef   string
	Confidence     *int
	ValidFrom      time.Time // default: Now
	ValidUntil     time.Time // optional
	Now            time.Time // default: time.Now()
}

// ObservableType returns the SCO type for a value kind.
func ObservableType(k ValueKind) string {
	switch k {
	case KindIPv4:
		return "ipv4-addr"
	case KindIPv6:
		return "ipv6-addr"
	case KindDomain:
		return "domain-name"
	case KindURL:
		return "url"
	case KindEmail:
		return "email-addr"
	case KindHash:
		return "file"
	}
	return ""
}

// PatternFor returns the STIX pattern matching the value.
func PatternFor(v Value) (string, error) {
	typ := ObservableType(v.Kind)
	if typ == "" {
		return "", fmt.Errorf("stix: unknown value kind %q", v.Kind)
	}
	path := pattern.ObjectPath{ObjectType: typ, Steps: []pattern.PathStep{{Kind: pattern.StepKey, Key: "value"}}}
	lit := v.Value
	if v.Kind == KindHash {
		alg, h, ok := cut(v.Value)
		if !ok {
			return "", fmt.Errorf("stix: hash value %q is not ALGORITHM:value", v.Value)
		}
		path.Steps = []pattern.PathStep{{Kind: pattern.StepKey, Key: "hashes"}, {Kind: pattern.StepKey, Key: alg}}
		lit = h
	}
	p := &pattern.Pattern{Expr: &pattern.Observation{Expr: &pattern.Comparison{Path: path, Op: pattern.OpEq, Value: &pattern.StringLit{Value: lit}}}}
	return p.String(), nil
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}

// NewObservable builds the SCO for a value, with its deterministic id.
func NewObservable(v Value, tlp TLP) (*Object, error) {
	v, ok := NormalizeValue(v.Kind, v.Value)
	if !ok {
		return nil, fmt.Errorf("stix: invalid %s value %q", v.Kind, v.Value)
	}
	typ := ObservableType(v.Kind)
	props := []Property{P("type", typ), P("spec_version", "2.1"), P("id", "")}
	if v.Kind == KindHash {
		alg, h, _ := cut(v.Value)
		props = append(props, P("hashes", map[string]string{alg: h}))
	} else {
		props = append(props, P("value", v.Value))
	}
	if tlp.Valid() {
		props = append(props, P("object_marking_refs", []string{tlp.MarkingID()}))
	}
	o, err := NewObject(props...)
	if err != nil {
		return nil, err
	}
	id, err := SCOID(o)
	if err != nil {
		return nil, err
	}
	if err := o.Set("id", id); err != nil {
		return nil, err
	}
	return o, nil
}

// QuickIndicator builds an indicator for one value and the matching
// observable: [indicator, observable].
func QuickIndicator(s QuickIndicatorSpec) ([]*Object, error) {
	v, ok := NormalizeValue(s.Value.Kind, s.Value.Value)
	if !ok {
		return nil, fmt.Errorf("stix: invalid %s value %q", s.Value.Kind, s.Value.Value)
	}
	pat, err := PatternFor(v)
	if err != nil {
		return nil, err
	}
	sco, err := NewObservable(v, s.TLP)
	if err != nil {
		return nil, err
	}
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	ts := NewTimestamp(now)
	validFrom := ts
	if !s.ValidFrom.IsZero() {
		validFrom = NewTimestamp(s.ValidFrom)
	}
	name := s.Name
	if name == "" {
		name = ObservableType(v.Kind) + " " + v.Value
	}
	types := s.IndicatorTypes
	if len(types) == 0 {
		types = []string{"malicious-activity"}
	}
	props := []Property{
		P("type", "indicator"), P("spec_version", "2.1"), P("id", NewID("indicator")),
	}
	if s.CreatedByRef != "" {
		props = append(props, P("created_by_ref", s.CreatedByRef))
	}
	props = append(props, P("created", ts.String()), P("modified", ts.String()), P("name", name))
	if s.Description != "" {
		props = append(props, P("description", s.Description))
	}
	props = append(props, P("indicator_types", types), P("pattern", pat), P("pattern_type", "stix"),
		P("pattern_version", "2.1"), P("valid_from", validFrom.String()))
	if !s.ValidUntil.IsZero() {
		props = append(props, P("valid_until", NewTimestamp(s.ValidUntil).String()))
	}
	if len(s.Labels) > 0 {
		props = append(props, P("labels", s.Labels))
	}
	if s.Confidence != nil {
		props = append(props, P("confidence", *s.Confidence))
	}
	if s.TLP.Valid() {
		props = append(props, P("object_marking_refs", []string{s.TLP.MarkingID()}))
	}
	ind, err := NewObject(props...)
	if err != nil {
		return nil, err
	}
	if err := Validate(ind); err != nil {
		return nil, err
	}
	return []*Object{ind, sco}, nil
}

// SightingSpec describes a sighting (STIX sighting SRO).
type SightingSpec struct {
	SightingOfRef    string
	Count            int // 0: omitted
	FirstSeen        time.Time
	LastSeen         time.Time
	WhereSightedRefs []string
	ObservedDataRefs []string
	Description      string
	CreatedByRef     string
	TLP              TLP
	Now              time.Time
}

// NewSighting builds and validates a sighting.
func NewSighting(s SightingSpec) (*Object, error) {
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	ts := NewTimestamp(now).String()
	props := []Property{P("type", "sighting"), P("spec_version", "2.1"), P("id", NewID("sighting"))}
	if s.CreatedByRef != "" {
		props = append(props, P("created_by_ref", s.CreatedByRef))
	}
	props = append(props, P("created", ts), P("modified", ts))
	if s.Description != "" {
		props = append(props, P("description", s.Description))
	}
	if !s.FirstSeen.IsZero() {
		props = append(props, P("first_seen", NewTimestamp(s.FirstSeen).String()))
	}
	if !s.LastSeen.IsZero() {
		props = append(props, P("last_seen", NewTimestamp(s.LastSeen).String()))
	}
	if s.Count > 0 {
		props = append(props, P("count", s.Count))
	}
	props = append(props, P("sighting_of_ref", s.SightingOfRef))
	if len(s.ObservedDataRefs) > 0 {
		props = append(props, P("observed_data_refs", s.ObservedDataRefs))
	}
	if len(s.WhereSightedRefs) > 0 {
		props = append(props, P("where_sighted_refs", s.WhereSightedRefs))
	}
	if s.TLP.Valid() {
		props = append(props, P("object_marking_refs", []string{s.TLP.MarkingID()}))
	}
	o, err := NewObject(props...)
	if err != nil {
		return nil, err
	}
	if err := Validate(o); err != nil {
		return nil, err
	}
	return o, nil
}
