package stix

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeErrorNamesObjectAndProperty: a malformed bundle's error names
// the object (index and, when read before the problem, id) and property.
func TestDecodeErrorNamesObjectAndProperty(t *testing.T) {
	const id0 = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
	const id1 = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd40"
	ok := `{"type":"indicator","id":"` + id0 + `","name":"fine"}`
	for _, tc := range []struct {
		name, bundle  string
		index         int
		id, property  string
		tooLarge, loc bool
	}{
		{"syntax in a property", `{"type":"bundle","id":"bundle--1","objects":[` + ok + `,{"type":"indicator","id":"` + id1 + `","pattern":[ipv4}]}`, 1, id1, "pattern", false, true},
		{"truncated", `{"type":"bundle","objects":[` + ok + `,` + ok + `,{"id":"` + id1 + `","name":"abc`, 2, id1, "name", false, true},
		{"duplicate property", `{"type":"bundle","objects":[{"type":"indicator","id":"` + id1 + `","name":"a","name":"b"}]}`, 0, id1, "name", false, false},
		{"oversized object", `{"type":"bundle","objects":[` + ok + `,{"type":"indicator","id":"` + id1 + `","x_pad":"` + strings.Repeat("a", DefaultLimits.MaxObjectBytes) + `"}]}`, 1, id1, "", true, false},
		{"bundle property", `{"type":"bundle","id":tru}`, -1, "", "id", false, true},
	} {
		_, err := DecodeBundle(strings.NewReader(tc.bundle))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("%s: error %v is no DecodeError", tc.name, err)
		}
		if tc.loc {
			de.Locate([]byte(tc.bundle))
		}
		if de.Index != tc.index || de.ID != tc.id || de.Property != tc.property || errors.Is(err, ErrTooLarge) != tc.tooLarge {
			t.Errorf("%s: index %d id %q property %q tooLarge %v; want %d %q %q %v (%v)", tc.name,
				de.Index, de.ID, de.Property, errors.Is(err, ErrTooLarge), tc.index, tc.id, tc.property, tc.tooLarge, err)
		}
	}
	// A lone object.
	in := `{"type":"indicator","id":"` + id1 + `","pattern":}`
	_, err := DecodeObject([]byte(in))
	var de *DecodeError
	if !errors.As(err, &de) || de.ID != id1 || de.Property != "pattern" {
		t.Errorf("lone object: %+v", err)
	}
}
