package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestAgainstModel puts random version histories in random orders and
// batches into two indexes and checks Search and Query against a brute-force
// model, and that both indexes (a "reindex" in another order) agree.
func TestAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := newGenerator(rng)
	var all []Entry
	addedPerm := rng.Perm(1000)
	for o := range 80 {
		id := fmt.Sprintf("%s--%03d", []string{"indicator", "indicator", "malware", "infrastructure"}[o%4], o)
		nv := 1 + rng.IntN(4)
		for v := range nv {
			e := mk(id, v*10+rng.IntN(3), addedPerm[len(all)], vals(gen.values(1+rng.IntN(3))...))
			e.TLP = []string{"clear", "green", "amber", "amber+strict", "red"}[rng.IntN(5)]
			e.Origin = []string{"N1", "N2", "N3"}[rng.IntN(3)]
			for _, l := range []string{"c2", "botnet", "phishing"} {
				if rng.IntN(3) == 0 {
					e.Labels = append(e.Labels, l)
				}
			}
			e.Revoked = v == nv-1 && rng.IntN(8) == 0
			all = append(all, e)
		}
	}
	build := func() *Index {
		ix := openTest(t, Options{NoSync: true})
		es := slices.Clone(all)
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		// Repeat some entries: duplicates must not change anything.
		es = append(es, es[:20]...)
		for len(es) > 0 {
			n := min(len(es), 1+rng.IntN(40))
			mustPut(t, ix, es[:n]...)
			es = es[n:]
		}
		return ix
	}
	ixA, ixB := build(), build()
	m := newModel(all)

	// Search.
	queries := gen.queries(300)
	seen := map[string]int{}
	for _, q := range queries {
		for _, opts := range []SearchOptions{{}, {AllVersions: true}, {IncludeRevoked: true}, {AllVersions: true, IncludeRevoked: true, TLPs: []string{"amber", "red"}}} {
			want := m.search(t, q, opts)
			for _, w := range want {
				seen[w[strings.LastIndexByte(w, ' ')+1:]]++
			}
			for name, ix := range map[string]*Index{"A": ixA, "B": ixB} {
				res, err := ix.Search(q, opts)
				if err != nil {
					t.Fatalf("Search(%q): %v", q, err)
				}
				var got []string
				for _, h := range res.Hits {
					got = append(got, fmt.Sprintf("%s@%d %s", h.Entry.ID, h.Entry.Modified.Unix(), h.Match))
				}
				sort.Strings(got)
				if !slices.Equal(got, want) {
					t.Fatalf("index %s: Search(%q, %+v)\n got %v\nwant %v", name, q, opts, got, want)
				}
			}
		}
	}

	for _, kind := range []Match{MatchExact, MatchContains, MatchContained, MatchSubdomain, MatchParent} {
		if seen[string(kind)] < 20 {
			t.Errorf("the random searches produced only %d %q hits", seen[string(kind)], kind)
		}
	}
	t.Logf("expected hits by match: %v", seen)

	// Query.
	for i := range 300 {
		q := Query{AllVersions: rng.IntN(2) == 0, IncludeRevoked: rng.IntN(3) == 0}
		if rng.IntN(3) == 0 {
			q.Types = []string{[]string{"indicator", "malware", "infrastructure", "tool"}[rng.IntN(4)]}
			if rng.IntN(2) == 0 {
				q.Types = append(q.Types, "malware")
			}
		}
		if rng.IntN(3) == 0 {
			q.TLPs = []string{"clear", "green", "amber", "amber+strict", "red"}[rng.IntN(3) : 3+rng.IntN(3)]
		}
		if rng.IntN(4) == 0 {
			q.Origin = []string{"N1", "N2", "N3", "N4"}[rng.IntN(4)]
		}
		if rng.IntN(4) == 0 {
			q.Label = []string{"c2", "botnet", "phishing", "none"}[rng.IntN(4)]
		}
		if rng.IntN(3) == 0 {
			q.AddedAfter = t0.Add(time.Hour + time.Duration(rng.IntN(1000))*time.Millisecond)
		}
		if rng.IntN(5) == 0 {
			for range 1 + rng.IntN(10) {
				q.IDs = append(q.IDs, all[rng.IntN(len(all))].ID)
			}
		}
		want := m.query(q)
		for name, ix := range map[string]*Index{"A": ixA, "B": ixB} {
			q := q
			q.Limit = 1 + rng.IntN(60)
			var got []string
			for pages := 0; ; pages++ {
				p, err := ix.Query(q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, versionKeys(p.Entries)...)
				if p.Next == "" || pages > len(all) {
					break
				}
				q.Cursor = p.Next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("query %d index %s: %+v\n got %v\nwant %v", i, name, q, got, want)
			}
		}
	}

	// Per object.
	for _, id := range m.ids {
		for _, ix := range []*Index{ixA, ixB} {
			vs, _ := ix.Versions(id)
			if got := versionKeys(vs); !slices.Equal(got, versionKeys(m.versions[id])) {
				t.Fatalf("Versions(%s) = %v", id, got)
			}
			cur, ok, _ := ix.Current(id)
			if want := m.current(id); !ok || !entriesEqual(cur, want) {
				t.Fatalf("Current(%s) = %+v\nwant %+v", id, cur, want)
			}
		}
	}
	sa, _ := ixA.Stats()
	sb, _ := ixB.Stats()
	sa.SizeBytes, sb.SizeBytes = 0, 0
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Errorf("stats differ:\n%+v\n%+v", sa, sb)
	}
	if sa.Objects != int64(len(m.ids)) || sa.Versions != int64(len(all)) {
		t.Errorf("stats %+v", sa)
	}
}

