package index

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Benchmarks (figures for a 2-core machine in the package's report):
//
//	go test ./node/index -run '^$' -bench 'PutBatch$' -benchtime 100x
//	KURIER_BENCH_DIR=/tmp/kbench go test ./node/index -run '^$' -bench Search1M -benchtime 20000x -timeout 60m
//	KURIER_BENCH_DIR=/tmp/kbench go test ./node/index -run '^$' -bench PutBatchInto1M -benchtime 30x -timeout 30m
//
// BenchmarkSearch1M and BenchmarkPutBatchInto1M share an index of 1,000,000
// indicators built once per process (KURIER_BENCH_N overrides the size) in a
// temporary directory, or in $KURIER_BENCH_DIR where later runs reuse it.
// They run only under -bench, and not with -short.

// benchEntry is indicator i of a synthetic data set: 40% IPv4 addresses, 5%
// IPv4 CIDRs, 5% IPv6 addresses, 20% domains, 10% URLs, 20% SHA-256 hashes.
// Present values are derived from i, so queries can be regenerated; absent
// ones come from ranges never generated (240.0.0.0/4, ".invalid", i >= n).
func benchEntry(i int, added time.Time) Entry {
	r := mix(uint64(i))
	e := Entry{
		ID:          fmt.Sprintf("indicator--%08x-%04x-4%03x-8%03x-%012x", uint32(r), uint16(r>>32), uint16(r>>48)&0xfff, i&0xfff, i),
		Type:        "indicator",
		SpecVersion: "2.1",
		Created:     added.Add(-time.Minute),
		Modified:    added.Add(-time.Minute),
		Added:       added,
		Origin:      "8F3A9C0D1E2B4F6A7C8D9E0F1A2B3C4D5E6F7A8B",
		CreatedBy:   "identity--3c7d2a1f-0e4b-4c8d-9f6a-1b2c3d4e5f60",
		TLP:         []string{"clear", "green", "amber", "amber", "amber+strict", "red"}[r%6],
		Labels:      []string{"malicious-activity"},
		Values:      []Value{benchValue(i)},
		Loc:         Location{Segment: fmt.Sprintf("seg-%06d", i/4096), Offset: int64(i%4096) * 900, Length: 900},
	}
	return e
}

func mix(x uint64) uint64 { // splitmix64
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// benchIPv4 is a present address: first octet 1..223.
func benchIPv4(r uint64) netip.Addr {
	a := uint32(r)%(223<<24) + 1<<24
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

func benchDomain(r uint64) string {
	return fmt.Sprintf("%s.example%d.com", strconv.FormatUint(r>>20, 36), r%1000)
}

func benchValue(i int) Value {
	r := mix(uint64(i) ^ 0xabcdef)
	switch c := i % 20; {
	case c < 8:
		return Value{KindIPv4, benchIPv4(r).String()}
	case c < 9:
		bits := 16 + int(r>>40)%13
		return Value{KindIPv4, netip.PrefixFrom(benchIPv4(r), bits).Masked().String()}
	case c < 10:
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
		for k := 4; k < 16; k++ {
			b[k] = byte(r >> (8 * (k % 8)))
		}
		b[15] ^= byte(i)
		return Value{KindIPv6, netip.AddrFrom16(b).String()}
	case c < 14:
		return Value{KindDomain, benchDomain(r)}
	case c < 16:
		return Value{KindURL, fmt.Sprintf("https://%s/gate/%x.php", benchDomain(r), r&0xffff)}
	default:
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		return Value{KindHash, "SHA-256:" + hex.EncodeToString(h[:])}
	}
}

// benchFill puts entries [from, to) in batches of 1000.
func benchFill(b *testing.B, ix *Index, from, to int) {
	batch := make([]Entry, 0, 1000)
	base := t0.Add(24 * time.Hour)
	for i := from; i < to; i++ {
		batch = append(batch, benchEntry(i, base.Add(time.Duration(i)*time.Microsecond)))
		if len(batch) == cap(batch) || i == to-1 {
			if _, err := ix.PutBatch(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkPutBatch measures ingest: one iteration is one 1000-entry batch
// of new indicators into a growing index.
func BenchmarkPutBatch(b *testing.B) {
	for _, nosync := range []bool{false, true} {
		name := "fsync"
		if nosync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			ix, err := Open(filepath.Join(b.TempDir(), "index.db"), Options{NoSync: nosync})
			if err != nil {
				b.Fatal(err)
			}
			defer ix.Close()
			b.ResetTimer()
			benchFill(b, ix, 0, b.N*1000)
			b.StopTimer()
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

var bench1M struct {
	once     sync.Once
	ix       *Index
	path     string
	n        int
	build    time.Duration
	open     time.Duration
	err      error
	reported bool
}

func benchN() int {
	if s := os.Getenv("KURIER_BENCH_N"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

// openBench1M builds (or reuses) the big index once per process.
func openBench1M(b *testing.B) *Index {
	if testing.Short() {
		b.Skip("big index: not with -short")
	}
	bench1M.once.Do(func() {
		n := benchN()
		dir := os.Getenv("KURIER_BENCH_DIR")
		if dir == "" {
			d, err := os.MkdirTemp("", "kurier-index-bench-")
			if err != nil {
				bench1M.err = err
				return
			}
			dir = d // removed by TestMain
		}
		bench1M.n = n
		bench1M.path = filepath.Join(dir, fmt.Sprintf("bench-%s-%d.db", schemaVersion[len("kurier-index/"):], n))
		start := time.Now()
		ix, err := Open(bench1M.path, Options{NoSync: true})
		if err != nil {
			bench1M.err = err
			return
		}
		bench1M.open = time.Since(start)
		if st, _ := ix.Stats(); st.Objects == int64(n) && !ix.Incomplete() {
			bench1M.ix = ix
			return
		}
		if err := ix.Reset(); err != nil {
			bench1M.err = err
			return
		}
		start = time.Now()
		benchFill(b, ix, 0, n)
		if err := ix.MarkComplete(); err != nil {
			bench1M.err = err
			return
		}
		bench1M.build = time.Since(start)
		bench1M.ix = ix
	})
	if bench1M.err == nil && !bench1M.reported {
		bench1M.reported = true
		st, _ := bench1M.ix.Stats()
		if bench1M.build > 0 {
			fmt.Printf("index build: %d indicators in %s (%.0f entries/s; 1000-entry batches, NoSync); file %.0f MB; %d values\n",
				bench1M.n, bench1M.build.Round(time.Millisecond), float64(bench1M.n)/bench1M.build.Seconds(), float64(st.SizeBytes)/1e6, st.Values)
		} else {
			fmt.Printf("index build: reused %s (%d indicators, file %.0f MB, opened in %s)\n",
				bench1M.path, st.Objects, float64(st.SizeBytes)/1e6, bench1M.open.Round(time.Millisecond))
		}
	}
	if bench1M.err != nil {
		b.Fatal(bench1M.err)
	}
	return bench1M.ix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench1M.ix != nil {
		bench1M.ix.Close()
		if os.Getenv("KURIER_BENCH_DIR") == "" {
			os.RemoveAll(filepath.Dir(bench1M.path))
		}
	}
	os.Exit(code)
}

// BenchmarkSearch1M measures Search latency on an index of 1,000,000
// indicators, reporting p50 and p99 in milliseconds.
func BenchmarkSearch1M(b *testing.B) {
	ix := openBench1M(b)
	n := bench1M.n

	rng := rand.New(rand.NewPCG(7, 8))
	// present picks an i of the given class (i%20 in [lo, hi)).
	present := func(lo, hi int) int {
		for {
			i := rng.IntN(n)
			if c := i % 20; c >= lo && c < hi {
				return i
			}
		}
	}
	cases := []struct {
		name    string
		query   func() string
		present bool
	}{
		{"ipv4-present", func() string { return benchValue(present(0, 8)).Value }, true},
		{"ipv4-absent", func() string {
			return netip.AddrFrom4([4]byte{240 + byte(rng.IntN(14)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}).String()
		}, false},
		{"ipv4-in-cidr", func() string { // an address inside an indexed CIDR
			p := netip.MustParsePrefix(benchValue(present(8, 9)).Value)
			a := p.Addr().As4()
			host := uint32(rng.Uint64()) & (1<<(32-p.Bits()) - 1)
			v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
			return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
		}, true},
		{"cidr24-random", func() string {
			return netip.PrefixFrom(benchIPv4(rng.Uint64()), 24).Masked().String()
		}, false},
		{"cidr-present", func() string { return benchValue(present(8, 9)).Value }, true},
		{"ipv6-present", func() string { return benchValue(present(9, 10)).Value }, true},
		{"domain-present", func() string { return benchValue(present(10, 14)).Value }, true},
		{"domain-absent", func() string { return fmt.Sprintf("absent%d.example%d.invalid", rng.IntN(1e9), rng.IntN(1000)) }, false},
		{"url-host-present", func() string { // the host of an indexed URL, as a domain
			u, _ := url.Parse(benchValue(present(14, 16)).Value)
			return u.Hostname()
		}, true},
		{"hash-present", func() string { return benchValue(present(16, 20)).Value[len("SHA-256:"):] }, true},
		{"hash-absent", func() string {
			h := sha256.Sum256([]byte(strconv.Itoa(n + rng.IntN(1e9))))
			return hex.EncodeToString(h[:])
		}, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			queries := make([]string, 4096)
			for i := range queries {
				queries[i] = c.query()
			}
			lat := make([]time.Duration, b.N)
			hits := 0
			b.ResetTimer()
			for i := range b.N {
				q := queries[i%len(queries)]
				start := time.Now()
				res, err := ix.Search(q, SearchOptions{})
				lat[i] = time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if c.present && len(res.Hits) == 0 {
					b.Fatalf("present value %q not found", q)
				}
				hits += len(res.Hits)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
		})
	}

	// TAXII-style paging: one op is one page of 1000 entries.
	for _, pc := range []struct {
		name string
		q    Query
	}{
		{"query-page-1000", Query{Limit: 1000}},
		{"query-page-1000-tlp-red", Query{Limit: 1000, TLPs: []string{"red"}}},
		{"query-page-1000-clear-green-amber", Query{Limit: 1000, TLPs: []string{"clear", "green", "amber"}}},
	} {
		b.Run(pc.name, func(b *testing.B) {
			q := pc.q
			entries := 0
			for range b.N {
				p, err := ix.Query(q)
				if err != nil {
					b.Fatal(err)
				}
				entries += len(p.Entries)
				q.Cursor = p.Next // "" at the end: start again
			}
			b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkPutBatchInto1M measures steady-state ingest (1000-entry batches,
// fsync on) into a copy of the 1M-indicator index.
func BenchmarkPutBatchInto1M(b *testing.B) {
	ix := openBench1M(b)
	path := filepath.Join(b.TempDir(), "copy.db")
	if err := copyFile(bench1M.path, path, ix); err != nil {
		b.Fatal(err)
	}
	cp, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cp.Close()
	b.ResetTimer()
	benchFill(b, cp, bench1M.n, bench1M.n+b.N*1000)
	b.StopTimer()
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entries/s")
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// copyFile copies the index file (a consistent snapshot: no writer runs).
func copyFile(from, to string, ix *Index) error {
	if err := ix.MarkComplete(); err != nil { // syncs
		return err
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
