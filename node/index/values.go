package index

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Value kinds. An Entry's values and a search query are one of these.
const (
	KindIPv4   = "ipv4"   // address or CIDR: "203.0.113.7", "198.51.100.0/24"
	KindIPv6   = "ipv6"   // address or CIDR, RFC 5952 form: "2001:db8::1", "2001:db8::/32"
	KindDomain = "domain" // "example.com" (lower case, ASCII/punycode, no trailing dot)
	KindURL    = "url"    // "http://example.com/path" (scheme and host lower case, default port dropped)
	KindEmail  = "email"  // "user@example.com" (lower case)
	KindHash   = "hash"   // "SHA-256:<lowerhex>"; "ALGORITHM:value" in general
)

// ErrInvalidValue is wrapped by the errors of NormalizeValue and ParseQuery.
var ErrInvalidValue = errors.New("index: invalid value")

// Posting body tags: the first byte of a value's key body.
const (
	tagIPv4   = '4' // + 4-byte address (masked) + 1-byte prefix length
	tagIPv6   = '6' // + 16-byte address (masked) + 1-byte prefix length
	tagDomain = 'd' // + reversed labels, each followed by '.', + 0x00
	tagURL    = 'u' // + uvarint length + URL
	tagEmail  = 'e' // + uvarint length + address
	tagHashX  = 'x' // + uvarint length + hash bytes (hex values, decoded)
	tagHashS  = 's' // + uvarint length + hash string (non-hex values such as SSDEEP)
)

// nval is a normalised value with what the index needs to key it.
type nval struct {
	Value
	pfx  netip.Prefix // ipv4/ipv6: addresses are full-length prefixes
	rev  string       // domain: "com.example.a."
	algo string       // hash: canonical algorithm name, "" when a query gave none
	data []byte       // hash: decoded hex (tagHashX) or the string (tagHashS)
	hex  bool
}

// body is the key body of the value: tag + kind-specific bytes, without
// scope or object number.
func (v nval) body() []byte {
	switch v.Kind {
	case KindIPv4, KindIPv6:
		return ipBody(v.pfx)
	case KindDomain:
		return domainBody(v.rev)
	case KindURL:
		return lenBody(tagURL, []byte(v.Value.Value))
	case KindEmail:
		return lenBody(tagEmail, []byte(v.Value.Value))
	case KindHash:
		if v.hex {
			return lenBody(tagHashX, v.data)
		}
		return lenBody(tagHashS, v.data)
	}
	panic("index: body of unknown kind " + v.Kind)
}

func ipBody(p netip.Prefix) []byte {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		return append([]byte{tagIPv4}, b[0], b[1], b[2], b[3], byte(p.Bits()))
	}
	b := a.As16()
	out := make([]byte, 0, 18)
	out = append(out, tagIPv6)
	out = append(out, b[:]...)
	return append(out, byte(p.Bits()))
}

func domainBody(rev string) []byte {
	out := make([]byte, 0, len(rev)+2)
	out = append(out, tagDomain)
	out = append(out, rev...)
	return append(out, 0)
}

// maxInlineValue is the longest URL, e-mail address or hash string kept in
// a key as is; longer ones (exact match only) are keyed by their SHA-256
// under the upper-case tag, so no value can exceed bbolt's key size limit.
const maxInlineValue = 512

func lenBody(tag byte, b []byte) []byte {
	if len(b) > maxInlineValue {
		h := sha256.Sum256(b)
		return append([]byte{tag - 'a' + 'A'}, h[:]...)
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(b))
	out = append(out, tag)
	out = binary.AppendUvarint(out, uint64(len(b)))
	return append(out, b...)
}

// derived returns the values implied by v: a URL's host and an e-mail
// address's domain, so that searching the domain (or IP) finds them.
func (v nval) derived() []nval {
	switch v.Kind {
	case KindURL:
		u, err := url.Parse(v.Value.Value)
		if err != nil || u.Host == "" {
			return nil
		}
		if d, err := normHost(u.Hostname()); err == nil {
			return []nval{d}
		}
	case KindEmail:
		at := strings.LastIndexByte(v.Value.Value, '@')
		if d, err := normHost(strings.Trim(v.Value.Value[at+1:], "[]")); err == nil {
			return []nval{d}
		}
	}
	return nil
}

