package pattern

import (
	"reflect"
	"strings"
	"testing"
)

var validPatterns = []string{
	// STIX 2.1 specification examples (section 9.9 and elsewhere).
	`[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']`,
	`[email-message:from_ref.value MATCHES '.+\\@example\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\.exe$']`,
	`[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:mime_type = 'application/x-pdf']`,
	`[file:hashes.'SHA-256' = 'bf07a7fbb825fc0aae7bf4a1177b2b31fcf8a3feeaf7092761e18c859ee52a9c' OR file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f'] AND [file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']`,
	`[file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4'] FOLLOWEDBY [windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\foo\\bar'] WITHIN 300 SECONDS`,
	`[user-account:account_type = 'unix' AND user-account:user_id = '1007' AND user-account:account_login = 'Peter'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1008' AND user-account:account_login = 'Paul'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1009' AND user-account:account_login = 'Mary']`,
	`[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\xd4\\xc3\\xb2\\xa1\\x02\\x00\\x04\\x00']`,
	`[file:name = 'foo.dll' AND file:parent_directory_ref.path = 'C:\\Windows\\System32']`,
	`[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]`,
	`[file:mime_type = 'image/bmp' AND file:magic_number_hex = h'ffd8']`,
	`[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']`,
	`[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com'] REPEATS 5 TIMES WITHIN 180 SECONDS`,
	`[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32']`,
	`[url:value = 'http://example.com/foo' OR url:value = 'http://example.com/bar']`,
	`[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40:27:21:76:28']`,
	`[windows-registry-key:key = 'HKEY_CURRENT_USER\\Software\\CryptoLocker\\Files' OR windows-registry-key:key = 'HKEY_CURRENT_USER\\Software\\Microsoft\\CurrentVersion\\Run\\CryptoLocker_0388']`,
	`[(file:name = 'pdf.exe' OR file:size = 371712) AND file:created = t'2014-01-13T07:03:17Z']`,
	`[email-message:sender_ref.value = 'jdoe@example.com' AND email-message:subject = 'Conference Info']`,
	`[x-usb-device:usbdrive.serial_number = '575833314133343231313937']`,
	`[process:command_line MATCHES '^.+>-add GlobalSign.cer -c -s -r localMachine Root$'] FOLLOWEDBY [process:command_line MATCHES '^.+>-add GlobalSign.cer -c -s -r localMachineTrustedPublisher$'] WITHIN 300 SECONDS`,
	`[network-traffic:dst_ref.value ISSUBSET '2001:0db8:dead:beef:0000:0000:0000:0000/64']`,
	`([file:name = 'foo.dll'] AND [win-registry-key:key = 'HKEY_LOCAL_MACHINE\\foo\\bar']) OR [process:name = 'fooproc' OR process:name = 'procfoo']`,
	`[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'`,
	// From the OASIS example bundles.
	`[ipv4-addr:value = '223.166.0.0/15']`,
	`[file:hashes.md5 = '001dd76872d80801692ff942308c64e6']`,
	`[ ipv4-addr:value = '10.0.0.0' ]`,
	`[email-message:subject MATCHES '^[IMPORTANT] Please Review Before']`,
	// Operators and literals.
	`[ipv4-addr:value IN ('198.51.100.1', '198.51.100.2')]`,
	`[ipv4-addr:value NOT IN ()]`,
	`[file:size NOT > 100]`,
	`[file:size >= 1 AND file:size <= 2 AND file:size < 3 AND file:size > -4]`,
	`[file:name NOT LIKE 'foo%']`,
	`[file:name NOT MATCHES '^a']`,
	`[ipv4-addr:value NOT ISSUBSET '10.0.0.0/8']`,
	`[ipv4-addr:value ISSUPERSET '10.0.0.1']`,
	`[EXISTS windows-registry-key:values]`,
	`[artifact:payload_bin = b'AQIDBA==']`,
	`[artifact:payload_bin = b'AQID' OR artifact:payload_bin = b'AQ==']`,
	`[file:x = true AND file:y != false]`,
	`[file:x <> 1 AND file:y == 2]`,
	`[file:x = -1.5 OR file:x = +.5 OR file:x = +7]`,
	`[file:x[-1] = 1 AND file:y[0].z = 2 AND file:'quoted name'.'k\'ey' = 'v']`,
	`[file:created = t'2016-06-01T00:00:00.123456Z']`,
	`[file:name = ''] /* block comment */ AND // line comment
[file:name = 'b']`,
	"[file:name\t=\u00a0'x']",
	`[a:b = 1] AND [a:b = 2] OR [a:b = 3] FOLLOWEDBY [a:b = 4]`,
	`(([a:b = 1] OR [a:b = 2]) WITHIN 5.5 SECONDS) REPEATS 2 TIMES`,
	`[a:b = 1] START t'2016-06-01T00:00:00Z' STOP t'2016-06-01T00:00:01Z' WITHIN 1 SECONDS`,
	`[a:b = 1 OR a:b = 2 AND a:c = 3]`,
	`[((a:b = 1))]`,
	`[file:x = h'']`,
	`[file:x = 'multi
line']`,
}

