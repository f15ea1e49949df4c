package pattern

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// grammarKeywords are the keyword tokens of the STIX 2.1 patterning
// grammar (oasis-open/cti-stix2-json-schemas, pattern_grammar/STIXPattern.g4),
// in its order; true and false are its BoolLiteral.
var grammarKeywords = []string{
	"AND", "OR", "NOT", "FOLLOWEDBY", "LIKE", "MATCHES", "ISSUPERSET", "ISSUBSET",
	"EXISTS", "LAST", "IN", "START", "STOP", "SECONDS", "WITHIN", "REPEATS", "TIMES",
}

// TestKeywordsAreTheGrammars: the lexer knows exactly the grammar's
// keywords, no more (a keyword outside it would refuse valid patterns
// using that word as a property name) and no fewer.
func TestKeywordsAreTheGrammars(t *testing.T) {
	var got []string
	for k := range keywords {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Clone(grammarKeywords)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("lexer keywords %v, grammar keywords %v", got, want)
	}
	// Every keyword is reserved: unquoted it is not a property name, quoted
	// it is, and String quotes it again.
	for _, k := range append(slices.Clone(grammarKeywords), "true", "false") {
		if _, err := Parse("[a:" + k + " = 1]"); err == nil {
			t.Errorf("[a:%s = 1] parsed; the grammar reserves %s", k, k)
		}
		src := "[a:'" + k + "' = 1]"
		p, err := Parse(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if s := p.String(); s != src {
			t.Errorf("String() = %q, want %q", s, src)
		}
	}
	// Case-sensitive, and only whole words: these are identifiers.
	for _, src := range []string{`[a:last = 1]`, `[a:LASTING = 1]`, `[LAST-x:a = 1]`, `[a:Exists = 1]`, `[a:b = 1 AND a:TRUE = 2]`} {
		if _, err := Parse(src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestGrammarCoverage parses one pattern per keyword and literal rule of
// the grammar and checks the tree it gives, then the String round trip.
func TestGrammarCoverage(t *testing.T) {
	cmp := func(p *Pattern) *Comparison {
		cs := p.Comparisons()
		if len(cs) != 1 {
			return nil
		}
		return cs[0]
	}
	value := func(want Literal) func(*Pattern) bool {
		return func(p *Pattern) bool { c := cmp(p); return c != nil && reflect.DeepEqual(c.Value, want) }
	}
	op := func(want CmpOp, negated bool) func(*Pattern) bool {
		return func(p *Pattern) bool { c := cmp(p); return c != nil && c.Op == want && c.Negated == negated }
	}
	qual := func(want Qualifier) func(*Pattern) bool {
		return func(p *Pattern) bool {
			q, ok := p.Expr.(*Qualified)
			return ok && reflect.DeepEqual(q.Qualifier, want)
		}
	}
	obs := func(want ObsOp) func(*Pattern) bool {
		return func(p *Pattern) bool { b, ok := p.Expr.(*ObservationBinary); return ok && b.Op == want }
	}
	boolean := func(want BoolOp) func(*Pattern) bool {
		return func(p *Pattern) bool {
			o, ok := p.Expr.(*Observation)
			if !ok {
				return false
			}
			b, ok := o.Expr.(*ComparisonBinary)
			return ok && b.Op == want
		}
	}
	steps := func(want ...PathStep) func(*Pattern) bool {
		return func(p *Pattern) bool { c := cmp(p); return c != nil && reflect.DeepEqual(c.Path.Steps, want) }
	}
	cases := []struct {
		rule, src string
		check     func(*Pattern) bool
	}{
		{"IntPosLiteral", `[a:b = 7]`, value(&IntLit{7})},
		{"IntPosLiteral with +", `[a:b = +7]`, value(&IntLit{7})},
		{"IntPosLiteral 0", `[a:b = 0]`, value(&IntLit{0})},
		{"IntNegLiteral", `[a:b = -7]`, value(&IntLit{-7})},
		{"IntNegLiteral -0", `[a:b = -0]`, value(&IntLit{0})},
		{"FloatPosLiteral", `[a:b = 1.25]`, value(&FloatLit{1.25})},
		{"FloatPosLiteral no integer part", `[a:b = +.5]`, value(&FloatLit{0.5})},
		{"FloatNegLiteral", `[a:b = -1.5]`, value(&FloatLit{-1.5})},
		{"FloatNegLiteral no integer part", `[a:b = -.5]`, value(&FloatLit{-0.5})},
		{"HexLiteral", `[a:b = h'0aFF']`, value(&HexLit{[]byte{0x0a, 0xff}})},
		{"HexLiteral empty", `[a:b = h'']`, value(&HexLit{[]byte{}})},
		{"BinaryLiteral", `[a:b = b'AQIDBA==']`, value(&BinaryLit{[]byte{1, 2, 3, 4}})},
		{"BinaryLiteral one pad", `[a:b = b'AQI=']`, value(&BinaryLit{[]byte{1, 2}})},
		{"BinaryLiteral no pad", `[a:b = b'AQID']`, value(&BinaryLit{[]byte{1, 2, 3}})},
		{"StringLiteral with escapes", `[a:b = 'it\'s \\ x']`, value(&StringLit{`it's \ x`})},
		{"BoolLiteral true", `[a:b = true]`, value(&BoolLit{true})},
		{"BoolLiteral false", `[a:b != false]`, value(&BoolLit{false})},
		{"TimestampLiteral", `[a:b = t'2016-06-01T00:00:00Z']`, value(&TimestampLit{"2016-06-01T00:00:00Z"})},
		{"TimestampLiteral fraction", `[a:b = t'2016-06-01T00:00:00.123456789Z']`, value(&TimestampLit{"2016-06-01T00:00:00.123456789Z"})},
		{"TimestampLiteral leap second", `[a:b = t'2016-12-31T23:59:60Z']`, value(&TimestampLit{"2016-12-31T23:59:60Z"})},
		{"EQ =", `[a:b = 1]`, op(OpEq, false)},
		{"EQ ==", `[a:b == 1]`, op(OpEq, false)},
		{"NEQ !=", `[a:b != 1]`, op(OpNeq, false)},
		{"NEQ <>", `[a:b <> 1]`, op(OpNeq, false)},
		{"LT", `[a:b < 1]`, op(OpLt, false)},
		{"LE", `[a:b <= 1]`, op(OpLe, false)},
		{"GT", `[a:b > 1]`, op(OpGt, false)},
		{"GE", `[a:b >= t'2016-06-01T00:00:00Z']`, op(OpGe, false)},
		{"NOT with order", `[a:b NOT < 1]`, op(OpLt, true)},
		{"IN", `[a:b IN ('x', 1, true)]`, value(&SetLit{[]Literal{&StringLit{"x"}, &IntLit{1}, &BoolLit{true}}})},
		{"IN empty set", `[a:b IN ()]`, value(&SetLit{})},
		{"NOT IN", `[a:b NOT IN ('x')]`, op(OpIn, true)},
		{"LIKE", `[a:b LIKE 'x%']`, op(OpLike, false)},
		{"NOT LIKE", `[a:b NOT LIKE 'x%']`, op(OpLike, true)},
		{"MATCHES", `[a:b MATCHES '^x$']`, op(OpMatches, false)},
		{"NOT MATCHES", `[a:b NOT MATCHES '^x$']`, op(OpMatches, true)},
		{"ISSUBSET", `[a:b ISSUBSET '10.0.0.0/8']`, op(OpIsSubset, false)},
		{"NOT ISSUBSET", `[a:b NOT ISSUBSET '10.0.0.0/8']`, op(OpIsSubset, true)},
		{"ISSUPERSET", `[a:b ISSUPERSET '10.0.0.1']`, op(OpIsSuperset, false)},
		{"NOT ISSUPERSET", `[a:b NOT ISSUPERSET '10.0.0.1']`, op(OpIsSuperset, true)},
		{"EXISTS", `[EXISTS a:b.c]`, op(OpExists, false)},
		{"AND in comparison", `[a:b = 1 AND a:c = 2]`, boolean(BoolAnd)},
		{"OR in comparison", `[a:b = 1 OR a:c = 2]`, boolean(BoolOr)},
		{"AND of observations", `[a:b = 1] AND [a:c = 2]`, obs(ObsAnd)},
		{"OR of observations", `[a:b = 1] OR [a:c = 2]`, obs(ObsOr)},
		{"FOLLOWEDBY", `[a:b = 1] FOLLOWEDBY [a:c = 2]`, obs(ObsFollowedBy)},
		{"WITHIN int SECONDS", `[a:b = 1] WITHIN 300 SECONDS`, qual(&Within{Seconds: &IntLit{300}})},
		{"WITHIN +int SECONDS", `[a:b = 1] WITHIN +300 SECONDS`, qual(&Within{Seconds: &IntLit{300}})},
		{"WITHIN float SECONDS", `[a:b = 1] WITHIN 2.5 SECONDS`, qual(&Within{Seconds: &FloatLit{2.5}})},
		{"REPEATS n TIMES", `[a:b = 1] REPEATS 5 TIMES`, qual(&Repeats{Times: 5})},
		{"REPEATS +n TIMES", `[a:b = 1] REPEATS +5 TIMES`, qual(&Repeats{Times: 5})},
		{"START STOP", `[a:b = 1] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00.5Z'`,
			qual(&StartStop{Start: &TimestampLit{"2016-06-01T00:00:00Z"}, Stop: &TimestampLit{"2016-07-01T00:00:00.5Z"}})},
		{"keyPathStep identifier and string", `[a:b.c.'d-e' = 1]`, steps(PathStep{Kind: StepKey, Key: "b"}, PathStep{Kind: StepKey, Key: "c"}, PathStep{Kind: StepKey, Key: "d-e"})},
		{"firstPathComponent string", `[a:'b c' = 1]`, steps(PathStep{Kind: StepKey, Key: "b c"})},
		{"indexPathStep", `[a:b[0][-1][+2][*] = 1]`, steps(PathStep{Kind: StepKey, Key: "b"}, PathStep{Kind: StepIndex, Index: 0},
			PathStep{Kind: StepIndex, Index: -1}, PathStep{Kind: StepIndex, Index: 2}, PathStep{Kind: StepAny})},
		{"objectType with hyphen", `[x-usb-device:serial_no = '1']`, func(p *Pattern) bool { c := cmp(p); return c != nil && c.Path.ObjectType == "x-usb-device" }},
		{"WS and comments", "[a:b\u3000=\u2028 1] /* c */ // line\n", op(OpEq, false)},
	}
	for _, c := range cases {
		p, err := Parse(c.src)
		if err != nil {
			t.Errorf("%s: %s: %v", c.rule, c.src, err)
			continue
		}
		if !c.check(p) {
			t.Errorf("%s: %s: unexpected tree, String() = %s", c.rule, c.src, p.String())
		}
		p2, err := Parse(p.String())
		if err != nil || !reflect.DeepEqual(p, p2) {
			t.Errorf("%s: String() %q does not parse back to the same tree (%v)", c.rule, p.String(), err)
		}
	}
}

// TestGrammarRejects: inputs the grammar has no derivation for.
func TestGrammarRejects(t *testing.T) {
	for _, src := range []string{
		`[a:b = 1] LAST 5 SECONDS`,   // LAST is reserved, in no rule
		`[a:b = 1] WITHIN 5 MINUTES`, // SECONDS is the only unit in 2.1
		`[a:b = 1] START '2016-06-01T00:00:00Z' STOP '2016-07-01T00:00:00Z'`, // timestamps need t''
		`[a:b = 1] REPEATS 1.5 TIMES`,                                        // IntPosLiteral only
		`[a:b = 1] WITHIN -5 SECONDS`,                                        // positive only
		`[NOT EXISTS a:b]`,                                                   // EXISTS takes no NOT
		`[a:b LIKE 5]`,                                                       // LIKE takes a StringLiteral
		`[a:b ISSUBSET h'00']`,                                               // ISSUBSET takes a StringLiteral
		`[a:b > true]`,                                                       // booleans are not orderable
		`[a:b = b'']`,                                                        // BinaryLiteral has at least one group
		`[a:b = b'A===']`,                                                    // padding is = or == after 3 or 2 chars
		`[a:b = h'a']`,                                                       // TwoHexDigits
		`[a:b = t'2016-06-01T00:00:00+00:00']`,                               // Z only
		`[a:b = 1.]`,                                                         // digits after the dot
		`[a:b = 1e3]`,                                                        // no exponent
		`[a:b = 01]`,                                                         // no leading zero
		`[a:b-c = 1]`,                                                        // property names have no hyphen unquoted
		`[a:b = "x"]`,                                                        // strings use single quotes
		`[a:b = 1] ^ [a:b = 2]`,                                              // POWER_OP is in no rule
		`[a:b = 1] / [a:b = 2]`,                                              // DIVIDE is in no rule
		`[a:b = 1] and [a:b = 2]`,                                            // keywords are case-sensitive
		`[a:b = TRUE]`,                                                       // so are booleans
	} {
		if _, err := Parse(src); err == nil {
			t.Errorf("%s parsed; the grammar has no derivation for it", src)
		} else if _, ok := AsSyntaxError(err); !ok || !strings.Contains(err.Error(), "pattern syntax error") {
			t.Errorf("%s: %v is not a positioned syntax error", src, err)
		}
	}
}
