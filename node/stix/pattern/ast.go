// Package pattern parses the STIX 2.1 Patterning Language (STIX 2.1 part 9).
//
// The parser is a hand-written recursive-descent parser that follows the
// OASIS STIXPattern.g4 grammar (STIX 2.1 edition): observation expressions
// joined by AND / OR / FOLLOWEDBY (FOLLOWEDBY binds loosest, AND tightest),
// qualifiers WITHIN / REPEATS / START…STOP that apply to the observation
// expression to their left, comparison expressions joined by AND / OR, all
// comparison operators (=, !=, <, <=, >, >=, IN, LIKE, MATCHES, ISSUBSET,
// ISSUPERSET, each optionally preceded by NOT, and EXISTS), object paths with
// quoted keys, list indices and [*], and all literal types.
//
// Keywords are case-sensitive (upper case; booleans are lower case), as in the
// grammar. Errors are reported as *SyntaxError with the byte offset, line and
// column of the offending token.
package pattern

// Pattern is a parsed STIX pattern.
type Pattern struct {
	Expr ObservationExpr
}

// Node is implemented by every AST node.
type Node interface {
	node()
}

// ObservationExpr is an observation expression: *Observation,
// *ObservationBinary, *ObservationGroup or *Qualified.
type ObservationExpr interface {
	Node
	observationExpr()
}

// ObsOp is an observation operator.
type ObsOp int

// Observation operators, in increasing binding strength.
const (
	ObsFollowedBy ObsOp = iota + 1
	ObsOr
	ObsAnd
)

func (o ObsOp) String() string {
	switch o {
	case ObsFollowedBy:
		return "FOLLOWEDBY"
	case ObsOr:
		return "OR"
	case ObsAnd:
		return "AND"
	}
	return "?"
}

// Observation is a simple observation expression: "[" comparison "]".
type Observation struct {
	Expr ComparisonExpr
}

// ObservationBinary is Left Op Right.
type ObservationBinary struct {
	Op          ObsOp
	Left, Right ObservationExpr
}

// ObservationGroup is a parenthesised observation expression.
type ObservationGroup struct {
	Expr ObservationExpr
}

// Qualified is an observation expression followed by a qualifier.
type Qualified struct {
	Expr      ObservationExpr
	Qualifier Qualifier
}

// Qualifier is *Within, *Repeats or *StartStop.
type Qualifier interface {
	Node
	qualifier()
}

// Within is "WITHIN n SECONDS"; Seconds is an *IntLit or a *FloatLit.
type Within struct {
	Seconds Literal
}

// Repeats is "REPEATS n TIMES".
type Repeats struct {
	Times int64
}

// StartStop is "START t'…' STOP t'…'".
type StartStop struct {
	Start, Stop *TimestampLit
}

// ComparisonExpr is *Comparison, *ComparisonBinary or *ComparisonGroup.
type ComparisonExpr interface {
	Node
	comparisonExpr()
}

// BoolOp joins comparison expressions.
type BoolOp int

// Boolean operators, in increasing binding strength.
const (
	BoolOr BoolOp = iota + 1
	BoolAnd
)

func (o BoolOp) String() string {
	if o == BoolAnd {
		return "AND"
	}
	return "OR"
}

// ComparisonBinary is Left Op Right.
type ComparisonBinary struct {
	Op          BoolOp
	Left, Right ComparisonExpr
}

// ComparisonGroup is a parenthesised comparison expression.
type ComparisonGroup struct {
	Expr ComparisonExpr
}

// CmpOp is a comparison operator.
type CmpOp int

// Comparison operators.
const (
	OpEq CmpOp = iota + 1
	OpNeq
	OpLt
	OpLe
	OpGt
	OpGe
	OpIn
	OpLike
	OpMatches
	OpIsSubset
	OpIsSuperset
	OpExists
)

var cmpOpNames = [...]string{
	OpEq: "=", OpNeq: "!=", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=",
	OpIn: "IN", OpLike: "LIKE", OpMatches: "MATCHES", OpIsSubset: "ISSUBSET",
	OpIsSuperset: "ISSUPERSET", OpExists: "EXISTS",
}

func (o CmpOp) String() string {
	if o > 0 && int(o) < len(cmpOpNames) {
		return cmpOpNames[o]
	}
	return "?"
}

// Comparison is a single property test: Path [NOT] Op Value, or EXISTS Path
// (then Value is nil). For IN, Value is a *SetLit.
type Comparison struct {
	Path    ObjectPath
	Negated bool
	Op      CmpOp
	Value   Literal
}

// ObjectPath is object-type ":" property path.
type ObjectPath struct {
	ObjectType string
	Steps      []PathStep // Steps[0] is always a key
}

// StepKind is the kind of a path step.
type StepKind int

// Path step kinds.
const (
	StepKey   StepKind = iota + 1 // .name or .'quoted name'
	StepIndex                     // [n]
	StepAny                       // [*]
)

