package index

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzNormalize checks that normalising never panics, is idempotent, and
// that searching a normalised value as displayed finds the same key.
//
//	go test ./node/index -run '^$' -fuzz FuzzNormalize -fuzztime 30s
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7", "010.001.002.003", "198.51.100.77/24", "::ffff:192.0.2.1", "::ffff:192.0.2.0/120",
		"2001:DB8::1%eth0", "[2001:db8::1]", "Example.COM.", "*.a.example", "Bücher.example", "_dmarc.example.com",
		"HTTP://Example.COM:80/Path?q=1#f", "https://[2001:db8::1]:443", "http://user:pw@203.0.113.7:8080",
		"Alice@Example.COM", "a@[203.0.113.7]", "SHA-256:" + sha256A, md5A, "SSDEEP:3:AXGBicFl:AXGHs", "x-custom:ABCDEF0123456789ABCDEF0123456789",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseQuery(s)
		for _, kind := range []string{KindIPv4, KindIPv6, KindDomain, KindURL, KindEmail, KindHash} {
			n, err := normalize(Value{kind, s})
			if err != nil {
				continue
			}
			_ = n.derived()
			n2, err := normalize(n.Value)
			if err != nil || n2.Value != n.Value || !bytes.Equal(n2.body(), n.body()) {
				t.Fatalf("%s %q: normalised %q, again %q, %v", kind, s, n.Value.Value, n2.Value.Value, err)
			}
			if n.Kind == KindDomain && !strings.Contains(n.Value.Value, ".") {
				continue // a single label may read as a hash or be ambiguous
			}
			if n.Kind == KindHash && (!n.hex || len(n.data) < 16) {
				continue // short or non-hex digests of custom algorithms: not detected as hashes
			}
			q, err := parseQuery(n.Value.Value)
			if err != nil || !bytes.Equal(q.body(), n.body()) {
				t.Fatalf("%s %q: normalised %+v, as a query %+v, %v", kind, s, n.Value, q.Value, err)
			}
		}
	})
}