// NormalizeValue returns v in the canonical form the index stores and
// compares, or an error wrapping ErrInvalidValue. Callers can use it to
// reject a value before storing an object: the index itself skips values it
// cannot normalise (and counts them) rather than refuse the object.
//
// IP addresses are classified by what they are, not by the kind given: an
// IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address, and a
// full-length CIDR (/32, /128) is the address.
func NormalizeValue(v Value) (Value, error) {
	n, err := normalize(v)
	return n.Value, err
}

func normalize(v Value) (nval, error) {
	s := strings.TrimSpace(v.Value)
	if s == "" {
		return nval{}, invalid(v.Kind, v.Value, "empty")
	}
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return nval{}, invalid(v.Kind, v.Value, "contains NUL or invalid UTF-8")
	}
	switch v.Kind {
	case KindIPv4, KindIPv6:
		return normIP(s)
	case KindDomain:
		return normDomain(s)
	case KindURL:
		return normURL(s)
	case KindEmail:
		return normEmail(s)
	case KindHash:
		return normHash(s, true)
	default:
		return nval{}, fmt.Errorf("%w: unknown kind %q", ErrInvalidValue, v.Kind)
	}
}

func invalid(kind, s, why string) error {
	if kind == "" {
		return fmt.Errorf("%w: %q: %s", ErrInvalidValue, s, why)
	}
	return fmt.Errorf("%w: %s %q: %s", ErrInvalidValue, kind, s, why)
}

// ---- IP addresses ----

// parseAddr parses an IPv4 or IPv6 address. IPv4 octets may have leading
// zeros and are read as decimal ("010.001.002.003" is 10.1.2.3, not octal).
// Brackets and IPv6 zones are dropped. IPv4-mapped addresses are NOT unmapped
// here (parsePrefix needs to know).
func parseAddr(s string) (netip.Addr, bool) {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if strings.IndexByte(s, ':') >= 0 {
		if i := strings.IndexByte(s, '%'); i >= 0 { // a zone: an interface name
			for _, c := range []byte(s[i+1:]) {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
					return netip.Addr{}, false
				}
			}
			s = s[:i]
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false
		}
		return a, true
	}
	var b [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	for i, p := range parts {
		if p == "" || len(p) > 8 {
			return netip.Addr{}, false
		}
		n := 0
		for _, c := range []byte(p) {
			if c < '0' || c > '9' {
				return netip.Addr{}, false
			}
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}

// parsePrefix parses an address or CIDR into a masked prefix, unmapping
// IPv4-mapped IPv6.
func parsePrefix(s string) (netip.Prefix, bool) {
	addrPart, bitsPart, isCIDR := strings.Cut(s, "/")
	a, ok := parseAddr(addrPart)
	if !ok {
		return netip.Prefix{}, false
	}
	bits := a.BitLen()
	if isCIDR {
		n, err := strconv.Atoi(bitsPart)
		if err != nil || n < 0 || n > a.BitLen() || bitsPart[0] == '+' {
			return netip.Prefix{}, false
		}
		bits = n
	}
	if a.Is4In6() {
		if bits < 96 {
			return netip.PrefixFrom(a, bits).Masked(), true
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}

func ipVal(p netip.Prefix) nval {
	kind := KindIPv6
	if p.Addr().Is4() {
		kind = KindIPv4
	}
	s := p.String()
	if p.IsSingleIP() {
		s = p.Addr().String()
	}
	return nval{Value: Value{Kind: kind, Value: s}, pfx: p}
}

func normIP(s string) (nval, error) {
	p, ok := parsePrefix(s)
	if !ok {
		return nval{}, invalid("ip", s, "not an IP address or CIDR")
	}
	return ipVal(p), nil
}

// ---- domains ----

var idnaProfile = idna.New(idna.MapForLookup(), idna.StrictDomainName(false), idna.Transitional(false))

func normDomain(s string) (nval, error) {
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	d = strings.TrimPrefix(d, "*.")
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			a, err := idnaProfile.ToASCII(d)
			if err != nil {
				return nval{}, invalid(KindDomain, s, "not a valid internationalised domain name")
			}
			d = strings.ToLower(a)
			break
		}
	}
	if d == "" || len(d) > 253 {
		return nval{}, invalid(KindDomain, s, "empty or longer than 253 characters")
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return nval{}, invalid(KindDomain, s, "empty label or label longer than 63 characters")
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return nval{}, invalid(KindDomain, s, fmt.Sprintf("character %q not allowed in a domain name", c))
			}
		}
	}
	if a, ok := parseAddr(d); ok && a.Is4() {
		return ipVal(netip.PrefixFrom(a, 32)), nil // an address given as a domain name is the address
	}
	var rev strings.Builder
	rev.Grow(len(d) + 1)
	for i := len(labels) - 1; i >= 0; i-- {
		rev.WriteString(labels[i])
		rev.WriteByte('.')
	}
	return nval{Value: Value{Kind: KindDomain, Value: d}, rev: rev.String()}, nil
}

