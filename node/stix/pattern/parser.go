package pattern

import (
	"errors"
	"fmt"

	"github.com/kurier/kurier/node/stix/internal/stixtime"
)

// MaxDepth bounds the nesting of parentheses, brackets and qualifiers.
const MaxDepth = 256

// MaxLength bounds the length of a pattern in bytes.
const MaxLength = 1 << 20

type parser struct {
	lex   lexer
	tok   token
	depth int
}

// bail is used with panic/recover to unwind on the first error; it never
// escapes Parse.
type bail struct{ err *SyntaxError }

// Parse parses a STIX 2.1 pattern. Errors are *SyntaxError.
func Parse(s string) (p *Pattern, err error) {
	if len(s) > MaxLength {
		return nil, newSyntaxError(s, 0, fmt.Sprintf("pattern longer than %d bytes", MaxLength))
	}
	ps := &parser{lex: lexer{src: s}}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				panic(r)
			}
			p, err = nil, b.err
		}
	}()
	ps.advance()
	if ps.tok.kind == tEOF {
		ps.fail(ps.tok.pos, "empty pattern")
	}
	expr := ps.observationExprs()
	if ps.tok.kind != tEOF {
		ps.unexpected("AND, OR, FOLLOWEDBY, a qualifier or end of pattern")
	}
	return &Pattern{Expr: expr}, nil
}

