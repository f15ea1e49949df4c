package stix

import (
	"strings"
	"testing"

	"github.com/kurier/kurier/node/seal"
)

func TestCanonicalNumber(t *testing.T) {
	for _, tc := range []struct {
		lit  string
		same bool
	}{
		{"0", true}, {"-0", true}, {"7", true}, {"-42", true}, {"100", true}, {"1.0", true}, {"2.5", true},
		{"1e3", true}, {"1E+3", true}, {"0.1", true}, {"-0.000001", true}, {"1e-7", true},
		{"123456789012345", true}, {"9007199254740992", true}, {"1.7976931348623157e308", true},
		{"9007199254740993", false}, // 2^53+1 is no double
		{"12345678901234567890123", false},
		{"0.1000000000000000000001", false},
		{"1e400", false}, {"-1e400", false}, {"1e-400", false},
		{"3.141592653589793238", false},
	} {
		canon, same := canonicalNumber(tc.lit)
		if same != tc.same {
			t.Errorf("%s: canonical %q, same=%v, want %v", tc.lit, canon, same, tc.same)
			continue
		}
		if !same {
			continue
		}
		// Cross-check with the canonicaliser that signs objects.
		got, err := seal.Canonicalize([]byte("[" + tc.lit + "]"))
		if err != nil || string(got) != "["+canon+"]" {
			t.Errorf("%s: seal canonical %s %v, want [%s]", tc.lit, got, err, canon)
		}
	}
}

// TestLossyNumberRejected: a custom property holding a number the signed
// canonical form would change is a validation error naming the property;
// numbers inside strings are not numbers.
func TestLossyNumberRejected(t *testing.T) {
	base := `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` +
		`"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '192.0.2.1']",` +
		`"pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"`
	for _, tc := range []struct {
		extra, prop string
	}{
		{`,"x_big":12345678901234567890123`, "x_big"},
		{`,"x_deep":{"a":[1,"12345678901234567890123",{"b":1e400}]}`, "x_deep"},
		{`,"x_ok":{"s":"1e400 \" 12345678901234567890123","n":[1.5,-2,1e21]}`, ""},
	} {
		o, err := DecodeObject([]byte(base + tc.extra + "}"))
		if err != nil {
			t.Fatalf("%s: %v", tc.extra, err)
		}
		r := Check(o, nil)
		var got []string
		for _, e := range r.Errors {
			if strings.Contains(e.Reason, "RFC 8785") {
				got = append(got, e.Property)
			}
		}
		if tc.prop == "" {
			if len(r.Errors) != 0 {
				t.Errorf("%s: %v", tc.extra, r.Err())
			}
			continue
		}
		if len(got) != 1 || got[0] != tc.prop {
			t.Errorf("%s: number errors on %v (all: %v), want %s", tc.extra, got, r.Err(), tc.prop)
		}
	}
}
