package stix

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/kurier/kurier/node/stix/pattern"
)

// ValueKind is the kind of an observable value in the index.
type ValueKind string

// Observable value kinds.
const (
	KindIPv4   ValueKind = "ipv4"   // address or CIDR block ("203.0.113.0/24")
	KindIPv6   ValueKind = "ipv6"   // address or CIDR block
	KindDomain ValueKind = "domain" // lower case, no trailing dot
	KindURL    ValueKind = "url"
	KindEmail  ValueKind = "email" // lower case
	KindHash   ValueKind = "hash"  // "SHA-256:<lower-case hex>"
)

// Value is a normalised observable value.
type Value struct {
	Kind  ValueKind `json:"kind"`
	Value string    `json:"value"`
}

func (v Value) String() string { return string(v.Kind) + ":" + v.Value }

// Prefix returns the CIDR block of an ipv4/ipv6 value (a single address is
// a /32 or /128).
func (v Value) Prefix() (netip.Prefix, bool) {
	if v.Kind != KindIPv4 && v.Kind != KindIPv6 {
		return netip.Prefix{}, false
	}
	if strings.Contains(v.Value, "/") {
		p, err := netip.ParsePrefix(v.Value)
		return p, err == nil
	}
	a, err := netip.ParseAddr(v.Value)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// normalizeIP parses an address or CIDR block; want4 selects which family
// the text must be written in (ipv4-addr vs ipv6-addr). IPv4-mapped IPv6
// addresses are reported as ipv4.
func normalizeIP(s string, want4 bool) (Value, bool) {
	s = strings.TrimSpace(s)
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Value{}, false
		}
		pfx = p
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return Value{}, false
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	a := pfx.Addr()
	if want4 != a.Is4() {
		return Value{}, false
	}
	bits := pfx.Bits()
	if a.Is4In6() && bits >= 96 {
		a = a.Unmap()
		bits -= 96
		pfx = netip.PrefixFrom(a, bits)
	}
	pfx = pfx.Masked()
	kind := KindIPv6
	if pfx.Addr().Is4() {
		kind = KindIPv4
	}
	if bits == pfx.Addr().BitLen() {
		return Value{Kind: kind, Value: pfx.Addr().String()}, true
	}
	return Value{Kind: kind, Value: pfx.String()}, true
}

var hashAlgNames = map[string]string{
	"MD5": "MD5", "SHA1": "SHA-1", "SHA-1": "SHA-1", "SHA224": "SHA-224", "SHA-224": "SHA-224",
	"SHA256": "SHA-256", "SHA-256": "SHA-256", "SHA384": "SHA-384", "SHA-384": "SHA-384",
	"SHA512": "SHA-512", "SHA-512": "SHA-512", "SHA3-256": "SHA3-256", "SHA3256": "SHA3-256",
	"SHA3-512": "SHA3-512", "SHA3512": "SHA3-512", "SSDEEP": "SSDEEP", "TLSH": "TLSH",
}

func canonicalHashAlg(a string) string {
	u := strings.ToUpper(strings.TrimSpace(a))
	if c, ok := hashAlgNames[u]; ok {
		return c
	}
	return u
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// NormalizeValue normalises s as a value of the given kind. For KindHash, s
// is "ALGORITHM:value" (e.g. "sha256:ABC…" becomes "SHA-256:abc…").
func NormalizeValue(kind ValueKind, s string) (Value, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Value{}, false
	}
	switch kind {
	case KindIPv4:
		return normalizeIP(s, true)
	case KindIPv6:
		return normalizeIP(s, false)
	case KindDomain:
		d := strings.TrimSuffix(strings.ToLower(s), ".")
		if d == "" || strings.ContainsAny(d, " \t\r\n/@:") {
			return Value{}, false
		}
		return Value{Kind: KindDomain, Value: d}, true
	case KindEmail:
		e := strings.ToLower(s)
		if i := strings.LastIndexByte(e, '@'); i <= 0 || i == len(e)-1 || strings.ContainsAny(e, " \t\r\n") {
			return Value{}, false
		}
		return Value{Kind: KindEmail, Value: strings.TrimSuffix(e, ".")}, true
	case KindURL:
		return Value{Kind: KindURL, Value: normalizeURL(s)}, true
	case KindHash:
		alg, v, ok := strings.Cut(s, ":")
		if !ok || v == "" || alg == "" {
			return Value{}, false
		}
		return hashValue(alg, v)
	}
	return Value{}, false
}

