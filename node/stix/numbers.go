package stix

import (
	"strconv"
	"strings"

	"github.com/gowebpki/jcs"
)

// The signed form of an object is its RFC 8785 canonicalisation, which
// writes every number as the shortest ECMAScript form of an IEEE 754
// double. A number that is not exactly such a double (a big integer, more
// digits than a double holds, 1e400) would be signed as a different value,
// so it is refused instead of being changed silently.

// lossyNumber is a number literal and what canonicalisation would make of
// it ("" if it cannot be canonicalised at all).
type lossyNumber struct {
	literal, canonical string
}

// lossyNumbers lists the number literals in a valid JSON value that do not
// survive canonicalisation exactly.
func lossyNumbers(raw []byte) []lossyNumber {
	var out []lossyNumber
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(raw) && strings.IndexByte("0123456789.eE+-", raw[j]) >= 0 {
				j++
			}
			lit := string(raw[i:j])
			if canon, ok := canonicalNumber(lit); !ok {
				out = append(out, lossyNumber{lit, canon})
			}
			i = j - 1
		}
	}
	return out
}

// canonicalNumber returns the RFC 8785 form of a JSON number literal and
// whether it denotes exactly the same value.
func canonicalNumber(lit string) (string, bool) {
	if plainSmallInt(lit) {
		return lit, true
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return "", false
	}
	canon, err := jcs.NumberToJSON(f)
	if err != nil {
		return "", false
	}
	a, okA := decimalOf(lit)
	b, okB := decimalOf(canon)
	return canon, okA && okB && a == b
}

// plainSmallInt: an integer of at most 15 digits is always an exact double
// written the same way (the common case, checked without parsing).
func plainSmallInt(lit string) bool {
	d := strings.TrimPrefix(lit, "-")
	if d == "" || len(d) > 15 || (d[0] == '0' && len(d) > 1) || d == "0" && lit != d {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// decimal is a number as sign, significant digits and exponent: the value
// is 0.digits × 10^exp. Zero is the empty digits (either sign).
type decimal struct {
	neg    bool
	digits string
	exp    int
}

func decimalOf(s string) (decimal, bool) {
	var d decimal
	if strings.HasPrefix(s, "-") {
		d.neg, s = true, s[1:]
	}
	mant, expPart, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expPart)
		if err != nil || e > 1<<20 || e < -(1<<20) {
			return d, false
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	exp += len(intPart)
	for len(digits) > 0 && digits[0] == '0' {
		digits, exp = digits[1:], exp-1
	}
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return decimal{}, true
	}
	d.digits, d.exp = digits, exp
	return d, true
}