// MustParse is like Parse but panics on error; for tests and constants.
func MustParse(s string) *Pattern {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// AsSyntaxError extracts a *SyntaxError from err.
func AsSyntaxError(err error) (*SyntaxError, bool) {
	var se *SyntaxError
	ok := errors.As(err, &se)
	return se, ok
}

func (p *parser) fail(pos int, msg string) {
	panic(bail{newSyntaxError(p.lex.src, pos, msg)})
}

func (p *parser) advance() {
	t, err := p.lex.next()
	if err != nil {
		panic(bail{err})
	}
	p.tok = t
}

func (p *parser) unexpected(want string) {
	p.fail(p.tok.pos, fmt.Sprintf("expected %s, found %s", want, p.tok.describe()))
}

func (p *parser) expect(k tokKind, want string) token {
	if p.tok.kind != k {
		p.unexpected(want)
	}
	t := p.tok
	p.advance()
	return t
}

func (p *parser) enter() {
	p.depth++
	if p.depth > MaxDepth {
		p.fail(p.tok.pos, "pattern nested too deeply")
	}
}

func (p *parser) leave() { p.depth-- }

// observationExprs: observationExprOr (FOLLOWEDBY observationExprOr)*
func (p *parser) observationExprs() ObservationExpr {
	left := p.observationOr()
	for p.tok.kind == tFOLLOWEDBY {
		p.advance()
		right := p.observationOr()
		left = &ObservationBinary{Op: ObsFollowedBy, Left: left, Right: right}
	}
	return left
}

func (p *parser) observationOr() ObservationExpr {
	left := p.observationAnd()
	for p.tok.kind == tOR {
		p.advance()
		right := p.observationAnd()
		left = &ObservationBinary{Op: ObsOr, Left: left, Right: right}
	}
	return left
}

func (p *parser) observationAnd() ObservationExpr {
	left := p.observationQualified()
	for p.tok.kind == tAND {
		p.advance()
		right := p.observationQualified()
		left = &ObservationBinary{Op: ObsAnd, Left: left, Right: right}
	}
	return left
}

func (p *parser) observationQualified() ObservationExpr {
	e := p.observationPrimary()
	n := 0
	for {
		var q Qualifier
		switch p.tok.kind {
		case tWITHIN:
			p.advance()
			t := p.tok
			switch {
			case t.kind == tInt && !t.neg && t.i > 0:
				q = &Within{Seconds: &IntLit{Value: t.i}}
			case t.kind == tFloat && !t.neg && t.f > 0:
				q = &Within{Seconds: &FloatLit{Value: t.f}}
			case (t.kind == tInt || t.kind == tFloat):
				p.fail(t.pos, "WITHIN requires a positive number of seconds")
			default:
				p.unexpected("a number of seconds after WITHIN")
			}
			p.advance()
			p.expect(tSECONDS, "SECONDS")
		case tREPEATS:
			p.advance()
			t := p.tok
			if t.kind != tInt {
				p.unexpected("an integer after REPEATS")
			}
			if t.neg || t.i <= 0 {
				p.fail(t.pos, "REPEATS requires a positive integer")
			}
			p.advance()
			p.expect(tTIMES, "TIMES")
			q = &Repeats{Times: t.i}
		case tSTART:
			p.advance()
			st := p.expect(tTimestamp, "a timestamp literal t'…' after START")
			p.expect(tSTOP, "STOP")
			sp := p.tok
			p.expect(tTimestamp, "a timestamp literal t'…' after STOP")
			a, _, _ := stixtime.Parse(st.str)
			b, _, _ := stixtime.Parse(sp.str)
			if !b.After(a) {
				p.fail(sp.pos, "STOP timestamp must be later than START timestamp")
			}
			q = &StartStop{Start: &TimestampLit{Value: st.str}, Stop: &TimestampLit{Value: sp.str}}
		default:
			return e
		}
		n++
		if n > MaxDepth {
			p.fail(p.tok.pos, "too many qualifiers")
		}
		e = &Qualified{Expr: e, Qualifier: q}
	}
}

func (p *parser) observationPrimary() ObservationExpr {
	switch p.tok.kind {
	case tLBrack:
		p.enter()
		p.advance()
		c := p.comparisonOr()
		p.expect(tRBrack, "']' or AND/OR")
		p.leave()
		return &Observation{Expr: c}
	case tLParen:
		p.enter()
		p.advance()
		e := p.observationExprs()
		p.expect(tRParen, "')' or AND/OR/FOLLOWEDBY/qualifier")
		p.leave()
		return &ObservationGroup{Expr: e}
	}
	p.unexpected("'[' or '(' to start an observation expression")
	return nil
}

func (p *parser) comparisonOr() ComparisonExpr {
	left := p.comparisonAnd()
	for p.tok.kind == tOR {
		p.advance()
		right := p.comparisonAnd()
		left = &ComparisonBinary{Op: BoolOr, Left: left, Right: right}
	}
	return left
}

func (p *parser) comparisonAnd() ComparisonExpr {
	left := p.propTest()
	for p.tok.kind == tAND {
		p.advance()
		right := p.propTest()
		left = &ComparisonBinary{Op: BoolAnd, Left: left, Right: right}
	}
	return left
}

func (p *parser) propTest() ComparisonExpr {
	switch p.tok.kind {
	case tLParen:
		p.enter()
		p.advance()
		c := p.comparisonOr()
		p.expect(tRParen, "')' or AND/OR")
		p.leave()
		return &ComparisonGroup{Expr: c}
	case tEXISTS:
		p.advance()
		return &Comparison{Path: p.objectPath(), Op: OpExists}
	}
	path := p.objectPath()
	c := &Comparison{Path: path}
	if p.tok.kind == tNOT {
		c.Negated = true
		p.advance()
	}
	opTok := p.tok
	switch opTok.kind {
	case tEQ, tNEQ:
		c.Op = map[tokKind]CmpOp{tEQ: OpEq, tNEQ: OpNeq}[opTok.kind]
		p.advance()
		c.Value = p.literal("a literal")
	case tLT, tLE, tGT, tGE:
		c.Op = map[tokKind]CmpOp{tLT: OpLt, tLE: OpLe, tGT: OpGt, tGE: OpGe}[opTok.kind]
		p.advance()
		if p.tok.kind == tBool {
			p.fail(p.tok.pos, "ordering comparison requires an orderable literal, not a boolean")
		}
		c.Value = p.literal("an orderable literal")
	case tIN:
		c.Op = OpIn
		p.advance()
		c.Value = p.setLiteral()
	case tLIKE, tMATCHES, tISSUBSET, tISSUPERSET:
		c.Op = map[tokKind]CmpOp{tLIKE: OpLike, tMATCHES: OpMatches, tISSUBSET: OpIsSubset, tISSUPERSET: OpIsSuperset}[opTok.kind]
		p.advance()
		t := p.expect(tString, fmt.Sprintf("a string literal after %s", c.Op))
		c.Value = &StringLit{Value: t.str}
	default:
		if c.Negated {
			p.unexpected("a comparison operator after NOT")
		}
		p.unexpected("a comparison operator (=, !=, <, <=, >, >=, IN, LIKE, MATCHES, ISSUBSET, ISSUPERSET)")
	}
	return c
}

func (p *parser) objectPath() ObjectPath {
	t := p.expect(tIdent, "an object type (e.g. file, ipv4-addr)")
	var path ObjectPath
	path.ObjectType = t.text
	p.expect(tColon, "':' after object type")
	switch {
	case p.tok.kind == tIdent && !p.tok.hyphen:
		path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.text})
	case p.tok.kind == tString:
		path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.str})
	case p.tok.kind == tIdent:
		p.fail(p.tok.pos, fmt.Sprintf("property name %s contains '-'; quote it as '%s'", p.tok.describe(), p.tok.text))
	default:
		p.unexpected("a property name")
	}
	p.advance()
	for {
		switch p.tok.kind {
		case tDot:
			p.advance()
			switch {
			case p.tok.kind == tIdent && !p.tok.hyphen:
				path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.text})
			case p.tok.kind == tString:
				path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.str})
			case p.tok.kind == tIdent:
				p.fail(p.tok.pos, fmt.Sprintf("property name %s contains '-'; quote it as '%s'", p.tok.describe(), p.tok.text))
			default:
				p.unexpected("a property name after '.'")
			}
			p.advance()
		case tLBrack:
			p.advance()
			switch p.tok.kind {
			case tAsterisk:
				path.Steps = append(path.Steps, PathStep{Kind: StepAny})
			case tInt:
				path.Steps = append(path.Steps, PathStep{Kind: StepIndex, Index: p.tok.i})
			default:
				p.unexpected("a list index or '*'")
			}
			p.advance()
			p.expect(tRBrack, "']' after list index")
		default:
			if len(path.Steps) > 4096 {
				p.fail(p.tok.pos, "object path too long")
			}
			return path
		}
	}
}

func (p *parser) setLiteral() Literal {
	p.expect(tLParen, "'(' to start a set after IN")
	set := &SetLit{}
	if p.tok.kind == tRParen {
		p.advance()
		return set
	}
	for {
		set.Values = append(set.Values, p.literal("a literal in set"))
		if p.tok.kind == tComma {
			p.advance()
			continue
		}
		p.expect(tRParen, "',' or ')' in set")
		return set
	}
}

func (p *parser) literal(want string) Literal {
	t := p.tok
	var lit Literal
	switch t.kind {
	case tString:
		lit = &StringLit{Value: t.str}
	case tInt:
		lit = &IntLit{Value: t.i}
	case tFloat:
		lit = &FloatLit{Value: t.f}
	case tBool:
		lit = &BoolLit{Value: t.b}
	case tHex:
		lit = &HexLit{Value: t.bytes}
	case tBinary:
		lit = &BinaryLit{Value: t.bytes}
	case tTimestamp:
		lit = &TimestampLit{Value: t.str}
	default:
		p.unexpected(want)
	}
	p.advance()
	return lit
}
