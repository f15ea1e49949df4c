package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kurier/kurier/node/stix/internal/stixtime"
)

// SyntaxError is a pattern syntax error at a position in the input.
type SyntaxError struct {
	Offset int // byte offset of the offending token, 0-based
	Line   int // 1-based
	Column int // 1-based, in bytes
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("pattern syntax error at line %d, column %d (offset %d): %s", e.Line, e.Column, e.Offset, e.Msg)
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tFloat
	tBool
	tHex
	tBinary
	tTimestamp
	tEQ
	tNEQ
	tLT
	tLE
	tGT
	tGE
	tColon
	tDot
	tComma
	tLParen
	tRParen
	tLBrack
	tRBrack
	tAsterisk
	// keywords
	tAND
	tOR
	tNOT
	tFOLLOWEDBY
	tLIKE
	tMATCHES
	tISSUPERSET
	tISSUBSET
	tEXISTS
	tLAST
	tIN
	tSTART
	tSTOP
	tSECONDS
	tWITHIN
	tREPEATS
	tTIMES
)

// keywords are exactly the keyword tokens of the STIX 2.1 grammar
// (STIXPattern.g4, case-sensitive). LAST is one of them though no rule
// uses it: the grammar reserves it, so an unquoted LAST is never an
// identifier there, and keeping it here makes [a:LAST = 1] a syntax error
// as in every conforming parser, and makes String quote a property named
// LAST so that what Kurier emits parses everywhere.
var keywords = map[string]tokKind{
	"AND": tAND, "OR": tOR, "NOT": tNOT, "FOLLOWEDBY": tFOLLOWEDBY,
	"LIKE": tLIKE, "MATCHES": tMATCHES, "ISSUPERSET": tISSUPERSET,
	"ISSUBSET": tISSUBSET, "EXISTS": tEXISTS, "LAST": tLAST, "IN": tIN,
	"START": tSTART, "STOP": tSTOP, "SECONDS": tSECONDS, "WITHIN": tWITHIN,
	"REPEATS": tREPEATS, "TIMES": tTIMES,
}

type token struct {
	kind   tokKind
	pos    int
	text   string // source text
	str    string // unescaped string / timestamp body
	hyphen bool   // identifier contains '-'
	neg    bool   // numeric literal written with '-'
	i      int64
	f      float64
	b      bool
	bytes  []byte
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of pattern"
	case tString:
		return "string literal"
	}
	s := t.text
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) errAt(pos int, format string, args ...any) *SyntaxError {
	return newSyntaxError(l.src, pos, fmt.Sprintf(format, args...))
}

func newSyntaxError(src string, pos int, msg string) *SyntaxError {
	if pos > len(src) {
		pos = len(src)
	}
	line, col := 1, 1
	for i := 0; i < pos; i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Offset: pos, Line: line, Column: col, Msg: msg}
}