// domainFromRev turns "com.example.a." back into "a.example.com".
func domainFromRev(rev string) string {
	labels := strings.Split(strings.TrimSuffix(rev, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

// normHost normalises a URL host or an e-mail domain: an IP address (IPv4,
// or IPv6 in brackets) or a domain name.
func normHost(h string) (nval, error) {
	if a, ok := parseAddr(h); ok {
		return ipVal(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())), nil
	}
	return normDomain(h)
}

// ---- URLs ----

var defaultPorts = map[string]string{"http": "80", "https": "443", "ftp": "21", "ws": "80", "wss": "443"}

func normURL(s string) (nval, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nval{}, invalid(KindURL, s, err.Error())
	}
	if u.Scheme == "" || u.Host == "" {
		return nval{}, invalid(KindURL, s, "needs a scheme and a host")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := u.Hostname(), u.Port()
	h, err := normHost(host)
	if err != nil {
		return nval{}, invalid(KindURL, s, "bad host: "+err.Error())
	}
	hs := h.Value.Value
	if h.Kind == KindIPv6 {
		hs = "[" + hs + "]"
	}
	if port != "" && port != defaultPorts[u.Scheme] {
		hs += ":" + port
	}
	u.Host = hs
	if u.Path == "" && u.RawPath == "" && u.Opaque == "" {
		u.Path = "/"
	}
	return nval{Value: Value{Kind: KindURL, Value: u.String()}}, nil
}

// ---- e-mail addresses ----

func normEmail(s string) (nval, error) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s[:at], " \t\r\n/:<>()[]\\,;\"") {
		return nval{}, invalid(KindEmail, s, "not an e-mail address (quoted local parts are not supported)")
	}
	dom := s[at+1:]
	var ds string
	if len(dom) > 2 && dom[0] == '[' && dom[len(dom)-1] == ']' {
		a, ok := parseAddr(dom[1 : len(dom)-1])
		if !ok {
			return nval{}, invalid(KindEmail, s, "bad address literal")
		}
		ds = "[" + a.Unmap().String() + "]"
	} else {
		d, err := normDomain(dom)
		if err != nil {
			return nval{}, invalid(KindEmail, s, "bad domain: "+err.Error())
		}
		ds = d.Value.Value
	}
	return nval{Value: Value{Kind: KindEmail, Value: strings.ToLower(s[:at]) + "@" + ds}}, nil
}

// ---- hashes ----

// hashAlgos maps lower-case spellings to the STIX hash-algorithm-ov names.
var hashAlgos = map[string]string{
	"md5": "MD5", "md-5": "MD5",
	"sha1": "SHA-1", "sha-1": "SHA-1",
	"sha224": "SHA-224", "sha-224": "SHA-224",
	"sha256": "SHA-256", "sha-256": "SHA-256",
	"sha384": "SHA-384", "sha-384": "SHA-384",
	"sha512": "SHA-512", "sha-512": "SHA-512",
	"sha3224": "SHA3-224", "sha3-224": "SHA3-224",
	"sha3256": "SHA3-256", "sha3-256": "SHA3-256",
	"sha3384": "SHA3-384", "sha3-384": "SHA3-384",
	"sha3512": "SHA3-512", "sha3-512": "SHA3-512",
	"ssdeep": "SSDEEP", "tlsh": "TLSH",
}

// hexAlgoByLen is the algorithm assumed for a bare hex digest of that length.
var hexAlgoByLen = map[int]string{32: "MD5", 40: "SHA-1", 56: "SHA-224", 64: "SHA-256", 96: "SHA-384", 128: "SHA-512"}