// PathStep is one component of an object path.
type PathStep struct {
	Kind  StepKind
	Key   string // StepKey
	Index int64  // StepIndex
}

// Literal is one of *StringLit, *IntLit, *FloatLit, *BoolLit, *HexLit,
// *BinaryLit, *TimestampLit, *SetLit.
type Literal interface {
	Node
	literal()
}

// StringLit is a quoted string; Value is unescaped.
type StringLit struct{ Value string }

// IntLit is an integer literal.
type IntLit struct{ Value int64 }

// FloatLit is a floating point literal.
type FloatLit struct{ Value float64 }

// BoolLit is true or false.
type BoolLit struct{ Value bool }

// HexLit is h'…'.
type HexLit struct{ Value []byte }

// BinaryLit is b'…' (base64).
type BinaryLit struct{ Value []byte }

// TimestampLit is t'…'; Value is the text between the quotes, kept verbatim
// so the original precision survives.
type TimestampLit struct{ Value string }

// SetLit is ( lit, lit, … ), the right-hand side of IN.
type SetLit struct{ Values []Literal }

func (*Pattern) node()           {}
func (*Observation) node()       {}
func (*ObservationBinary) node() {}
func (*ObservationGroup) node()  {}
func (*Qualified) node()         {}
func (*Within) node()            {}
func (*Repeats) node()           {}
func (*StartStop) node()         {}
func (*ComparisonBinary) node()  {}
func (*ComparisonGroup) node()   {}
func (*Comparison) node()        {}
func (*StringLit) node()         {}
func (*IntLit) node()            {}
func (*FloatLit) node()          {}
func (*BoolLit) node()           {}
func (*HexLit) node()            {}
func (*BinaryLit) node()         {}
func (*TimestampLit) node()      {}
func (*SetLit) node()            {}

func (*Observation) observationExpr()       {}
func (*ObservationBinary) observationExpr() {}
func (*ObservationGroup) observationExpr()  {}
func (*Qualified) observationExpr()         {}

func (*Within) qualifier()    {}
func (*Repeats) qualifier()   {}
func (*StartStop) qualifier() {}

func (*ComparisonBinary) comparisonExpr() {}
func (*ComparisonGroup) comparisonExpr()  {}
func (*Comparison) comparisonExpr()       {}

func (*StringLit) literal()    {}
func (*IntLit) literal()       {}
func (*FloatLit) literal()     {}
func (*BoolLit) literal()      {}
func (*HexLit) literal()       {}
func (*BinaryLit) literal()    {}
func (*TimestampLit) literal() {}
func (*SetLit) literal()       {}

// Walk traverses the tree rooted at n in depth-first order, calling fn for
// each node; if fn returns false the children of that node are skipped.
func Walk(n Node, fn func(Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	switch n := n.(type) {
	case *Pattern:
		Walk(n.Expr, fn)
	case *Observation:
		Walk(n.Expr, fn)
	case *ObservationBinary:
		Walk(n.Left, fn)
		Walk(n.Right, fn)
	case *ObservationGroup:
		Walk(n.Expr, fn)
	case *Qualified:
		Walk(n.Expr, fn)
		Walk(n.Qualifier, fn)
	case *Within:
		Walk(n.Seconds, fn)
	case *StartStop:
		Walk(n.Start, fn)
		Walk(n.Stop, fn)
	case *ComparisonBinary:
		Walk(n.Left, fn)
		Walk(n.Right, fn)
	case *ComparisonGroup:
		Walk(n.Expr, fn)
	case *Comparison:
		if n.Value != nil {
			Walk(n.Value, fn)
		}
	case *SetLit:
		for _, v := range n.Values {
			Walk(v, fn)
		}
	}
}

// Comparisons returns every comparison in the pattern, in source order.
func (p *Pattern) Comparisons() []*Comparison {
	var out []*Comparison
	Walk(p, func(n Node) bool {
		if c, ok := n.(*Comparison); ok {
			out = append(out, c)
			return false
		}
		return true
	})
	return out
}

// PathString renders the property path without the object type, e.g.
// "hashes.'SHA-256'" or "body_multipart[*].body_raw_ref.name".
func (p ObjectPath) PathString() string {
	var b []byte
	for i, s := range p.Steps {
		b = appendStep(b, s, i == 0)
	}
	return string(b)
}

// KeyPath returns the path as a list of keys with list steps rendered as
// "[*]" or "[n]"; handy for matching, e.g. ["hashes", "SHA-256"].
func (p ObjectPath) KeyPath() []string {
	out := make([]string, 0, len(p.Steps))
	for _, s := range p.Steps {
		switch s.Kind {
		case StepKey:
			out = append(out, s.Key)
		case StepAny:
			out = append(out, "[*]")
		case StepIndex:
			out = append(out, "["+itoa(s.Index)+"]")
		}
	}
	return out
}