func hashValue(alg, v string) (Value, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Value{}, false
	}
	if isHex(v) {
		v = strings.ToLower(v)
	}
	return Value{Kind: KindHash, Value: canonicalHashAlg(alg) + ":" + v}, true
}

// normalizeURL lower-cases the scheme and host, leaving path and query alone.
func normalizeURL(s string) string {
	i := strings.Index(s, "://")
	if i <= 0 {
		return s
	}
	scheme := strings.ToLower(s[:i])
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	auth := rest[:end]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[:at+1] + strings.ToLower(auth[at+1:])
	} else {
		auth = strings.ToLower(auth)
	}
	return scheme + "://" + auth + rest[end:]
}

// ClassifyValue guesses the kind of a raw search string ("203.0.113.7",
// "10.0.0.0/8", "evil.example", "https://…", "a@b.example", a bare MD5/SHA-1/
// SHA-256/SHA-512 hex digest, or "SHA-256:…") and normalises it.
func ClassifyValue(s string) (Value, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Value{}, false
	}
	if v, ok := normalizeIP(s, true); ok {
		return v, true
	}
	if v, ok := normalizeIP(s, false); ok {
		return v, true
	}
	if strings.Contains(s, "://") {
		return NormalizeValue(KindURL, s)
	}
	if alg, h, ok := strings.Cut(s, ":"); ok {
		if _, known := hashAlgNames[strings.ToUpper(alg)]; known {
			return hashValue(alg, h)
		}
	}
	if strings.Contains(s, "@") {
		return NormalizeValue(KindEmail, s)
	}
	if isHex(s) {
		switch len(s) {
		case 32:
			return hashValue("MD5", s)
		case 40:
			return hashValue("SHA-1", s)
		case 64:
			return hashValue("SHA-256", s)
		case 128:
			return hashValue("SHA-512", s)
		}
	}
	if strings.Contains(strings.TrimSuffix(s, "."), ".") {
		return NormalizeValue(KindDomain, s)
	}
	return Value{}, false
}

type valueSet struct {
	seen map[Value]bool
	out  []Value
}

func (vs *valueSet) add(v Value, ok bool) {
	if !ok {
		return
	}
	if vs.seen == nil {
		vs.seen = map[Value]bool{}
	}
	if !vs.seen[v] {
		vs.seen[v] = true
		vs.out = append(vs.out, v)
	}
}

// Values returns the normalised observable values of an object: from the
// pattern of an indicator (pattern_type "stix") and from ipv4-addr,
// ipv6-addr, domain-name, url, email-addr SCOs and the hashes of file,
// artifact and x509-certificate SCOs (also SCOs embedded in a deprecated
// observed-data "objects" dictionary). The result has no duplicates.
func Values(o *Object) []Value {
	var vs valueSet
	switch o.Type {
	case "indicator":
		if pt, _ := o.StringProp("pattern_type"); pt == "stix" {
			if src, ok := o.StringProp("pattern"); ok {
				if p, err := pattern.Parse(src); err == nil {
					for _, v := range PatternValues(p) {
						vs.add(v, true)
					}
				}
			}
		}
	case "observed-data":
		if raw, ok := o.props["objects"]; ok {
			var objs map[string]json.RawMessage
			if json.Unmarshal(raw, &objs) == nil {
				for _, r := range objs {
					if sub, err := DecodeObject(r); err == nil {
						scoValues(sub, &vs)
					}
				}
			}
		}
	default:
		scoValues(o, &vs)
	}
	return vs.out
}