// isAlgoName: STIX dictionary keys are ASCII letters, digits, '-' and '_'.
func isAlgoName(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != "" && len(s) <= 250
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// normHash parses "ALGO:value" or a bare hex digest. For a stored value
// (stored=true) a bare digest gets the algorithm its length implies; for a
// query it matches any algorithm.
func normHash(s string, stored bool) (nval, error) {
	algo, val, hasAlgo := strings.Cut(s, ":")
	if hasAlgo {
		name, ok := hashAlgos[strings.ToLower(algo)]
		if !ok {
			// A custom algorithm name: keep it, upper case.
			if !isAlgoName(algo) {
				return nval{}, invalid(KindHash, s, "bad algorithm name")
			}
			name = strings.ToUpper(algo)
		}
		algo = name
	} else {
		val, algo = s, ""
		if !isHex(val) {
			return nval{}, invalid(KindHash, s, "not ALGORITHM:value or a hex digest")
		}
		if stored {
			var ok bool
			if algo, ok = hexAlgoByLen[len(val)]; !ok {
				return nval{}, invalid(KindHash, s, "cannot tell the algorithm of a bare digest of that length")
			}
		}
	}
	if val == "" {
		return nval{}, invalid(KindHash, s, "empty digest")
	}
	n := nval{algo: algo}
	if isHex(val) && len(val)%2 == 0 && algo != "SSDEEP" {
		val = strings.ToLower(val)
		n.data, _ = hex.DecodeString(val)
		n.hex = true
	} else if algo == "SSDEEP" {
		n.data = []byte(val) // base64 alphabet: case matters
	} else {
		val = strings.ToLower(val)
		n.data = []byte(val)
	}
	if algo == "" {
		n.Value = Value{Kind: KindHash, Value: val}
	} else {
		n.Value = Value{Kind: KindHash, Value: algo + ":" + val}
	}
	return n, nil
}

// ---- queries ----

// ParseQuery detects the kind of a search string and normalises it: an IP
// address or CIDR, a URL (has "://"), an e-mail address, a hash
// ("ALGO:digest" or a bare hex digest of 32, 40, 56, 64, 96 or 128
// characters; a bare digest matches any algorithm), else a domain name.
// Common defanging is undone first ("hxxp://", "[.]", "(.)", "[at]", ...),
// and a port is dropped from "host:port" ("203.0.113.7:443", "[2001:db8::1]:443").
func ParseQuery(s string) (Value, error) {
	n, err := parseQuery(s)
	return n.Value, err
}

var refanger = strings.NewReplacer(
	"[.]", ".", "(.)", ".", "{.}", ".", "[dot]", ".", "(dot)", ".",
	"[:]", ":", "[://]", "://", "[@]", "@", "[at]", "@", "(at)", "@",
	"hxxps://", "https://", "hxxp://", "http://", "hXXps://", "https://", "hXXp://", "http://",
	"fxp://", "ftp://",
)

func parseQuery(s string) (nval, error) {
	s = strings.TrimSpace(refanger.Replace(strings.TrimSpace(s)))
	if s == "" {
		return nval{}, invalid("", s, "empty query")
	}
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return nval{}, invalid("", s, "contains NUL or invalid UTF-8")
	}
	if p, ok := parsePrefix(s); ok {
		return ipVal(p), nil
	}
	if strings.Contains(s, "://") {
		return normURL(s)
	}
	if algo, _, ok := strings.Cut(s, ":"); ok {
		if _, known := hashAlgos[strings.ToLower(algo)]; known {
			return normHash(s, false)
		}
	}
	if _, ok := hexAlgoByLen[len(s)]; ok && isHex(s) {
		return normHash(s, false)
	}
	// host:port, [v6]:port: search the host.
	if host, port, err := net.SplitHostPort(s); err == nil && len(port) <= 5 && isDigits(port) && host != "" && !strings.ContainsAny(host, "/@") {
		if p, ok := parsePrefix(host); ok && p.IsSingleIP() {
			return ipVal(p), nil
		}
		if d, err := normDomain(host); err == nil {
			return d, nil
		}
	}
	// A custom algorithm: "X-ALGO:<at least 32 hex digits>".
	if algo, dig, ok := strings.Cut(s, ":"); ok && isAlgoName(algo) && len(dig) >= 32 && isHex(dig) {
		return normHash(s, false)
	}
	if strings.IndexByte(s, '@') >= 0 {
		return normEmail(s)
	}
	if strings.ContainsAny(s, "/:") {
		return nval{}, invalid("", s, "not an IP address, CIDR, URL (with scheme), e-mail address, hash or domain name")
	}
	d, err := normDomain(s)
	if err != nil {
		return nval{}, invalid("", s, "not an IP address, CIDR, URL (with scheme), e-mail address, hash or domain name")
	}
	return d, nil
}
