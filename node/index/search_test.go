package index

import (
	"errors"
	"slices"
	"testing"
)

// searchFixture is one entry per value (ids say what they hold).
func searchFixture(t *testing.T) *Index {
	ix := openTest(t, Options{NoSync: true})
	n := 0
	e := func(id string, opts ...eopt) Entry {
		n++
		return mk(id, 0, n, opts...)
	}
	mustPut(t, ix,
		e("indicator--ip", vals("ipv4:203.0.113.7")),
		e("indicator--ip-red", vals("ipv4:203.0.113.7"), tlp("red")),
		e("indicator--ip-revoked", vals("ipv4:203.0.113.7"), revoked()),
		e("indicator--net24", vals("ipv4:198.51.100.0/24")),
		e("indicator--net16", vals("ipv4:198.51.0.0/16")),
		e("indicator--ip-in24", vals("ipv4:198.51.100.9")),
		e("indicator--ip-in16", vals("ipv4:198.51.7.1")),
		e("indicator--ip-zeros", vals("ipv4:010.000.000.001")),
		e("indicator--v6", vals("ipv6:2001:DB8:0:0::1")),
		e("indicator--v6net", vals("ipv6:2001:db8::/32")),
		e("indicator--v6-in", vals("ipv6:2001:db8:1::5")),
		e("indicator--mapped", vals("ipv6:::ffff:192.0.2.1")),
		e("indicator--dom", vals("domain:example.com")),
		e("indicator--sub", vals("domain:a.b.example.com")),
		e("indicator--other", vals("domain:examples.com")),
		e("indicator--url", vals("url:HTTP://Evil.Example.com:80/x")),
		e("indicator--url-ip", vals("url:http://203.0.113.7/panel")),
		e("indicator--email", vals("email:Alice@Mail.Example.org")),
		e("indicator--sha256", vals("hash:SHA-256:"+sha256A)),
		e("indicator--md5", vals("hash:MD5:"+upper(md5A))),
		e("indicator--sha3", vals("hash:SHA3-256:"+sha256B)),
		e("indicator--sha256b", vals("hash:"+sha256B)),
		e("malware--multi", vals("domain:multi.example.net", "url:https://multi.example.net/a", "ipv4:192.0.2.0/24"), tlp("green")),
	)
	return ix
}

