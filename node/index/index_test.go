package index

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"
)

func TestPutVersions(t *testing.T) {
	ix := openTest(t, Options{}) // default: fsync on commit
	id := "indicator--0b4a9c2e-ad0e-4f6b-8d3e-5d3a1c0b9e11"
	v1 := mk(id, 1, 1, vals("ipv4:203.0.113.1", "domain:a.example"), labels("c2"))
	v2 := mk(id, 2, 2, vals("ipv4:203.0.113.2", "domain:a.example"), labels("c2", "botnet"), tlp("green"))
	v3 := mk(id, 3, 3, vals("ipv4:203.0.113.3"))
	v2b := mk(id, 2, 4, modNanos(1), vals("ipv4:203.0.113.9")) // 1ns newer than v2

	steps := []struct {
		put     Entry
		want    Outcome
		current string // Modified offset of the current version
	}{
		{v2, Current, "2s"},
		{v1, Older, "2s"},     // older arrives after newer
		{v2, Duplicate, "2s"}, // same id+modified
		{v1, Duplicate, "2s"},
		{v2b, Current, "2.000000001s"}, // nanoseconds count
		{v3, Current, "3s"},
		{v2b, Duplicate, "3s"},
	}
	for i, s := range steps {
		got, err := ix.Put(s.put)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.want {
			t.Errorf("step %d: Put(%s) = %s, want %s", i, s.put.Modified.Sub(t0), got, s.want)
		}
		cur, ok, err := ix.Current(id)
		if err != nil || !ok {
			t.Fatalf("step %d: Current: %v %v", i, ok, err)
		}
		if d := cur.Modified.Sub(t0).String(); d != s.current {
			t.Errorf("step %d: current is %s, want %s", i, d, s.current)
		}
	}
	vs, err := ix.Versions(id)
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	for _, v := range vs {
		mods = append(mods, v.Modified.Sub(t0).String())
	}
	if want := []string{"1s", "2s", "2.000000001s", "3s"}; !slices.Equal(mods, want) {
		t.Errorf("Versions = %v, want %v", mods, want)
	}
	if !entriesEqual(vs[1], v2) {
		t.Errorf("stored v2 = %+v\nwant %+v", vs[1], v2)
	}

	// Only the current version's values answer; older ones with AllVersions.
	for q, want := range map[string][]string{
		"203.0.113.3": {id + " exact"},
		"203.0.113.1": nil,
		"203.0.113.2": nil,
		"203.0.113.9": nil,
		"a.example":   nil, // v3 dropped the domain
	} {
		res, err := ix.Search(q, SearchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := hitKeys(res.Hits); !slices.Equal(got, want) {
			t.Errorf("Search(%s) = %v, want %v", q, got, want)
		}
	}
	res, _ := ix.Search("a.example", SearchOptions{AllVersions: true})
	if got := versionIDs(hitEntries(res.Hits)); !sameSet(got, []string{id + "@1", id + "@2"}) {
		t.Errorf("AllVersions a.example = %v", got)
	}
	res, _ = ix.Search("203.0.113.0/24", SearchOptions{AllVersions: true})
	if len(res.Hits) != 4 {
		t.Errorf("AllVersions /24: %v", hitKeys(res.Hits))
	}

	st, _ := ix.Stats()
	if st.Objects != 1 || st.Versions != 4 || st.Values != 1 || st.ByTLP["amber"] != 1 || st.ByType["indicator"] != 1 {
		t.Errorf("stats %+v", st)
	}
	if _, ok, err := ix.Current("indicator--nope"); ok || err != nil {
		t.Errorf("Current(unknown) = %v, %v", ok, err)
	}
	if vs, err := ix.Versions("indicator--nope"); len(vs) != 0 || err != nil {
		t.Errorf("Versions(unknown) = %v, %v", vs, err)
	}
}

func TestNewerVersionDropsValueWhateverTheOrder(t *testing.T) {
	id := "indicator--x"
	v1 := mk(id, 1, 1, vals("domain:old.example", "ipv4:192.0.2.1"))
	v2 := mk(id, 2, 2, vals("ipv4:192.0.2.1", "ipv4:192.0.2.2"))
	v3 := mk(id, 3, 3, vals("domain:new.example"))
	orders := [][]Entry{{v1, v2, v3}, {v3, v2, v1}, {v2, v3, v1}, {v1, v3, v2}}
	for i, order := range orders {
		for _, batch := range []bool{false, true} {
			ix := openTest(t, Options{NoSync: true})
			if batch {
				mustPut(t, ix, order...)
			} else {
				for _, e := range order {
					mustPut(t, ix, e)
				}
			}
			for q, want := range map[string]int{"old.example": 0, "192.0.2.1": 0, "192.0.2.2": 0, "new.example": 1, "example": 1} {
				res, _ := ix.Search(q, SearchOptions{})
				if len(res.Hits) != want {
					t.Errorf("order %d batch %v: Search(%s) = %v, want %d hits", i, batch, q, hitKeys(res.Hits), want)
				}
			}
			if st, _ := ix.Stats(); st.Values != 1 || st.Versions != 3 || st.Objects != 1 {
				t.Errorf("order %d: stats %+v", i, st)
			}
		}
	}
}

func TestRevoked(t *testing.T) {
	ix := openTest(t, Options{NoSync: true})
	id := "indicator--r"
	mustPut(t, ix, mk(id, 1, 1, vals("ipv4:192.0.2.7")), mk("indicator--other", 1, 2, vals("ipv4:192.0.2.7")))
	mustPut(t, ix, mk(id, 2, 3, vals("ipv4:192.0.2.7"), revoked()))
	res, _ := ix.Search("192.0.2.7", SearchOptions{})
	if got := hitKeys(res.Hits); !slices.Equal(got, []string{"indicator--other exact"}) {
		t.Errorf("default search = %v", got)
	}
	// A revoked object hides all its versions.
	res, _ = ix.Search("192.0.2.7", SearchOptions{AllVersions: true})
	if len(res.Hits) != 1 {
		t.Errorf("AllVersions search = %v", hitKeys(res.Hits))
	}
	res, _ = ix.Search("192.0.2.7", SearchOptions{AllVersions: true, IncludeRevoked: true})
	if len(res.Hits) != 3 {
		t.Errorf("AllVersions+IncludeRevoked search = %v", hitKeys(res.Hits))
	}
	p, _ := ix.Query(Query{})
	if got := ids(p.Entries); !slices.Equal(got, []string{"indicator--other"}) {
		t.Errorf("Query = %v", got)
	}
	p, _ = ix.Query(Query{AllVersions: true})
	if len(p.Entries) != 1 {
		t.Errorf("Query AllVersions = %v", versionIDs(p.Entries))
	}
	p, _ = ix.Query(Query{IncludeRevoked: true})
	if got := versionIDs(p.Entries); !slices.Equal(got, []string{"indicator--other@1", "indicator--r@2"}) {
		t.Errorf("Query IncludeRevoked = %v", got)
	}
	if cur, ok, _ := ix.Current(id); !ok || !cur.Revoked {
		t.Errorf("Current = %+v", cur)
	}
	if st, _ := ix.Stats(); st.Revoked != 1 || st.Objects != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestPutBatchInvalid(t *testing.T) {
	ix := openTest(t, Options{NoSync: true})
	_, err := ix.PutBatch([]Entry{mk("indicator--ok", 0, 1), {ID: "indicator--notype"}})
	if !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("err = %v", err)
	}
	if st, _ := ix.Stats(); st.Objects != 0 {
		t.Errorf("a failed batch stored something: %+v", st)
	}
	// Values that do not normalise are skipped, not fatal.
	reg := prometheus.NewRegistry()
	ix2 := openTest(t, Options{NoSync: true, Registerer: reg})
	mustPut(t, ix2, mk("indicator--v", 0, 1, vals("ipv4:999.1.1.1", "ipv4:192.0.2.1", "mac:00:11", "domain:a b")))
	if res, _ := ix2.Search("192.0.2.1", SearchOptions{}); len(res.Hits) != 1 {
		t.Errorf("valid value not indexed")
	}
	if n := testutil.ToFloat64(ix2.m.invalid); n != 3 {
		t.Errorf("invalid values = %v, want 3", n)
	}
	if e, _, _ := ix2.Current("indicator--v"); len(e.Values) != 4 {
		t.Errorf("values as given not kept: %v", e.Values)
	}
	if outs, err := ix.PutBatch(nil); err != nil || len(outs) != 0 {
		t.Errorf("empty batch: %v %v", outs, err)
	}
}

func TestPersistenceAndReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "index.db")
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !ix.Incomplete() {
		t.Error("a new index must be Incomplete")
	}
	if err := ix.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	es := []Entry{
		mk("indicator--a", 1, 1, vals("ipv4:192.0.2.0/24"), labels("x")),
		mk("indicator--a", 2, 2, vals("ipv4:192.0.2.0/25")),
		mk("malware--b", 1, 3, vals("domain:evil.example"), tlp("red")),
	}
	mustPut(t, ix, es...)
	before, _ := ix.Stats()
	last := ix.LastAdded()
	if !last.Equal(es[2].Added) {
		t.Errorf("LastAdded = %v", last)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := ix.Search("192.0.2.1", SearchOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Search after Close: %v", err)
	}
	if _, err := ix.Put(es[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}

	ix, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix.Incomplete() {
		t.Error("Incomplete after reopen")
	}
	after, _ := ix.Stats()
	before.SizeBytes, after.SizeBytes = 0, 0
	if !reflect.DeepEqual(before, after) {
		t.Errorf("stats changed over reopen:\n%+v\n%+v", before, after)
	}
	if !ix.LastAdded().Equal(last) {
		t.Errorf("LastAdded after reopen = %v", ix.LastAdded())
	}
	res, _ := ix.Search("192.0.2.1", SearchOptions{})
	if got := hitKeys(res.Hits); !slices.Equal(got, []string{"indicator--a contains"}) {
		t.Errorf("search after reopen = %v", got)
	}
	if o, _ := ix.Put(es[1]); o != Duplicate {
		t.Errorf("Put after reopen = %s", o)
	}

	if err := ix.Reset(); err != nil {
		t.Fatal(err)
	}
	st, _ := ix.Stats()
	if st.Objects != 0 || st.Versions != 0 || st.Values != 0 || !st.Incomplete || !ix.LastAdded().IsZero() {
		t.Errorf("after Reset: %+v", st)
	}
	if res, _ := ix.Search("192.0.2.1", SearchOptions{}); len(res.Hits) != 0 {
		t.Errorf("search after Reset: %v", hitKeys(res.Hits))
	}
	// Rebuild gives the same answers.
	mustPut(t, ix, es[2], es[1], es[0])
	if err := ix.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	res, _ = ix.Search("192.0.2.1", SearchOptions{})
	if got := hitKeys(res.Hits); !slices.Equal(got, []string{"indicator--a contains"}) {
		t.Errorf("search after rebuild = %v", got)
	}
	st, _ = ix.Stats()
	st.SizeBytes = 0
	if !reflect.DeepEqual(st, after) {
		t.Errorf("stats after rebuild:\n%+v\nwant\n%+v", st, after)
	}
}

func TestOpenLockedAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	ix, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{LockTimeout: 50 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: %v", err)
	}
	mustPut(t, ix, mk("indicator--a", 1, 1, vals("ipv4:192.0.2.1")))
	ix.MarkComplete()
	ix.Close()

	// Another layout: Open wipes it and reports Incomplete.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, []byte("kurier-index/0")) })
	db.Close()
	ix, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if st, _ := ix.Stats(); !ix.Incomplete() || st.Objects != 0 {
		t.Errorf("after layout change: incomplete %v, %+v", ix.Incomplete(), st)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	path := filepath.Join(t.TempDir(), "index.db")
	ix, err := Open(path, Options{Registerer: reg, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "other.db"), Options{Registerer: reg}); err == nil {
		t.Error("registering twice must fail")
	}
	mustPut(t, ix,
		mk("indicator--a", 1, 1, vals("ipv4:192.0.2.1", "url:http://a.example/")),
		mk("indicator--b", 1, 2, tlp("green")),
		mk("malware--c", 1, 3, tlp("red"), vals("domain:c.example")),
	)
	mustPut(t, ix, mk("indicator--a", 2, 4, tlp("green"), vals("ipv4:192.0.2.1")))
	expect := `
# HELP kurier_index_objects STIX objects in the index (current versions, revoked included) by type and effective TLP.
# TYPE kurier_index_objects gauge
kurier_index_objects{tlp="green",type="indicator"} 2
kurier_index_objects{tlp="red",type="malware"} 1
# HELP kurier_index_values Observable values indexed for search (of current versions, including URL and e-mail hosts).
# TYPE kurier_index_values gauge
kurier_index_values 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect), "kurier_index_objects", "kurier_index_values"); err != nil {
		t.Error(err)
	}
	mfs, _ := reg.Gather()
	var size float64
	for _, mf := range mfs {
		if mf.GetName() == "kurier_index_size_bytes" {
			size = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if size <= 0 {
		t.Errorf("size gauge %v", size)
	}
	ix.Close()
	// Reopen: gauges restored from the persisted counters.
	ix, err = Open(path, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect), "kurier_index_objects", "kurier_index_values"); err != nil {
		t.Error(err)
	}
	if err := ix.Reset(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(ix.m.objects); n != 0 || testutil.ToFloat64(ix.m.values) != 0 {
		t.Errorf("after Reset: %d object series, values %v", n, testutil.ToFloat64(ix.m.values))
	}
	ix.Close()
	// Nil registerer: no metrics, no panic.
	ix = openTest(t, Options{})
	mustPut(t, ix, mk("indicator--a", 1, 1, vals("ipv4:192.0.2.1", "ipv4:bad")))
}

func TestEntryRoundTrip(t *testing.T) {
	e := Entry{
		ID: "indicator--a", Type: "indicator", SpecVersion: "2.1",
		Created:  time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC),
		Modified: time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC),
		Added:    time.Date(2026, 1, 2, 3, 4, 6, 1, time.FixedZone("X", 3600)),
		Origin:   "FP", CreatedBy: "identity--x", TLP: "amber+strict",
		Labels: []string{"a", "b\x00c"}, Revoked: true,
		Values: []Value{{KindIPv4, "1.2.3.4"}, {"weird", "\x00"}},
		Loc:    Location{"seg", 1 << 40, -1},
	}
	got, err := decodeEntry(encodeEntry(&e))
	if err != nil || !entriesEqual(got, e) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	var zero Entry
	got, err = decodeEntry(encodeEntry(&zero))
	if err != nil || !reflect.DeepEqual(got, zero) {
		t.Fatalf("zero round trip: %+v, %v", got, err)
	}
	b := encodeEntry(&e)
	for i := range len(b) {
		if _, err := decodeEntry(b[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
	// Time keys sort in time order, before 1970 too.
	times := []time.Time{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(-1, 5), time.Unix(0, 0), time.Unix(0, 1), time.Unix(1<<40, 0)}
	for i := 1; i < len(times); i++ {
		if string(timeKey(times[i-1])) >= string(timeKey(times[i])) {
			t.Errorf("timeKey order broken at %d", i)
		}
		if !timeFromKey(timeKey(times[i])).Equal(times[i]) {
			t.Errorf("timeFromKey(%v)", times[i])
		}
	}
}

// entriesEqual compares entries, times by instant.
func entriesEqual(a, b Entry) bool {
	if !a.Created.Equal(b.Created) || !a.Modified.Equal(b.Modified) || !a.Added.Equal(b.Added) {
		return false
	}
	a.Created, a.Modified, a.Added = time.Time{}, time.Time{}, time.Time{}
	b.Created, b.Modified, b.Added = time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func hitEntries(hs []Hit) []Entry {
	out := make([]Entry, len(hs))
	for i, h := range hs {
		out[i] = h.Entry
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestConcurrentUse(t *testing.T) {
	ix := openTest(t, Options{NoSync: true, Registerer: prometheus.NewRegistry()})
	done := make(chan error, 4)
	for w := range 2 {
		go func() {
			for i := range 50 {
				batch := make([]Entry, 10)
				for j := range batch {
					n := i*10 + j
					batch[j] = mk(fmt.Sprintf("indicator--w%d-%d", w, n%120), n/120, w*100000+n, vals(fmt.Sprintf("ipv4:10.%d.%d.0/24", w, n%50)))
				}
				if _, err := ix.PutBatch(batch); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		go func() {
			for i := range 100 {
				if _, err := ix.Search(fmt.Sprintf("10.%d.%d.7", i%2, i%50), SearchOptions{}); err != nil {
					done <- err
					return
				}
				if _, err := ix.Query(Query{Limit: 10}); err != nil {
					done <- err
					return
				}
				if _, err := ix.Stats(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := ix.Stats(); st.Objects != 240 || st.Versions != 1000 {
		t.Errorf("stats %+v", st)
	}
}

func TestLongValues(t *testing.T) {
	ix := openTest(t, Options{NoSync: true})
	long := "https://example.com/" + strings.Repeat("a", 40000)
	label := strings.Repeat("l", 40000)
	e := mk("indicator--long", 1, 1, vals("url:"+long, "email:"+strings.Repeat("u", 40000)+"@example.com"), labels(label), origin(strings.Repeat("o", 40000)))
	e.Type = strings.Repeat("x", 40000)
	mustPut(t, ix, e)
	if _, err := ix.Put(Entry{ID: strings.Repeat("i", 40000), Type: "indicator"}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("long ID: %v", err)
	}
	res, err := ix.Search(long, SearchOptions{})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Match != MatchExact {
		t.Fatalf("long URL: %v %v", hitKeys(res.Hits), err)
	}
	if res, _ := ix.Search(long+"b", SearchOptions{}); len(res.Hits) != 0 {
		t.Errorf("other long URL found")
	}
	if res, _ := ix.Search("example.com", SearchOptions{}); len(res.Hits) != 1 {
		t.Errorf("long URL host: %v", hitKeys(res.Hits))
	}
	p, err := ix.Query(Query{Label: label, Origin: e.Origin, Types: []string{e.Type}})
	if err != nil || len(p.Entries) != 1 {
		t.Errorf("long label: %d, %v", len(p.Entries), err)
	}
	if p, _ := ix.Query(Query{Label: label + "x"}); len(p.Entries) != 0 {
		t.Errorf("other long label found")
	}
}