func TestParseValid(t *testing.T) {
	for _, src := range validPatterns {
		p, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		s := p.String()
		p2, err := Parse(s)
		if err != nil {
			t.Errorf("reparse of %q (from %q): %v", s, src, err)
			continue
		}
		if !reflect.DeepEqual(p, p2) {
			t.Errorf("round trip mismatch for %q\n  first:  %s\n  second: %s", src, s, p2.String())
		}
		if s2 := p2.String(); s2 != s {
			t.Errorf("String not stable: %q vs %q", s, s2)
		}
	}
}

func TestPrecedence(t *testing.T) {
	p := MustParse(`[a:b = 1] AND [a:b = 2] OR [a:b = 3] FOLLOWEDBY [a:b = 4]`)
	top, ok := p.Expr.(*ObservationBinary)
	if !ok || top.Op != ObsFollowedBy {
		t.Fatalf("top = %#v, want FOLLOWEDBY", p.Expr)
	}
	or, ok := top.Left.(*ObservationBinary)
	if !ok || or.Op != ObsOr {
		t.Fatalf("left = %#v, want OR", top.Left)
	}
	if and, ok := or.Left.(*ObservationBinary); !ok || and.Op != ObsAnd {
		t.Fatalf("left.left = %#v, want AND", or.Left)
	}

	c := MustParse(`[a:b = 1 OR a:b = 2 AND a:c = 3]`).Expr.(*Observation).Expr.(*ComparisonBinary)
	if c.Op != BoolOr {
		t.Fatalf("comparison top op = %v, want OR", c.Op)
	}
	if r, ok := c.Right.(*ComparisonBinary); !ok || r.Op != BoolAnd {
		t.Fatalf("right = %#v, want AND", c.Right)
	}

	// Left associativity.
	l := MustParse(`[a:b = 1] FOLLOWEDBY [a:b = 2] FOLLOWEDBY [a:b = 3]`).Expr.(*ObservationBinary)
	if _, ok := l.Left.(*ObservationBinary); !ok {
		t.Fatalf("FOLLOWEDBY not left associative")
	}

	// A qualifier binds to the observation on its left only.
	q := MustParse(`[a:b = 1] AND [a:b = 2] WITHIN 5 SECONDS`).Expr.(*ObservationBinary)
	if _, ok := q.Right.(*Qualified); !ok {
		t.Fatalf("qualifier did not bind to right operand: %#v", q.Right)
	}
	if _, ok := q.Left.(*Observation); !ok {
		t.Fatalf("left = %#v", q.Left)
	}
}

func TestASTDetails(t *testing.T) {
	p := MustParse(`[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0 AND file:x[3] IN ('a', 1, true, h'0aFF', b'AQ==', t'2020-01-01T00:00:00Z', 2.5)]`)
	cs := p.Comparisons()
	if len(cs) != 2 {
		t.Fatalf("got %d comparisons", len(cs))
	}
	want := []string{"extensions", "windows-pebinary-ext", "sections", "[*]", "entropy"}
	if got := cs[0].Path.KeyPath(); !reflect.DeepEqual(got, want) {
		t.Errorf("KeyPath = %v, want %v", got, want)
	}
	if cs[0].Path.ObjectType != "file" || cs[0].Op != OpGt {
		t.Errorf("bad comparison %#v", cs[0])
	}
	if f, ok := cs[0].Value.(*FloatLit); !ok || f.Value != 7 {
		t.Errorf("value = %#v", cs[0].Value)
	}
	set := cs[1].Value.(*SetLit)
	wantSet := []Literal{
		&StringLit{"a"}, &IntLit{1}, &BoolLit{true}, &HexLit{[]byte{0x0a, 0xff}},
		&BinaryLit{[]byte{1}}, &TimestampLit{"2020-01-01T00:00:00Z"}, &FloatLit{2.5},
	}
	if !reflect.DeepEqual(set.Values, wantSet) {
		t.Errorf("set = %#v", set.Values)
	}
	if cs[1].Path.Steps[1] != (PathStep{Kind: StepIndex, Index: 3}) {
		t.Errorf("index step = %#v", cs[1].Path.Steps[1])
	}
	if got := cs[0].String(); got != `file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0` {
		t.Errorf("Comparison.String = %q", got)
	}
	s := MustParse(`[a:b = 'it\'s \\ here']`).Comparisons()[0].Value.(*StringLit)
	if s.Value != `it's \ here` {
		t.Errorf("unescaped = %q", s.Value)
	}
	ts := MustParse(`[a:b = 1] START t'2016-06-01T00:00:00.5Z' STOP t'2016-07-01T00:00:00Z'`).Expr.(*Qualified).Qualifier.(*StartStop)
	if ts.Start.Time().Nanosecond() != 500000000 || ts.Start.Value != "2016-06-01T00:00:00.5Z" {
		t.Errorf("start = %v", ts.Start)
	}
}

