package index

import (
	"errors"
	"testing"
)

func TestNormalizeValue(t *testing.T) {
	tests := []struct {
		in   Value
		want Value // zero: invalid
	}{
		{Value{KindIPv4, "203.0.113.7"}, Value{KindIPv4, "203.0.113.7"}},
		{Value{KindIPv4, " 203.0.113.7 "}, Value{KindIPv4, "203.0.113.7"}},
		{Value{KindIPv4, "010.001.002.003"}, Value{KindIPv4, "10.1.2.3"}},
		{Value{KindIPv4, "198.51.100.0/24"}, Value{KindIPv4, "198.51.100.0/24"}},
		{Value{KindIPv4, "198.51.100.77/24"}, Value{KindIPv4, "198.51.100.0/24"}},
		{Value{KindIPv4, "198.51.100.77/32"}, Value{KindIPv4, "198.51.100.77"}},
		{Value{KindIPv4, "0.0.0.0/0"}, Value{KindIPv4, "0.0.0.0/0"}},
		{Value{KindIPv6, "::ffff:192.0.2.1"}, Value{KindIPv4, "192.0.2.1"}},
		{Value{KindIPv6, "::ffff:192.0.2.0/120"}, Value{KindIPv4, "192.0.2.0/24"}},
		{Value{KindIPv6, "2001:0DB8:0000:0000:0000:0000:0000:0001"}, Value{KindIPv6, "2001:db8::1"}},
		{Value{KindIPv6, "2001:db8::1/128"}, Value{KindIPv6, "2001:db8::1"}},
		{Value{KindIPv6, "2001:db8:aaaa::1/32"}, Value{KindIPv6, "2001:db8::/32"}},
		{Value{KindIPv6, "fe80::1%eth0"}, Value{KindIPv6, "fe80::1"}},
		{Value{KindIPv6, "[2001:db8::1]"}, Value{KindIPv6, "2001:db8::1"}},
		{Value{KindIPv4, "256.1.1.1"}, Value{}},
		{Value{KindIPv4, "1.2.3"}, Value{}},
		{Value{KindIPv4, "1.2.3.4/33"}, Value{}},
		{Value{KindIPv4, "1.2.3.4/+8"}, Value{}},
		{Value{KindIPv4, ""}, Value{}},

		{Value{KindDomain, "Example.COM."}, Value{KindDomain, "example.com"}},
		{Value{KindDomain, "*.example.com"}, Value{KindDomain, "example.com"}},
		{Value{KindDomain, "_dmarc.example.com"}, Value{KindDomain, "_dmarc.example.com"}},
		{Value{KindDomain, "Bücher.example"}, Value{KindDomain, "xn--bcher-kva.example"}},
		{Value{KindDomain, "203.0.113.7"}, Value{KindIPv4, "203.0.113.7"}},
		{Value{KindDomain, "a..b"}, Value{}},
		{Value{KindDomain, "a b.com"}, Value{}},
		{Value{KindDomain, "exa\x00mple.com"}, Value{}},

		{Value{KindURL, "HTTP://Example.COM:80/Path?q=1"}, Value{KindURL, "http://example.com/Path?q=1"}},
		{Value{KindURL, "https://example.com:443"}, Value{KindURL, "https://example.com/"}},
		{Value{KindURL, "https://example.com:8443/x"}, Value{KindURL, "https://example.com:8443/x"}},
		{Value{KindURL, "http://[2001:DB8::1]:8080/x"}, Value{KindURL, "http://[2001:db8::1]:8080/x"}},
		{Value{KindURL, "http://203.0.113.7/x"}, Value{KindURL, "http://203.0.113.7/x"}},
		{Value{KindURL, "example.com/x"}, Value{}},

		{Value{KindEmail, "Alice@Example.COM"}, Value{KindEmail, "alice@example.com"}},
		{Value{KindEmail, "alice@[203.0.113.7]"}, Value{KindEmail, "alice@[203.0.113.7]"}},
		{Value{KindEmail, "alice"}, Value{}},
		{Value{KindEmail, "@example.com"}, Value{}},

		{Value{KindHash, "SHA-256:" + sha256A}, Value{KindHash, "SHA-256:" + sha256A}},
		{Value{KindHash, "sha256:" + upper(sha256A)}, Value{KindHash, "SHA-256:" + sha256A}},
		{Value{KindHash, sha256A}, Value{KindHash, "SHA-256:" + sha256A}},
		{Value{KindHash, md5A}, Value{KindHash, "MD5:" + md5A}},
		{Value{KindHash, sha1A}, Value{KindHash, "SHA-1:" + sha1A}},
		{Value{KindHash, "SSDEEP:3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"}, Value{KindHash, "SSDEEP:3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"}},
		{Value{KindHash, "abc"}, Value{}},
		{Value{KindHash, "SHA-256:"}, Value{}},

		{Value{"mac", "00:11:22:33:44:55"}, Value{}},
	}
	for _, tt := range tests {
		got, err := NormalizeValue(tt.in)
		if tt.want == (Value{}) {
			if err == nil || !errors.Is(err, ErrInvalidValue) {
				t.Errorf("NormalizeValue(%+v) = %+v, %v; want ErrInvalidValue", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeValue(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		in   string
		want Value // zero: invalid
	}{
		{"203.0.113.7", Value{KindIPv4, "203.0.113.7"}},
		{"203.0.113[.]7", Value{KindIPv4, "203.0.113.7"}},
		{"198.51.100.0/24", Value{KindIPv4, "198.51.100.0/24"}},
		{"2001:db8::1", Value{KindIPv6, "2001:db8::1"}},
		{"2001:db8::/32", Value{KindIPv6, "2001:db8::/32"}},
		{"::ffff:203.0.113.7", Value{KindIPv4, "203.0.113.7"}},
		{"hxxp://evil[.]example.com/x", Value{KindURL, "http://evil.example.com/x"}},
		{"https://Example.com", Value{KindURL, "https://example.com/"}},
		{"alice@example.com", Value{KindEmail, "alice@example.com"}},
		{"alice[at]example[.]com", Value{KindEmail, "alice@example.com"}},
		{sha256A, Value{KindHash, sha256A}},
		{upper(md5A), Value{KindHash, md5A}},
		{"SHA-256:" + upper(sha256A), Value{KindHash, "SHA-256:" + sha256A}},
		{"md5:" + md5A, Value{KindHash, "MD5:" + md5A}},
		{"example.com", Value{KindDomain, "example.com"}},
		{"deadbeef", Value{KindDomain, "deadbeef"}},
		{"dead:beef::1", Value{KindIPv6, "dead:beef::1"}},
		{"example.com:8080", Value{KindDomain, "example.com"}},
		{"203.0.113.7:443", Value{KindIPv4, "203.0.113.7"}},
		{"[2001:db8::1]:443", Value{KindIPv6, "2001:db8::1"}},
		{"example.com:http", Value{}},
		{"MD5:12345678901234567890123456789012", Value{KindHash, "MD5:12345678901234567890123456789012"}},
		{"example.com/path", Value{}},
		{"", Value{}},
		{"not a value", Value{}},
	}
	for _, tt := range tests {
		got, err := ParseQuery(tt.in)
		if tt.want == (Value{}) {
			if err == nil {
				t.Errorf("ParseQuery(%q) = %+v; want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseQuery(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

const (
	sha256A = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sha256B = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	md5A    = "d41d8cd98f00b204e9800998ecf8427e"
	sha1A   = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
)

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