func isSpaceRune(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', '\v', '\f', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// skip skips whitespace and comments.
func (l *lexer) skip() *SyntaxError {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c < utf8.RuneSelf {
			switch {
			case isSpaceRune(rune(c)):
				l.pos++
			case c == '/' && strings.HasPrefix(l.src[l.pos:], "/*"):
				end := strings.Index(l.src[l.pos+2:], "*/")
				if end < 0 {
					return l.errAt(l.pos, "unterminated comment")
				}
				l.pos += 2 + end + 2
			case c == '/' && strings.HasPrefix(l.src[l.pos:], "//"):
				end := strings.IndexAny(l.src[l.pos:], "\r\n")
				if end < 0 {
					l.pos = len(l.src)
				} else {
					l.pos += end
				}
			default:
				return nil
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if r == utf8.RuneError || !isSpaceRune(r) {
			return nil
		}
		l.pos += n
	}
	return nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '-'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) next() (token, *SyntaxError) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	src := l.src
	c := src[l.pos]
	single := func(k tokKind, n int) (token, *SyntaxError) {
		l.pos += n
		return token{kind: k, pos: start, text: src[start:l.pos]}, nil
	}
	peek := func(i int) byte {
		if l.pos+i < len(src) {
			return src[l.pos+i]
		}
		return 0
	}
	switch c {
	case '\'':
		return l.lexString(start)
	case ':':
		return single(tColon, 1)
	case ',':
		return single(tComma, 1)
	case '(':
		return single(tLParen, 1)
	case ')':
		return single(tRParen, 1)
	case '[':
		return single(tLBrack, 1)
	case ']':
		return single(tRBrack, 1)
	case '*':
		return single(tAsterisk, 1)
	case '=':
		if peek(1) == '=' {
			return single(tEQ, 2)
		}
		return single(tEQ, 1)
	case '!':
		if peek(1) == '=' {
			return single(tNEQ, 2)
		}
		return token{}, l.errAt(start, "unexpected character '!' (did you mean '!='?)")
	case '<':
		switch peek(1) {
		case '=':
			return single(tLE, 2)
		case '>':
			return single(tNEQ, 2)
		}
		return single(tLT, 1)
	case '>':
		if peek(1) == '=' {
			return single(tGE, 2)
		}
		return single(tGT, 1)
	case '.':
		if isDigit(peek(1)) {
			return l.lexNumber(start)
		}
		return single(tDot, 1)
	case '+', '-':
		if isDigit(peek(1)) || (peek(1) == '.' && isDigit(peek(2))) {
			return l.lexNumber(start)
		}
		return token{}, l.errAt(start, "unexpected character '%c'", c)
	}
	if isDigit(c) {
		return l.lexNumber(start)
	}
	if (c == 'h' || c == 'b' || c == 't') && peek(1) == '\'' {
		return l.lexPrefixed(start, c)
	}
	if isIdentStart(c) {
		l.pos++
		hyphen := false
		for l.pos < len(src) && isIdentChar(src[l.pos]) {
			if src[l.pos] == '-' {
				hyphen = true
			}
			l.pos++
		}
		text := src[start:l.pos]
		if !hyphen {
			if k, ok := keywords[text]; ok {
				return token{kind: k, pos: start, text: text}, nil
			}
			if text == "true" || text == "false" {
				return token{kind: tBool, pos: start, text: text, b: text == "true"}, nil
			}
		}
		return token{kind: tIdent, pos: start, text: text, hyphen: hyphen}, nil
	}
	r, _ := utf8.DecodeRuneInString(src[l.pos:])
	if r == utf8.RuneError {
		return token{}, l.errAt(start, "invalid UTF-8")
	}
	if c == '"' {
		return token{}, l.errAt(start, "unexpected character '\"' (string literals use single quotes)")
	}
	return token{}, l.errAt(start, "unexpected character '%c'", r)
}

func (l *lexer) lexString(start int) (token, *SyntaxError) {
	src := l.src
	i := start + 1
	var b strings.Builder
	for {
		if i >= len(src) {
			return token{}, l.errAt(start, "unterminated string literal")
		}
		c := src[i]
		if c == '\'' {
			break
		}
		if c == '\\' {
			if i+1 < len(src) && (src[i+1] == '\'' || src[i+1] == '\\') {
				b.WriteByte(src[i+1])
				i += 2
				continue
			}
			return token{}, l.errAt(i, "invalid escape sequence in string literal (only \\' and \\\\ are allowed)")
		}
		b.WriteByte(c)
		i++
	}
	l.pos = i + 1
	return token{kind: tString, pos: start, text: src[start:l.pos], str: b.String()}, nil
}

// lexNumber lexes [+-]? ('0' | [1-9][0-9]*) or [+-]? [0-9]* '.' [0-9]+.
func (l *lexer) lexNumber(start int) (token, *SyntaxError) {
	src := l.src
	i := start
	neg := false
	if src[i] == '+' || src[i] == '-' {
		neg = src[i] == '-'
		i++
	}
	digStart := i
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	intPart := src[digStart:i]
	if i < len(src) && src[i] == '.' {
		if i+1 < len(src) && isDigit(src[i+1]) {
			i++
			for i < len(src) && isDigit(src[i]) {
				i++
			}
			l.pos = i
			text := src[start:i]
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return token{}, l.errAt(start, "floating point literal %s out of range", text)
			}
			return token{kind: tFloat, pos: start, text: text, f: f, neg: neg}, nil
		}
		if intPart != "" {
			return token{}, l.errAt(i+1, "expected digit after '.' in number")
		}
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return token{}, l.errAt(start, "integer literal %s has a leading zero", src[start:i])
	}
	l.pos = i
	text := src[start:i]
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return token{}, l.errAt(start, "integer literal %s out of range", text)
	}
	return token{kind: tInt, pos: start, text: text, i: v, neg: neg}, nil
}

// lexPrefixed lexes h'…', b'…' and t'…'.
func (l *lexer) lexPrefixed(start int, prefix byte) (token, *SyntaxError) {
	src := l.src
	end := strings.IndexByte(src[start+2:], '\'')
	if end < 0 {
		return token{}, l.errAt(start, "unterminated %c'…' literal", prefix)
	}
	body := src[start+2 : start+2+end]
	l.pos = start + 2 + end + 1
	text := src[start:l.pos]
	switch prefix {
	case 'h':
		if len(body)%2 != 0 {
			return token{}, l.errAt(start, "hex literal must have an even number of hex digits")
		}
		v, err := hex.DecodeString(body)
		if err != nil {
			return token{}, l.errAt(start, "invalid hex literal")
		}
		return token{kind: tHex, pos: start, text: text, bytes: v}, nil
	case 'b':
		if len(body) == 0 || len(body)%4 != 0 {
			return token{}, l.errAt(start, "invalid base64 in binary literal")
		}
		for i := 0; i < len(body); i++ {
			c := body[i]
			if !(isIdentStart(c) && c != '_' || isDigit(c) || c == '+' || c == '/' || c == '=') {
				return token{}, l.errAt(start+2+i, "invalid base64 character in binary literal")
			}
		}
		v, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return token{}, l.errAt(start, "invalid base64 in binary literal")
		}
		return token{kind: tBinary, pos: start, text: text, bytes: v}, nil
	default: // 't'
		if _, _, err := stixtime.Parse(body); err != nil {
			return token{}, l.errAt(start, "invalid timestamp literal %s: %v", text, err)
		}
		return token{kind: tTimestamp, pos: start, text: text, str: body}, nil
	}
}