func TestCanonicalString(t *testing.T) {
	cases := map[string]string{
		`[ ipv4-addr:value   =   '10.0.0.0' ]`: `[ipv4-addr:value = '10.0.0.0']`,
		`[a:'b'.'c d' == 1]`:                   `[a:b.'c d' = 1]`,
		`[a:b <> +5]`:                          `[a:b != 5]`,
		`[a:b = h'0AFF']`:                      `[a:b = h'0aff']`,
		`([a:b = 1] OR [a:c = 2]) AND [a:d = 3] WITHIN 1 SECONDS`: `([a:b = 1] OR [a:c = 2]) AND [a:d = 3] WITHIN 1 SECONDS`,
		`[a:b = 1.50]`:  `[a:b = 1.5]`,
		`[a:'AND' = 1]`: `[a:'AND' = 1]`,
	}
	for in, want := range cases {
		if got := MustParse(in).String(); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	// Programmatic ASTs get the parentheses precedence requires.
	p := &Pattern{Expr: &Qualified{
		Expr: &ObservationBinary{Op: ObsOr,
			Left:  &Observation{Expr: &Comparison{Path: ObjectPath{"a", []PathStep{{Kind: StepKey, Key: "b"}}}, Op: OpEq, Value: &IntLit{1}}},
			Right: &Observation{Expr: &Comparison{Path: ObjectPath{"a", []PathStep{{Kind: StepKey, Key: "b"}}}, Op: OpEq, Value: &IntLit{2}}},
		},
		Qualifier: &Repeats{Times: 2},
	}}
	if got, want := p.String(), `([a:b = 1] OR [a:b = 2]) REPEATS 2 TIMES`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseInvalid(t *testing.T) {
	type tc struct {
		src    string
		offset int
		msg    string // substring of the message
	}
	stopBad := `[a:b = 1] START t'2016-07-01T00:00:00Z' STOP t'2016-06-01T00:00:00Z'`
	cases := []tc{
		{``, 0, "empty pattern"},
		{`   `, 3, "empty pattern"},
		{`[file:name = 'x'`, 16, "expected ']'"},
		{`file:name = 'x'`, 0, "expected '['"},
		{`[file:name = 'x']]`, 17, "end of pattern"},
		{`[file:name 'x']`, 11, "comparison operator"},
		{`[file:name = 'x]`, 13, "unterminated string"},
		{`[file:name = 'a\b']`, 15, "invalid escape"},
		{`[file:size > true]`, 13, "orderable"},
		{`[file:name LIKE 5]`, 16, "string literal after LIKE"},
		{`[file:name MATCHES h'00']`, 19, "string literal after MATCHES"},
		{`[file:name = 'x'] AND`, 21, "'[' or '('"},
		{`[file:name = 'x'] FOLLOWEDBY`, 28, "'[' or '('"},
		{`[file:name = 'x'] WITHIN SECONDS`, 25, "number of seconds"},
		{`[file:name = 'x'] WITHIN -5 SECONDS`, 25, "positive"},
		{`[file:name = 'x'] WITHIN 5`, 26, "SECONDS"},
		{`[file:name = 'x'] REPEATS 0 TIMES`, 26, "positive"},
		{`[file:name = 'x'] REPEATS 1.5 TIMES`, 26, "integer after REPEATS"},
		{`[file:name = 'x'] START '2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'`, 24, "timestamp literal"},
		{stopBad, strings.Index(stopBad, "t'2016-06"), "later than START"},
		{`[file:x = t'2016-13-01T00:00:00Z']`, 10, "invalid timestamp"},
		{`[file:x = t'2016-02-30T00:00:00Z']`, 10, "invalid timestamp"},
		{`[file:x = t'2016-01-01 00:00:00Z']`, 10, "invalid timestamp"},
		{`[file:x = t'2016-01-01T00:00:00+01:00']`, 10, "invalid timestamp"},
		{`[file:x = h'abc']`, 10, "even number"},
		{`[file:x = h'zz']`, 10, "invalid hex"},
		{`[file:x = b'abc']`, 10, "base64"},
		{`[file:x = b'ab!=']`, 14, "base64 character"},
		{`[file:x = b'']`, 10, "base64"},
		{`[file:x = 01]`, 10, "leading zero"},
		{`[file:x = 1.]`, 12, "digit after '.'"},
		{`[file:x = 99999999999999999999]`, 10, "out of range"},
		{`[file:hashes.SHA-256 = 'x']`, 13, "contains '-'"},
		{`[file:SHA-256 = 'x']`, 6, "contains '-'"},
		{`[file:name = 'x' and file:size = 1]`, 17, "']'"},
		{`[file:name = 'x'] and [file:size = 1]`, 18, "end of pattern"},
		{`[file:name = "x"]`, 13, "single quotes"},
		{`[file:name = 'x'] /* unterminated`, 18, "unterminated comment"},
		{`[]`, 1, "object type"},
		{`[file: = 1]`, 7, "property name"},
		{`[file:x[a] = 1]`, 8, "list index"},
		{`[file:x[1 = 1]`, 10, "']' after list index"},
		{`[file:x NOT EXISTS]`, 12, "comparison operator after NOT"},
		{`[EXISTS file:x = 1]`, 15, "']'"},
		{`[file:x IN 'a']`, 11, "'('"},
		{`[file:x IN ('a',)]`, 16, "literal in set"},
		{`[file:x IN ('a' 'b')]`, 16, "',' or ')'"},
		{`([file:x = 1]`, 13, "')'"},
		{`[file:x = 1] AND ()`, 18, "'[' or '('"},
		{`[file:x = 1] ! [a:b = 2]`, 13, "'!'"},
		{`[file:x = 1] @`, 13, "unexpected character"},
		{`[file:x ! 1]`, 8, "'!'"},
		{`[file:x = 1] AND [file:y = 'a'] OR`, 34, "'[' or '('"},
		{`[file:x = 1] and`, 13, "end of pattern"},
		{`[file:x = 1] WITHIN 5 SECONDS WITHIN`, 36, "number of seconds"},
		{`[file:x = +]`, 10, "unexpected character '+'"},
		{`[AND:x = 1]`, 1, "object type"},
		{`[file:x = 1] [file:y = 2]`, 13, "end of pattern"},
		{"[file:x = '\xff'] \xff", 15, "invalid UTF-8"},
		{`[file:x = fals]`, 10, "a literal"},
		{`[file:x = TRUE]`, 10, "a literal"},
		{strings.Repeat("(", 300) + "[a:b = 1]" + strings.Repeat(")", 300), MaxDepth, "nested too deeply"},
		{"[" + strings.Repeat("(", 300) + "a:b = 1" + strings.Repeat(")", 300) + "]", MaxDepth, "nested too deeply"},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error at %d", c.src, c.offset)
			continue
		}
		se, ok := AsSyntaxError(err)
		if !ok {
			t.Errorf("Parse(%q): error %T is not *SyntaxError", c.src, err)
			continue
		}
		if se.Offset != c.offset || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("Parse(%q): got offset %d msg %q, want offset %d msg containing %q", c.src, se.Offset, se.Msg, c.offset, c.msg)
		}
	}
}

