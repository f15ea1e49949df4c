package stix

import (
	"fmt"
	"strings"
)

// TLP is a Traffic Light Protocol 2.0 level. The zero value means "no TLP";
// levels compare in order of restrictiveness:
// TLPClear < TLPGreen < TLPAmber < TLPAmberStrict < TLPRed.
type TLP int

// TLP levels.
const (
	TLPNone TLP = iota
	TLPClear
	TLPGreen
	TLPAmber
	TLPAmberStrict
	TLPRed
)

// TLP 2.0 marking-definition ids, as fixed by the OASIS TLP 2.0 extension
// definition (extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d,
// oasis-open/cti-stix-common-objects, extension-definition-specifications/
// tlp-2.0).
const (
	TLPClearID       = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	TLPGreenID       = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	TLPAmberID       = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	TLPAmberStrictID = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
	TLPRedID         = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"

	// TLP2ExtensionID is the extension definition the TLP 2.0 marking
	// definitions use.
	TLP2ExtensionID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
)

// TLP 1.0 marking-definition ids predefined by STIX 2.1 section 7.2.1.4.
const (
	TLP1WhiteID = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	TLP1GreenID = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	TLP1AmberID = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
	TLP1RedID   = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
)

// TLPLevels lists the levels from least to most restrictive.
var TLPLevels = []TLP{TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed}

var tlpByID = map[string]TLP{
	TLPClearID: TLPClear, TLPGreenID: TLPGreen, TLPAmberID: TLPAmber,
	TLPAmberStrictID: TLPAmberStrict, TLPRedID: TLPRed,
	TLP1WhiteID: TLPClear, TLP1GreenID: TLPGreen, TLP1AmberID: TLPAmber, TLP1RedID: TLPRed,
}

var tlpInfo = map[TLP]struct{ name, ext, id string }{
	TLPClear:       {"TLP:CLEAR", "clear", TLPClearID},
	TLPGreen:       {"TLP:GREEN", "green", TLPGreenID},
	TLPAmber:       {"TLP:AMBER", "amber", TLPAmberID},
	TLPAmberStrict: {"TLP:AMBER+STRICT", "amber+strict", TLPAmberStrictID},
	TLPRed:         {"TLP:RED", "red", TLPRedID},
}

// String returns "TLP:CLEAR", "TLP:AMBER+STRICT", …; "" for TLPNone.
func (t TLP) String() string { return tlpInfo[t].name }

// Short returns the lower-case level name used by the TLP 2.0 extension
// ("clear", "amber+strict", …).
func (t TLP) Short() string { return tlpInfo[t].ext }

// Valid reports whether t is one of the five levels.
func (t TLP) Valid() bool { return t >= TLPClear && t <= TLPRed }

// MarkingID returns the TLP 2.0 marking-definition id.
func (t TLP) MarkingID() string { return tlpInfo[t].id }

// MarshalText implements encoding.TextMarshaler ("amber+strict").
func (t TLP) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("stix: invalid TLP %d", int(t))
	}
	return []byte(t.Short()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler via ParseTLP.
func (t *TLP) UnmarshalText(b []byte) error {
	v, err := ParseTLP(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTLP parses a TLP level: "clear", "TLP:GREEN", "amber+strict",
// "amber-strict", "red", case-insensitive; TLP 1.0 "white" maps to CLEAR.
// A marking-definition id of a TLP marking is also accepted.
func ParseTLP(s string) (TLP, error) {
	if t, ok := tlpByID[strings.TrimSpace(s)]; ok {
		return t, nil
	}
	v := strings.ToLower(strings.TrimSpace(s))
	v = strings.TrimPrefix(v, "tlp:")
	v = strings.TrimPrefix(v, "tlp-")
	switch v {
	case "clear", "white":
		return TLPClear, nil
	case "green":
		return TLPGreen, nil
	case "amber":
		return TLPAmber, nil
	case "amber+strict", "amber-strict", "amber_strict", "amberstrict":
		return TLPAmberStrict, nil
	case "red":
		return TLPRed, nil
	}
	return TLPNone, fmt.Errorf("stix: unknown TLP level %q", s)
}

// TLPFromMarkingID maps a TLP 2.0 or TLP 1.0 marking-definition id to its
// TLP 2.0 level.
func TLPFromMarkingID(id string) (TLP, bool) {
	t, ok := tlpByID[id]
	return t, ok
}

// IsTLPMarking reports whether id is a TLP 1.0 or 2.0 marking definition.
func IsTLPMarking(id string) bool {
	_, ok := tlpByID[id]
	return ok
}

// TLPOf returns the object's TLP level from its object_marking_refs (the
// most restrictive one if several are present); false if it has none.
func TLPOf(o *Object) (TLP, bool) {
	best := TLPNone
	for _, ref := range o.ObjectMarkingRefs {
		if t, ok := tlpByID[ref]; ok && t > best {
			best = t
		}
	}
	return best, best != TLPNone
}

// MarkingDefinition returns the TLP 2.0 marking-definition object, exactly
// as published by OASIS (cti-stix-common-objects, tlp-2.0).
func (t TLP) MarkingDefinition() *Object {
	inf, ok := tlpInfo[t]
	if !ok {
		return nil
	}
	o, err := NewObject(
		P("type", "marking-definition"),
		P("spec_version", "2.1"),
		P("id", inf.id),
		P("created", "2022-10-01T00:00:00.000Z"),
		P("name", inf.name),
		P("extensions", map[string]any{
			TLP2ExtensionID: map[string]string{
				"extension_type": "property-extension",
				"tlp_2_0":        inf.ext,
			},
		}),
	)
	if err != nil {
		panic(err)
	}
	return o
}

// TLPMarkingDefinitions returns the five TLP 2.0 marking definitions.
func TLPMarkingDefinitions() []*Object {
	out := make([]*Object, 0, len(TLPLevels))
	for _, t := range TLPLevels {
		out = append(out, t.MarkingDefinition())
	}
	return out
}

// UnknownMarkingRefs returns the marking-definition ids referenced by o
// (object_marking_refs and granular_markings[].marking_ref) that are neither
// TLP markings nor accepted by known (which may be nil).
func UnknownMarkingRefs(o *Object, known func(id string) bool) []string {
	var out []string
	check := func(ref string) {
		if ref == "" || IsTLPMarking(ref) || (known != nil && known(ref)) {
			return
		}
		for _, r := range out {
			if r == ref {
				return
			}
		}
		out = append(out, ref)
	}
	for _, r := range o.ObjectMarkingRefs {
		check(r)
	}
	for _, g := range o.GranularMarkings {
		check(g.MarkingRef)
	}
	return out
}