func scoValues(o *Object, vs *valueSet) {
	v, _ := o.StringProp("value")
	switch o.Type {
	case "ipv4-addr":
		vs.add(normalizeIP(v, true))
	case "ipv6-addr":
		vs.add(normalizeIP(v, false))
	case "domain-name":
		vs.add(NormalizeValue(KindDomain, v))
	case "url":
		vs.add(NormalizeValue(KindURL, v))
	case "email-addr":
		vs.add(NormalizeValue(KindEmail, v))
	case "file", "artifact", "x509-certificate":
		if raw, ok := o.props["hashes"]; ok {
			keys, hs, err := decodeProps(raw)
			if err == nil {
				for _, k := range keys {
					var h string
					if json.Unmarshal(hs[k], &h) == nil {
						vs.add(hashValue(k, h))
					}
				}
			}
		}
	}
}

// PatternValues extracts the observable values a pattern positively tests
// for: comparisons with =, IN, ISSUBSET or ISSUPERSET (not negated) on
// ipv4-addr:value, ipv6-addr:value, domain-name:value, url:value,
// email-addr:value, email-message:{from_ref,sender_ref,to_refs[*],cc_refs[*],
// bcc_refs[*]}.value, {file,artifact,x509-certificate}:hashes.ALG,
// network-traffic:{src_ref,dst_ref}.value and
// domain-name:resolves_to_refs[*].value.
func PatternValues(p *pattern.Pattern) []Value {
	var vs valueSet
	for _, c := range p.Comparisons() {
		if c.Negated {
			continue
		}
		switch c.Op {
		case pattern.OpEq, pattern.OpIn, pattern.OpIsSubset, pattern.OpIsSuperset:
		default:
			continue
		}
		var lits []string
		switch v := c.Value.(type) {
		case *pattern.StringLit:
			lits = []string{v.Value}
		case *pattern.SetLit:
			for _, e := range v.Values {
				if s, ok := e.(*pattern.StringLit); ok {
					lits = append(lits, s.Value)
				}
			}
		}
		norm := pathNormalizer(c.Path)
		if norm == nil {
			continue
		}
		for _, l := range lits {
			vs.add(norm(l))
		}
	}
	return vs.out
}

func pathNormalizer(path pattern.ObjectPath) func(string) (Value, bool) {
	// List steps are dropped: to_refs[*].value and to_refs[0].value both
	// become "to_refs.value".
	var compact []string
	for i, s := range path.Steps {
		if s.Kind == pattern.StepKey {
			compact = append(compact, path.Steps[i].Key)
		}
	}
	p := path.ObjectType + ":" + strings.Join(compact, ".")
	ip := func(s string) (Value, bool) {
		if v, ok := normalizeIP(s, true); ok {
			return v, true
		}
		return normalizeIP(s, false)
	}
	switch p {
	case "ipv4-addr:value":
		return func(s string) (Value, bool) { return normalizeIP(s, true) }
	case "ipv6-addr:value":
		return func(s string) (Value, bool) { return normalizeIP(s, false) }
	case "domain-name:resolves_to_refs.value":
		return ip
	case "domain-name:value":
		return func(s string) (Value, bool) { return NormalizeValue(KindDomain, s) }
	case "url:value":
		return func(s string) (Value, bool) { return NormalizeValue(KindURL, s) }
	case "email-addr:value", "email-message:from_ref.value", "email-message:sender_ref.value",
		"email-message:to_refs.value", "email-message:cc_refs.value", "email-message:bcc_refs.value":
		return func(s string) (Value, bool) { return NormalizeValue(KindEmail, s) }
	case "network-traffic:src_ref.value", "network-traffic:dst_ref.value":
		return func(s string) (Value, bool) {
			if v, ok := ip(s); ok {
				return v, true
			}
			return NormalizeValue(KindDomain, s)
		}
	}
	if len(compact) == 2 && compact[0] == "hashes" && len(path.Steps) == 2 {
		switch path.ObjectType {
		case "file", "artifact", "x509-certificate":
			alg := compact[1]
			return func(s string) (Value, bool) { return hashValue(alg, s) }
		}
	}
	return nil
}