func versionKeys(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s@%d", e.ID, e.Modified.Unix())
	}
	return out
}

type generator struct {
	rng     *rand.Rand
	domains []string
	hashes  []string
}

func newGenerator(rng *rand.Rand) *generator {
	g := &generator{rng: rng}
	for _, base := range []string{"example.com", "example.org", "evil.test"} {
		g.domains = append(g.domains, base)
		for _, a := range []string{"a", "b", "cdn"} {
			g.domains = append(g.domains, a+"."+base)
			for _, b := range []string{"x", "y"} {
				g.domains = append(g.domains, b+"."+a+"."+base)
			}
		}
	}
	for i := range 6 {
		g.hashes = append(g.hashes, fmt.Sprintf("%064x", i*7919+1))
	}
	return g
}

func (g *generator) ip4() string {
	bits := []int{16, 20, 24, 28, 30, 32, 32, 32}[g.rng.IntN(8)]
	return fmt.Sprintf("10.%d.%d.%d/%d", g.rng.IntN(2), g.rng.IntN(4)*64+g.rng.IntN(3), g.rng.IntN(256), bits)
}

func (g *generator) ip6() string {
	bits := []int{32, 48, 64, 120, 128, 128}[g.rng.IntN(6)]
	return fmt.Sprintf("2001:db8:%x::%x/%d", g.rng.IntN(3), g.rng.IntN(300), bits)
}

func (g *generator) values(n int) []string {
	var out []string
	for range n {
		d := g.domains[g.rng.IntN(len(g.domains))]
		switch g.rng.IntN(8) {
		case 0, 1:
			out = append(out, "ipv4:"+g.ip4())
		case 2:
			out = append(out, "ipv6:"+g.ip6())
		case 3, 4:
			out = append(out, "domain:"+d)
		case 5:
			if g.rng.IntN(4) == 0 {
				out = append(out, "url:http://"+strings.TrimSuffix(g.ip4(), "/32")+"/p")
			} else {
				out = append(out, "url:https://"+d+"/p")
			}
		case 6:
			out = append(out, "email:user@"+d)
		case 7:
			algo := []string{"SHA-256", "SHA3-256"}[g.rng.IntN(2)]
			out = append(out, "hash:"+algo+":"+g.hashes[g.rng.IntN(len(g.hashes))])
		}
	}
	return out
}

