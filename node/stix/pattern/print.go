package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/kurier/kurier/node/stix/internal/stixtime"
)

// String renders the pattern in canonical form; parsing the result yields
// an equal AST.
func (p *Pattern) String() string {
	var b strings.Builder
	writeObs(&b, p.Expr, 0)
	return b.String()
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// EscapeString quotes s as a STIX pattern string literal.
func EscapeString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

func obsPrec(e ObservationExpr) int {
	if b, ok := e.(*ObservationBinary); ok {
		return int(b.Op)
	}
	return 10
}

func writeObs(b *strings.Builder, e ObservationExpr, minPrec int) {
	if obsPrec(e) < minPrec {
		b.WriteByte('(')
		writeObs(b, e, 0)
		b.WriteByte(')')
		return
	}
	switch e := e.(type) {
	case *Observation:
		b.WriteByte('[')
		writeCmp(b, e.Expr, 0)
		b.WriteByte(']')
	case *ObservationGroup:
		b.WriteByte('(')
		writeObs(b, e.Expr, 0)
		b.WriteByte(')')
	case *ObservationBinary:
		writeObs(b, e.Left, int(e.Op))
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		writeObs(b, e.Right, int(e.Op)+1)
	case *Qualified:
		writeObs(b, e.Expr, 10)
		b.WriteByte(' ')
		b.WriteString(QualifierString(e.Qualifier))
	}
}

// QualifierString renders a qualifier, e.g. "WITHIN 5 SECONDS".
func QualifierString(q Qualifier) string {
	switch q := q.(type) {
	case *Within:
		return "WITHIN " + LiteralString(q.Seconds) + " SECONDS"
	case *Repeats:
		return "REPEATS " + itoa(q.Times) + " TIMES"
	case *StartStop:
		return "START " + LiteralString(q.Start) + " STOP " + LiteralString(q.Stop)
	}
	return ""
}

func cmpPrec(e ComparisonExpr) int {
	if b, ok := e.(*ComparisonBinary); ok {
		return int(b.Op)
	}
	return 10
}

func writeCmp(b *strings.Builder, e ComparisonExpr, minPrec int) {
	if cmpPrec(e) < minPrec {
		b.WriteByte('(')
		writeCmp(b, e, 0)
		b.WriteByte(')')
		return
	}
	switch e := e.(type) {
	case *ComparisonGroup:
		b.WriteByte('(')
		writeCmp(b, e.Expr, 0)
		b.WriteByte(')')
	case *ComparisonBinary:
		writeCmp(b, e.Left, int(e.Op))
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		writeCmp(b, e.Right, int(e.Op)+1)
	case *Comparison:
		b.WriteString(e.String())
	}
}

// String renders the comparison, e.g. "file:hashes.'SHA-256' = 'ab…'".
func (c *Comparison) String() string {
	if c.Op == OpExists {
		return "EXISTS " + c.Path.String()
	}
	s := c.Path.String()
	if c.Negated {
		s += " NOT"
	}
	return s + " " + c.Op.String() + " " + LiteralString(c.Value)
}

// String renders the object path, e.g. "file:hashes.'SHA-256'".
func (p ObjectPath) String() string {
	return p.ObjectType + ":" + p.PathString()
}

func bareKey(k string) bool {
	if k == "" || !isIdentStart(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isIdentChar(k[i]) || k[i] == '-' {
			return false
		}
	}
	if _, kw := keywords[k]; kw || k == "true" || k == "false" {
		return false
	}
	return true
}

func appendStep(b []byte, s PathStep, first bool) []byte {
	switch s.Kind {
	case StepKey:
		if !first {
			b = append(b, '.')
		}
		if bareKey(s.Key) {
			b = append(b, s.Key...)
		} else {
			b = append(b, EscapeString(s.Key)...)
		}
	case StepAny:
		b = append(b, "[*]"...)
	case StepIndex:
		b = append(b, '[')
		b = strconv.AppendInt(b, s.Index, 10)
		b = append(b, ']')
	}
	return b
}

// LiteralString renders a literal in pattern syntax.
func LiteralString(l Literal) string {
	switch l := l.(type) {
	case *StringLit:
		return EscapeString(l.Value)
	case *IntLit:
		return itoa(l.Value)
	case *FloatLit:
		s := strconv.FormatFloat(l.Value, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	case *BoolLit:
		return strconv.FormatBool(l.Value)
	case *HexLit:
		return "h'" + hex.EncodeToString(l.Value) + "'"
	case *BinaryLit:
		return "b'" + base64.StdEncoding.EncodeToString(l.Value) + "'"
	case *TimestampLit:
		return "t'" + l.Value + "'"
	case *SetLit:
		var b strings.Builder
		b.WriteByte('(')
		for i, v := range l.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(LiteralString(v))
		}
		b.WriteByte(')')
		return b.String()
	}
	return ""
}

// Time returns the timestamp's time (zero if the literal is malformed,
// which cannot happen for a parsed literal).
func (t *TimestampLit) Time() time.Time {
	v, _, _ := stixtime.Parse(t.Value)
	return v
}

// StringValue returns the literal's value when it is a string literal.
func StringValue(l Literal) (string, bool) {
	if s, ok := l.(*StringLit); ok {
		return s.Value, true
	}
	return "", false
}