func TestSearch(t *testing.T) {
	ix := searchFixture(t)
	tests := []struct {
		name string
		q    string
		opts SearchOptions
		want []string
	}{
		// IPv4
		{"ip exact, url host, revoked hidden", "203.0.113.7", SearchOptions{}, []string{
			"indicator--ip exact", "indicator--ip-red exact", "indicator--url-ip exact via 203.0.113.7"}},
		{"ip tlp filter", "203.0.113.7", SearchOptions{TLPs: []string{"amber", "green"}}, []string{
			"indicator--ip exact", "indicator--url-ip exact via 203.0.113.7"}},
		{"ip include revoked", "203.0.113.7", SearchOptions{IncludeRevoked: true}, []string{
			"indicator--ip exact", "indicator--ip-red exact", "indicator--ip-revoked exact", "indicator--url-ip exact via 203.0.113.7"}},
		{"ip type filter", "203.0.113.7", SearchOptions{Types: []string{"malware"}}, nil},
		{"ip in two CIDRs", "198.51.100.9", SearchOptions{}, []string{
			"indicator--ip-in24 exact", "indicator--net16 contains", "indicator--net24 contains"}},
		{"ip only in CIDRs", "198.51.100.200", SearchOptions{}, []string{
			"indicator--net16 contains", "indicator--net24 contains"}},
		{"ip with leading zeros", "10.0.0.001", SearchOptions{}, []string{"indicator--ip-zeros exact"}},
		{"cidr exact, containing, contained", "198.51.100.0/24", SearchOptions{}, []string{
			"indicator--ip-in24 contained", "indicator--net16 contains", "indicator--net24 exact"}},
		{"cidr with host bits", "198.51.100.77/24", SearchOptions{}, []string{
			"indicator--ip-in24 contained", "indicator--net16 contains", "indicator--net24 exact"}},
		{"wide cidr", "198.51.0.0/16", SearchOptions{}, []string{
			"indicator--ip-in16 contained", "indicator--ip-in24 contained", "indicator--net16 exact", "indicator--net24 contained"}},
		{"narrow cidr", "198.51.100.0/25", SearchOptions{}, []string{
			"indicator--ip-in24 contained", "indicator--net16 contains", "indicator--net24 contains"}},
		{"cidr /0", "0.0.0.0/0", SearchOptions{TLPs: []string{"amber"}, Types: []string{"indicator"}}, []string{
			"indicator--ip contained", "indicator--ip-in16 contained", "indicator--ip-in24 contained", "indicator--ip-zeros contained",
			"indicator--mapped contained", "indicator--net16 contained", "indicator--net24 contained",
			"indicator--url-ip contained via 203.0.113.7"}},
		{"ip absent", "10.9.9.9", SearchOptions{}, nil},
		{"cidr absent", "100.64.0.0/10", SearchOptions{}, nil},
		{"mapped stored, v4 query", "192.0.2.1", SearchOptions{}, []string{"indicator--mapped exact", "malware--multi contains"}},
		{"mapped query", "::ffff:192.0.2.1", SearchOptions{}, []string{"indicator--mapped exact", "malware--multi contains"}},
		// IPv6
		{"v6 exact and containing", "2001:db8::1", SearchOptions{}, []string{"indicator--v6 exact", "indicator--v6net contains"}},
		{"v6 long form", "2001:0db8:0000:0000:0000:0000:0000:0001", SearchOptions{}, []string{"indicator--v6 exact", "indicator--v6net contains"}},
		{"v6 cidr", "2001:db8::/32", SearchOptions{}, []string{"indicator--v6 contained", "indicator--v6-in contained", "indicator--v6net exact"}},
		{"v6 narrow cidr", "2001:db8:1::/48", SearchOptions{}, []string{"indicator--v6-in contained", "indicator--v6net contains"}},
		{"v6 absent", "2001:db9::1", SearchOptions{}, nil},
		// Domains
		{"domain, subdomains, url hosts", "example.com", SearchOptions{}, []string{
			"indicator--dom exact", "indicator--sub subdomain", "indicator--url subdomain via evil.example.com"}},
		{"domain upper case, trailing dot", "EXAMPLE.com.", SearchOptions{}, []string{
			"indicator--dom exact", "indicator--sub subdomain", "indicator--url subdomain via evil.example.com"}},
		{"middle domain: parent and sub", "b.example.com", SearchOptions{}, []string{"indicator--dom parent", "indicator--sub subdomain"}},
		{"deep domain: parents", "x.a.b.example.com", SearchOptions{}, []string{"indicator--dom parent", "indicator--sub parent"}},
		{"url host as domain", "evil.example.com", SearchOptions{}, []string{"indicator--dom parent", "indicator--url exact via evil.example.com"}},
		{"not a label prefix", "examples.com", SearchOptions{}, []string{"indicator--other exact"}},
		{"email domain", "example.org", SearchOptions{}, []string{"indicator--email subdomain via mail.example.org"}},
		{"parent of an entry with domain and url", "example.net", SearchOptions{}, []string{"malware--multi subdomain"}},
		{"domain really absent", "nothing.invalid", SearchOptions{}, nil},
		{"domain entry and its url", "multi.example.net", SearchOptions{}, []string{"malware--multi exact"}},
		// URLs
		{"url normalised", "http://evil.example.COM/x", SearchOptions{}, []string{"indicator--url exact"}},
		{"url defanged", "hxxp://evil[.]example[.]com:80/x", SearchOptions{}, []string{"indicator--url exact"}},
		{"url other path", "http://evil.example.com/y", SearchOptions{}, nil},
		{"url path case matters", "http://evil.example.com/X", SearchOptions{}, nil},
		// E-mail
		{"email", "alice@mail.example.org", SearchOptions{}, []string{"indicator--email exact"}},
		{"email case", "ALICE@MAIL.EXAMPLE.ORG", SearchOptions{}, []string{"indicator--email exact"}},
		{"email absent", "bob@mail.example.org", SearchOptions{}, nil},
		// Hashes
		{"sha256 bare", sha256A, SearchOptions{}, []string{"indicator--sha256 exact"}},
		{"sha256 upper", upper(sha256A), SearchOptions{}, []string{"indicator--sha256 exact"}},
		{"sha256 with algo", "sha256:" + sha256A, SearchOptions{}, []string{"indicator--sha256 exact"}},
		{"md5 stored upper", md5A, SearchOptions{}, []string{"indicator--md5 exact"}},
		{"bare hex: any algorithm", sha256B, SearchOptions{}, []string{"indicator--sha256b exact", "indicator--sha3 exact"}},
		{"algorithm given", "SHA-256:" + sha256B, SearchOptions{}, []string{"indicator--sha256b exact"}},
		{"other algorithm given", "SHA3-256:" + sha256B, SearchOptions{}, []string{"indicator--sha3 exact"}},
		{"wrong algorithm", "SHA-1:" + sha256A, SearchOptions{}, nil},
		{"hash absent", sha1A, SearchOptions{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ix.Search(tt.q, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := hitKeys(res.Hits); !slices.Equal(got, tt.want) {
				t.Errorf("Search(%q)\n got %q\nwant %q", tt.q, got, tt.want)
			}
			if res.Truncated {
				t.Error("truncated")
			}
		})
	}
}

func TestSearchHitDetails(t *testing.T) {
	ix := searchFixture(t)
	res, err := ix.Search("hxxp://203.0.113[.]7/panel", SearchOptions{})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Entry.ID != "indicator--url-ip" || res.Hits[0].Via != (Value{}) {
		t.Fatalf("defanged URL: %+v, %v", res.Hits, err)
	}
	res, err = ix.Search("evil.example.com", SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Query != (Value{KindDomain, "evil.example.com"}) {
		t.Errorf("Query = %+v", res.Query)
	}
	// Ranked: exact first, then parent.
	if len(res.Hits) != 2 || res.Hits[0].Match != MatchExact || res.Hits[1].Match != MatchParent {
		t.Fatalf("hits %v", hitKeys(res.Hits))
	}
	h := res.Hits[0]
	if h.Value != (Value{KindURL, "http://evil.example.com/x"}) || h.Via != (Value{KindDomain, "evil.example.com"}) {
		t.Errorf("hit value %+v via %+v", h.Value, h.Via)
	}
	if h.Entry.ID != "indicator--url" || h.Entry.Loc.Segment != "seg-0001" || len(h.Entry.Values) != 1 {
		t.Errorf("entry %+v", h.Entry)
	}
	if res.Hits[1].Value != (Value{KindDomain, "example.com"}) || res.Hits[1].Via != (Value{}) {
		t.Errorf("parent hit %+v", res.Hits[1])
	}
	// An entry holding the domain and a URL on it is one hit, on the domain.
	res, _ = ix.Search("multi.example.net", SearchOptions{})
	if len(res.Hits) != 1 || res.Hits[0].Value != (Value{KindDomain, "multi.example.net"}) {
		t.Errorf("multi: %+v", res.Hits)
	}
	if _, err := ix.Search("not a value", SearchOptions{}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("bad query: %v", err)
	}
}

func TestSearchOrderAndLimit(t *testing.T) {
	ix := openTest(t, Options{NoSync: true})
	// 5 subdomains, 3 parents, 2 exact, added in mixed order.
	mustPut(t, ix,
		mk("indicator--s1", 0, 1, vals("domain:s1.x.example.com")),
		mk("indicator--e1", 0, 2, vals("domain:x.example.com")),
		mk("indicator--p1", 0, 3, vals("domain:example.com")),
		mk("indicator--s2", 0, 4, vals("domain:s2.x.example.com")),
		mk("indicator--s3", 0, 5, vals("domain:a.s3.x.example.com")),
		mk("indicator--e2", 0, 6, vals("domain:X.Example.Com")),
		mk("indicator--p2", 0, 7, vals("url:http://example.com/")),
		mk("indicator--s4", 0, 8, vals("email:a@s4.x.example.com")),
		mk("indicator--p3", 0, 9, vals("domain:com")),
		mk("indicator--s5", 0, 10, vals("domain:s5.x.example.com")),
	)
	res, err := ix.Search("x.example.com", SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"indicator--e2", "indicator--e1", "indicator--p3", "indicator--p2", "indicator--p1",
		"indicator--s5", "indicator--s4", "indicator--s3", "indicator--s2", "indicator--s1"}
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.Entry.ID)
	}
	if !slices.Equal(got, want) || res.Truncated {
		t.Fatalf("order %v (truncated %v), want %v", got, res.Truncated, want)
	}
	for _, limit := range []int{1, 2, 4, 9} {
		res, err := ix.Search("x.example.com", SearchOptions{Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) != limit || !res.Truncated {
			t.Fatalf("limit %d: %d hits, truncated %v", limit, len(res.Hits), res.Truncated)
		}
		// Truncation keeps the best ranks: exact, then parents.
		for i, h := range res.Hits {
			if i < 2 && h.Match != MatchExact || i >= 2 && i < 5 && h.Match != MatchParent {
				t.Errorf("limit %d: hit %d is %s", limit, i, h.Match)
			}
		}
	}
	if res, _ := ix.Search("x.example.com", SearchOptions{Limit: 10}); len(res.Hits) != 10 || res.Truncated {
		t.Errorf("limit 10: %d hits, truncated %v", len(res.Hits), res.Truncated)
	}
}