func (g *generator) queries(n int) []string {
	var out []string
	for range n {
		switch g.rng.IntN(7) {
		case 0, 1:
			q := g.ip4()
			if g.rng.IntN(2) == 0 {
				q = q[:strings.IndexByte(q, '/')]
			}
			out = append(out, q)
		case 2:
			out = append(out, g.ip6())
		case 3, 4:
			d := g.domains[g.rng.IntN(len(g.domains))]
			if g.rng.IntN(3) == 0 {
				d = "z." + d
			}
			out = append(out, d)
		case 5:
			out = append(out, "user@"+g.domains[g.rng.IntN(len(g.domains))])
		case 6:
			h := g.hashes[g.rng.IntN(len(g.hashes))]
			out = append(out, []string{h, "SHA-256:" + h, "sha3-256:" + h}[g.rng.IntN(3)])
		}
	}
	return out
}

type model struct {
	ids      []string
	versions map[string][]Entry // oldest first
}

func newModel(all []Entry) *model {
	m := &model{versions: map[string][]Entry{}}
	for _, e := range all {
		if m.versions[e.ID] == nil {
			m.ids = append(m.ids, e.ID)
		}
		m.versions[e.ID] = append(m.versions[e.ID], e)
	}
	for _, vs := range m.versions {
		sort.Slice(vs, func(i, j int) bool { return vs[i].Modified.Before(vs[j].Modified) })
	}
	return m
}

func (m *model) current(id string) Entry {
	vs := m.versions[id]
	return vs[len(vs)-1]
}

// search is the brute-force answer, as sorted "id@mod match".
func (m *model) search(t *testing.T, q string, opts SearchOptions) []string {
	nq, err := parseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range m.ids {
		cur := m.current(id)
		if cur.Revoked && !opts.IncludeRevoked {
			continue
		}
		cands := []Entry{cur}
		if opts.AllVersions {
			cands = m.versions[id]
		}
		for _, e := range cands {
			if len(opts.TLPs) > 0 && !slices.Contains(opts.TLPs, e.TLP) {
				continue
			}
			best := Match("")
			for _, v := range e.Values {
				n, err := normalize(v)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range append([]nval{n}, n.derived()...) {
					if r := relation(nq, c); r != "" && (best == "" || r.rank() < best.rank()) {
						best = r
					}
				}
			}
			if best != "" {
				out = append(out, fmt.Sprintf("%s@%d %s", e.ID, e.Modified.Unix(), best))
			}
		}
	}
	sort.Strings(out)
	return out
}

func relation(q, v nval) Match {
	switch {
	case q.Kind == KindIPv4 || q.Kind == KindIPv6:
		if v.Kind != q.Kind {
			return ""
		}
		switch {
		case v.pfx == q.pfx:
			return MatchExact
		case v.pfx.Bits() < q.pfx.Bits() && v.pfx.Contains(q.pfx.Addr()):
			return MatchContains
		case v.pfx.Bits() > q.pfx.Bits() && q.pfx.Contains(v.pfx.Addr()):
			return MatchContained
		}
	case q.Kind == KindDomain:
		if v.Kind != KindDomain {
			return ""
		}
		switch {
		case v.Value == q.Value:
			return MatchExact
		case strings.HasSuffix(v.Value.Value, "."+q.Value.Value):
			return MatchSubdomain
		case strings.HasSuffix(q.Value.Value, "."+v.Value.Value):
			return MatchParent
		}
	case q.Kind == KindHash:
		if v.Kind == KindHash && bytes.Equal(v.data, q.data) && (q.algo == "" || q.algo == v.algo) {
			return MatchExact
		}
	default:
		if v.Value == q.Value {
			return MatchExact
		}
	}
	return ""
}

// query is the brute-force answer, as "id@mod" in Added order.
func (m *model) query(q Query) []string {
	f := newFilter(q)
	var sel []Entry
	for _, id := range m.ids {
		if len(q.IDs) > 0 && !slices.Contains(q.IDs, id) {
			continue
		}
		cur := m.current(id)
		if cur.Revoked && !q.IncludeRevoked {
			continue
		}
		cands := []Entry{cur}
		if q.AllVersions {
			cands = m.versions[id]
		}
		for _, e := range cands {
			if f.match(&e) {
				sel = append(sel, e)
			}
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].Added.Before(sel[j].Added) })
	return versionKeys(sel)
}
