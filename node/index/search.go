package index

import (
	"bytes"
	"net/netip"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Match says how a hit's value relates to the searched value.
type Match string

const (
	MatchExact     Match = "exact"     // the same value
	MatchContains  Match = "contains"  // an indexed CIDR containing the searched address or CIDR
	MatchContained Match = "contained" // an indexed address or CIDR inside the searched CIDR
	MatchSubdomain Match = "subdomain" // an indexed subdomain of the searched domain
	MatchParent    Match = "parent"    // an indexed parent domain of the searched domain
)

func (m Match) rank() int {
	switch m {
	case MatchExact:
		return 0
	case MatchContains, MatchParent:
		return 1
	}
	return 2
}

// DefaultSearchLimit is the number of hits of a Search with no Limit.
const DefaultSearchLimit = 1000

// SearchOptions refine Search.
type SearchOptions struct {
	AllVersions    bool     // match the values of every version, not only the current ones
	IncludeRevoked bool     // include objects whose current version is revoked
	Types          []string // only these STIX types
	TLPs           []string // only these effective TLPs (e.g. those the caller may see)
	Limit          int      // at most this many hits; <= 0: DefaultSearchLimit
}

// Hit is one version matching a search.
type Hit struct {
	Entry Entry
	Match Match
	// Value is the entry's value that matched, normalised.
	Value Value
	// Via is set when the match is on the host of Value (a URL's host, an
	// e-mail address's domain): that host. For example searching
	// "example.com" finds the URL "http://a.example.com/x" with Match
	// "subdomain" via the domain "a.example.com".
	Via Value
}

// SearchResult holds the hits of a search: exact matches first, then
// containing CIDRs and parent domains, then contained addresses and
// subdomains; in each group the most recently added first. At most one hit
// per version (its best match).
type SearchResult struct {
	Query     Value // the query as detected and normalised
	Hits      []Hit
	Truncated bool // more than Limit hits: the lowest-ranked were dropped
}

// Search answers "have we seen this value?". The kind of q is detected (see
// ParseQuery). By default only current, non-revoked versions answer.
//
//   - an IP address finds that address and the CIDRs containing it; a CIDR
//     finds itself, the addresses and CIDRs inside it and the CIDRs
//     containing it;
//   - a domain finds itself and its subdomains, and its parent domains
//     (Match "parent"), including URL hosts and e-mail domains;
//   - a URL (normalised), an e-mail address (case-insensitive) or a hash
//     (case-insensitive; a bare digest matches any algorithm) finds itself.
//
// Cost: a point lookup per prefix length (33 for IPv4, 129 for IPv6) or per
// parent domain, one range scan, and two lookups per hit.
func (ix *Index) Search(q string, opts SearchOptions) (SearchResult, error) {
	nq, err := parseQuery(q)
	if err != nil {
		return SearchResult{}, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	res := SearchResult{Query: nq.Value}
	err = ix.view(func(tx *bolt.Tx) error {
		s := &searcher{
			opts: opts, limit: limit, algo: nq.algo,
			posts: tx.Bucket(bucketPostings), objs: tx.Bucket(bucketObjs), vers: tx.Bucket(bucketVersions),
			seen: make(map[string]bool),
		}
		if len(opts.Types) > 0 {
			s.types = make(map[string]bool)
			for _, t := range opts.Types {
				s.types[t] = true
			}
		}
		if len(opts.TLPs) > 0 {
			s.tlps = make(map[string]bool)
			for _, t := range opts.TLPs {
				s.tlps[t] = true
			}
		}
		s.scopes = []byte{scopeCurrent}
		if opts.AllVersions {
			s.scopes = append(s.scopes, scopeHistory)
		}
		if err := s.run(nq); err != nil {
			return err
		}
		sort.SliceStable(s.hits, func(i, j int) bool {
			a, b := &s.hits[i], &s.hits[j]
			if ra, rb := a.Match.rank(), b.Match.rank(); ra != rb {
				return ra < rb
			}
			if !a.Entry.Added.Equal(b.Entry.Added) {
				return a.Entry.Added.After(b.Entry.Added)
			}
			if a.Entry.ID != b.Entry.ID {
				return a.Entry.ID < b.Entry.ID
			}
			return a.Entry.Modified.After(b.Entry.Modified)
		})
		if len(s.hits) > limit {
			s.hits, res.Truncated = s.hits[:limit], true
		}
		res.Hits = s.hits
		return nil
	})
	return res, err
}

type searcher struct {
	opts   SearchOptions
	limit  int
	algo   string // hash queries: required algorithm, "" for any
	types  map[string]bool
	tlps   map[string]bool
	scopes []byte

	posts, objs, vers *bolt.Bucket

	seen map[string]bool // versions already considered (num+mod)
	hits []Hit
}

func (s *searcher) full() bool { return len(s.hits) > s.limit }

// run scans in rank order so that a truncated result keeps the best hits.
func (s *searcher) run(nq nval) error {
	switch nq.Kind {
	case KindIPv4, KindIPv6:
		p := nq.pfx
		if err := s.exact(ipBody(p), MatchExact); err != nil {
			return err
		}
		for b := p.Bits() - 1; b >= 0 && !s.full(); b-- {
			if err := s.exact(ipBody(netip.PrefixFrom(p.Addr(), b).Masked()), MatchContains); err != nil {
				return err
			}
		}
		if !p.IsSingleIP() {
			return s.inside(p)
		}
		return nil
	case KindDomain:
		if err := s.exact(domainBody(nq.rev), MatchExact); err != nil {
			return err
		}
		// Parents, nearest first: "com.example.a." -> "com.example.", "com.".
		for i := len(nq.rev) - 2; i >= 0 && !s.full(); i-- {
			if nq.rev[i] == '.' {
				if err := s.exact(domainBody(nq.rev[:i+1]), MatchParent); err != nil {
					return err
				}
			}
		}
		return s.subdomains(nq.rev)
	default:
		return s.exact(nq.body(), MatchExact)
	}
}

// exact finds the postings of one body.
func (s *searcher) exact(body []byte, m Match) error {
	for _, scope := range s.scopes {
		prefix := append([]byte{scope}, body...)
		c := s.posts.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && !s.full(); k, v = c.Next() {
			if err := s.add(scope, k[len(prefix):], v, m, body); err != nil {
				return err
			}
		}
	}
	return nil
}

// inside finds addresses and longer prefixes within p: one range scan over
// the fixed-width keys from p's first to its last address.
func (s *searcher) inside(p netip.Prefix) error {
	lo := ipBody(p)
	n := len(lo) - 2 // address bytes
	hi := lastAddr(p)
	for _, scope := range s.scopes {
		c := s.posts.Cursor()
		seek := append([]byte{scope}, lo[:1+n]...)
		for k, v := c.Seek(seek); k != nil && !s.full(); k, v = c.Next() {
			if len(k) < 2+n+1 || k[0] != scope || k[1] != lo[0] || bytes.Compare(k[2:2+n], hi) > 0 {
				break
			}
			if int(k[2+n]) <= p.Bits() {
				continue // p itself (exact) or a CIDR containing p (contains): done above
			}
			if err := s.add(scope, k[3+n:], v, MatchContained, k[1:3+n]); err != nil {
				return err
			}
		}
	}
	return nil
}

func lastAddr(p netip.Prefix) []byte {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

// subdomains finds the domains under rev: a prefix scan.
func (s *searcher) subdomains(rev string) error {
	for _, scope := range s.scopes {
		prefix := append([]byte{scope, tagDomain}, rev...)
		c := s.posts.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && !s.full(); k, v = c.Next() {
			end := bytes.IndexByte(k[len(prefix):], 0)
			if end <= 0 {
				continue // the domain itself (end == 0): done above
			}
			end += len(prefix)
			if err := s.add(scope, k[end+1:], v, MatchSubdomain, k[1:end+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// add resolves one posting (rest = num [+ modified]) to its version and
// keeps it if it passes the options.
func (s *searcher) add(scope byte, rest, srcRaw []byte, m Match, body []byte) error {
	want := numLen
	if scope == scopeHistory {
		want += timeKeyLen
	}
	if len(rest) != want {
		return errCorrupt
	}
	num := rest[:numLen]
	o, err := decodeObj(s.objs.Get(num), false)
	if err != nil {
		return err
	}
	if o.revoked && !s.opts.IncludeRevoked {
		return nil
	}
	mod := o.mod
	if scope == scopeHistory {
		mod = rest[numLen:]
	}
	vk := versionKey(num, mod)
	if s.seen[string(vk)] {
		return nil
	}
	s.seen[string(vk)] = true
	srcs, err := decodeSources(srcRaw)
	if err != nil {
		return err
	}
	var src *source
	for i := range srcs {
		if s.algo == "" || srcs[i].Kind != KindHash || hasAlgo(srcs[i].Value.Value, s.algo) {
			src = &srcs[i]
			break
		}
	}
	if src == nil {
		delete(s.seen, string(vk)) // the same hash under another algorithm may match later
		return nil
	}
	e, err := decodeEntry(s.vers.Get(vk))
	if err != nil {
		return err
	}
	if (s.types != nil && !s.types[e.Type]) || (s.tlps != nil && !s.tlps[e.TLP]) {
		return nil
	}
	h := Hit{Entry: e, Match: m, Value: src.Value}
	if src.derived {
		h.Via = valueOfBody(body)
	}
	s.hits = append(s.hits, h)
	return nil
}

func hasAlgo(v, algo string) bool {
	return len(v) > len(algo) && v[len(algo)] == ':' && v[:len(algo)] == algo
}

// valueOfBody turns an IP or domain posting body back into its value.
func valueOfBody(body []byte) Value {
	switch body[0] {
	case tagIPv4, tagIPv6:
		a, ok := netip.AddrFromSlice(body[1 : len(body)-1])
		if !ok {
			return Value{}
		}
		return ipVal(netip.PrefixFrom(a, int(body[len(body)-1]))).Value
	case tagDomain:
		return Value{Kind: KindDomain, Value: domainFromRev(string(body[1 : len(body)-1]))}
	}
	return Value{}
}