func TestSyntaxErrorLineColumn(t *testing.T) {
	src := "[file:name = 'x']\n  AND [foo]"
	_, err := Parse(src)
	se, ok := AsSyntaxError(err)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	if se.Line != 2 || se.Column != 11 || se.Offset != 28 {
		t.Fatalf("got line %d col %d offset %d (%s)", se.Line, se.Column, se.Offset, se.Msg)
	}
	if !strings.Contains(se.Error(), "line 2, column 11") {
		t.Fatalf("Error() = %q", se.Error())
	}
}

func TestWalkSkip(t *testing.T) {
	p := MustParse(`[a:b IN ('x', 'y')] AND [a:c = 1]`)
	var lits int
	Walk(p, func(n Node) bool {
		if _, ok := n.(*StringLit); ok {
			lits++
		}
		_, isSet := n.(*SetLit)
		return !isSet
	})
	if lits != 0 {
		t.Fatalf("Walk descended into skipped subtree")
	}
	lits = 0
	Walk(p, func(n Node) bool {
		if _, ok := n.(*StringLit); ok {
			lits++
		}
		return true
	})
	if lits != 2 {
		t.Fatalf("lits = %d", lits)
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range validPatterns {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			if _, ok := AsSyntaxError(err); !ok {
				t.Fatalf("non-syntax error %T: %v", err, err)
			}
			return
		}
		s := p.String()
		p2, err := Parse(s)
		if err != nil {
			t.Fatalf("String() of parsed pattern does not reparse:\n src: %q\n str: %q\n err: %v", src, s, err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("AST mismatch after round trip:\n src: %q\n str: %q\n re:  %q", src, s, p2.String())
		}
	})
}
