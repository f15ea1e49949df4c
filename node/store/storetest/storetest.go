// Package storetest is the contract every store driver must meet: one
// suite, run against each driver (fs against a temporary directory, s3
// against a real MinIO server), so that "both drivers honour the same
// semantics" is checked rather than hoped.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
)

// BigPart is the part size the suite's streaming tests assume: a driver
// with bounded parts (s3) should be configured with it, so that
// BigObjectSize spans several parts.
const BigPart = 5 << 20

// BigObjectSize is the size of the multi-part objects in the suite.
const BigObjectSize = 12 << 20

// Run runs the contract suite. newStore returns a store for one sub-test;
// it may be shared between sub-tests (each sub-test uses its own buckets).
// Sub-tests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGet", testPutGet},
		{"EmptyObject", testEmpty},
		{"Metadata", testMetadata},
		{"StreamUnknownSize", testStreamUnknownSize},
		{"StreamKnownLargeSize", testStreamKnownLarge},
		{"SizeMismatch", testSizeMismatch},
		{"ContextCanceled", testContextCanceled},
		{"IfAbsent", testIfAbsent},
		{"IfAbsentConcurrent", testIfAbsentConcurrent},
		{"IfAbsentConcurrentMultipart", testIfAbsentConcurrentMultipart},
		{"List", testList},
		{"ListStopEarly", testListStopEarly},
		{"Versions", testVersions},
		{"DeleteMarker", testDeleteMarker},
		{"ListDeleted", testListDeleted},
		{"DeleteVersion", testDeleteVersion},
		{"NotFound", testNotFound},
		{"InvalidKeys", testInvalidKeys},
		{"EnsureBucket", testEnsureBucket},
		{"RetentionGovernance", testRetentionGovernance},
		{"RetentionCompliance", testRetentionCompliance},
		{"RetentionExpires", testRetentionExpires},
		{"RetentionValidation", testRetentionValidation},
		{"LegalHold", testLegalHold},
		{"OverwriteLocked", testOverwriteLocked},
		{"BucketWithoutLock", testBucketWithoutLock},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// --- helpers ---------------------------------------------------------------

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newBucket makes a fresh bucket with a unique, valid name.
func newBucket(t *testing.T, s store.Store, objectLock bool) store.Bucket {
	t.Helper()
	name := "kt-" + randHex(8)
	if err := s.EnsureBucket(ctxT(t), name, objectLock); err != nil {
		t.Fatalf("EnsureBucket(%q, %v): %v", name, objectLock, err)
	}
	b := s.Bucket(name)
	if b.Name() != name {
		t.Fatalf("Name() = %q, want %q", b.Name(), name)
	}
	return b
}

func put(t *testing.T, b store.Bucket, key, data string, opts store.PutOptions) store.ObjectInfo {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = int64(len(data))
	}
	info, err := b.Put(ctxT(t), key, strings.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if info.Key != key || info.VersionID == "" || info.Size != int64(len(data)) {
		t.Fatalf("Put(%q) info = %+v, want key, version id and size %d", key, info, len(data))
	}
	return info
}

func get(t *testing.T, b store.Bucket, key, versionID string) (string, store.ObjectInfo) {
	t.Helper()
	rc, info, err := b.Get(ctxT(t), key, versionID)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", key, versionID, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %q): read: %v", key, versionID, err)
	}
	return string(data), info
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func wantNotFound(t *testing.T, b store.Bucket, key, versionID string) {
	t.Helper()
	_, _, err := b.Get(ctxT(t), key, versionID)
	wantErr(t, fmt.Sprintf("Get(%q, %q)", key, versionID), err, store.ErrNotFound)
	_, err = b.Stat(ctxT(t), key, versionID)
	wantErr(t, fmt.Sprintf("Stat(%q, %q)", key, versionID), err, store.ErrNotFound)
}

// lister is b.List or b.ListDeleted, so one collector serves both.
type lister func(ctx context.Context, prefix, startAfter string) iter.Seq2[store.ObjectInfo, error]

func list(t *testing.T, b store.Bucket, prefix, startAfter string) []store.ObjectInfo {
	t.Helper()
	return collect(t, "List", b.List, prefix, startAfter)
}

// collect reads a whole listing; name names the lister in a failure.
func collect(t *testing.T, name string, ls lister, prefix, startAfter string) []store.ObjectInfo {
	t.Helper()
	var out []store.ObjectInfo
	for info, err := range ls(ctxT(t), prefix, startAfter) {
		if err != nil {
			t.Fatalf("%s(%q, %q): %v", name, prefix, startAfter, err)
		}
		out = append(out, info)
	}
	return out
}

// stopsEarly checks that a listing of at least two entries ends when its
// consumer stops after two.
func stopsEarly(t *testing.T, ls lister) {
	t.Helper()
	n := 0
	for _, err := range ls(ctxT(t), "", "") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("stopped after %d", n)
	}
}

func keysOf(infos []store.ObjectInfo) []string {
	keys := make([]string, len(infos))
	for i, in := range infos {
		keys[i] = in.Key
	}
	return keys
}

func retentionIn(d time.Duration, mode store.RetentionMode) store.Retention {
	return store.Retention{Mode: mode, Until: time.Now().Add(d)}
}

// sameTime compares retain-until times, which drivers keep to the second.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Second && d < time.Second
}

// --- tests -----------------------------------------------------------------

func testPutGet(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	info := put(t, b, "indicators/2026/one.json", `{"id":1}`, store.PutOptions{ContentType: "application/json"})
	if info.LastModified.IsZero() || time.Since(info.LastModified) > time.Minute {
		t.Errorf("Put LastModified = %v, want about now", info.LastModified)
	}
	data, gi := get(t, b, "indicators/2026/one.json", "")
	if data != `{"id":1}` {
		t.Fatalf("Get = %q", data)
	}
	if gi.VersionID != info.VersionID || gi.Size != 8 || gi.ContentType != "application/json" {
		t.Errorf("Get info = %+v, want version %s, size 8, application/json", gi, info.VersionID)
	}
	st, err := b.Stat(ctxT(t), "indicators/2026/one.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if st.VersionID != info.VersionID || st.Size != 8 || st.ContentType != "application/json" || st.Key != "indicators/2026/one.json" {
		t.Errorf("Stat = %+v", st)
	}
	if d := st.LastModified.Sub(info.LastModified); d < -time.Second || d > time.Second {
		t.Errorf("Stat LastModified %v, Put said %v", st.LastModified, info.LastModified)
	}
	if data, _ := get(t, b, "indicators/2026/one.json", info.VersionID); data != `{"id":1}` {
		t.Errorf("Get by version = %q", data)
	}
	// Default content type, as S3.
	put(t, b, "raw", "x", store.PutOptions{})
	if st, err := b.Stat(ctxT(t), "raw", ""); err != nil || st.ContentType != "application/octet-stream" {
		t.Errorf("Stat(raw) = %+v, %v; want application/octet-stream", st, err)
	}
}

func testEmpty(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	for _, size := range []int64{0, -1} {
		key := fmt.Sprintf("empty%d", size)
		info, err := b.Put(ctxT(t), key, strings.NewReader(""), store.PutOptions{Size: size})
		if err != nil {
			t.Fatalf("Put empty (Size %d): %v", size, err)
		}
		if info.Size != 0 {
			t.Errorf("Size = %d", info.Size)
		}
		if data, gi := get(t, b, key, ""); data != "" || gi.Size != 0 {
			t.Errorf("Get = %q, %+v", data, gi)
		}
	}
}

func testMetadata(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	put(t, b, "m", "x", store.PutOptions{Metadata: map[string]string{"Purpose": "evidence", "case-id": "CERT-2026-0042"}})
	want := map[string]string{"purpose": "evidence", "case-id": "CERT-2026-0042"}
	st, err := b.Stat(ctxT(t), "m", "")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(st.Metadata, want) {
		t.Errorf("Stat metadata = %v, want %v", st.Metadata, want)
	}
	_, gi := get(t, b, "m", "")
	if !maps.Equal(gi.Metadata, want) {
		t.Errorf("Get metadata = %v, want %v", gi.Metadata, want)
	}
	for _, bad := range []map[string]string{
		{"note": "caf\u00e9"},
		{"bad key": "x"},
		{"k": "line\nbreak"},
		{"big": strings.Repeat("x", 3000)},
	} {
		if _, err := b.Put(ctxT(t), "bad-meta", strings.NewReader("x"), store.PutOptions{Metadata: bad}); err == nil {
			t.Errorf("Put with metadata %q: no error", bad)
		}
	}
	wantNotFound(t, b, "bad-meta", "")
}

// patternReader streams n deterministic bytes without holding them; it is
// neither a Seeker nor a WriterTo, so drivers cannot take shortcuts. Each
// aligned 8-byte word is a hash of its index and the seed: incompressible
// enough for a store, and cheap (about 4 GB/s), so it does not dominate
// throughput figures.
type patternReader struct {
	seed uint64
	off  int64
	n    int64
}

func (p *patternReader) word(i int64) uint64 {
	x := uint64(i) ^ p.seed
	x *= 0x9e3779b97f4a7c15
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	return x ^ x>>32
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	i := 0
	for i < len(b) {
		o := p.off + int64(i)
		if o%8 == 0 && len(b)-i >= 8 {
			binary.LittleEndian.PutUint64(b[i:], p.word(o/8))
			i += 8
			continue
		}
		b[i] = byte(p.word(o/8) >> (8 * (o % 8)))
		i++
	}
	p.off += int64(len(b))
	return len(b), nil
}

// Pattern returns a reader of n deterministic bytes (a function of seed and
// offset), generated on the fly: tests and benchmarks stream large objects
// without holding them in memory.
func Pattern(seed byte, n int64) io.Reader {
	return &patternReader{seed: uint64(seed) * 0x100000001b3, n: n}
}

// SamePattern reads r to the end and reports whether it held exactly
// Pattern(seed, n), comparing chunk by chunk in constant memory.
func SamePattern(r io.Reader, seed byte, n int64) error {
	want := Pattern(seed, n)
	gb := make([]byte, 256<<10)
	wb := make([]byte, 256<<10)
	var off int64
	for {
		g, gerr := io.ReadFull(r, gb)
		w, _ := io.ReadFull(want, wb[:g])
		if w != g || !bytes.Equal(gb[:g], wb[:w]) {
			return fmt.Errorf("content differs in the 256 KiB from offset %d", off)
		}
		off += int64(g)
		if gerr == io.EOF || gerr == io.ErrUnexpectedEOF {
			break
		}
		if gerr != nil {
			return gerr
		}
	}
	if off != n {
		return fmt.Errorf("read %d bytes, want %d", off, n)
	}
	return nil
}

func checkBig(t *testing.T, b store.Bucket, key, versionID string, seed byte, n int64) {
	t.Helper()
	rc, info, err := b.Get(ctxT(t), key, versionID)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	if info.Size != n {
		t.Errorf("Get(%q) Size = %d, want %d", key, info.Size, n)
	}
	if err := SamePattern(rc, seed, n); err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
}

func testStreamUnknownSize(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	info, err := b.Put(ctxT(t), "big/unknown", Pattern(1, BigObjectSize), store.PutOptions{Size: -1})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if info.Size != BigObjectSize {
		t.Errorf("Put Size = %d, want %d", info.Size, BigObjectSize)
	}
	checkBig(t, b, "big/unknown", "", 1, BigObjectSize)
	// An exact multiple of the part size ends with an empty read.
	if _, err := b.Put(ctxT(t), "big/exact", Pattern(2, 2*BigPart), store.PutOptions{}); err != nil {
		t.Fatalf("Put exact multiple: %v", err)
	}
	checkBig(t, b, "big/exact", "", 2, 2*BigPart)
	// Sizes around the buffering boundaries drivers may have.
	for _, n := range []int64{64<<10 - 1, 64 << 10, 64<<10 + 1, BigPart - 1, BigPart, BigPart + 1} {
		key := fmt.Sprintf("edge/%d", n)
		if _, err := b.Put(ctxT(t), key, Pattern(byte(n), n), store.PutOptions{Size: -1}); err != nil {
			t.Fatalf("Put %d bytes: %v", n, err)
		}
		checkBig(t, b, key, "", byte(n), n)
	}
	// Small data of unknown size.
	if _, err := b.Put(ctxT(t), "small/unknown", strings.NewReader("tiny"), store.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if data, _ := get(t, b, "small/unknown", ""); data != "tiny" {
		t.Errorf("Get = %q", data)
	}
}

func testStreamKnownLarge(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	if _, err := b.Put(ctxT(t), "big/known", Pattern(3, BigObjectSize), store.PutOptions{Size: BigObjectSize}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkBig(t, b, "big/known", "", 3, BigObjectSize)
}

func testSizeMismatch(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	cases := []struct {
		name   string
		size   int64
		actual int64
	}{
		{"short", 10, 5},
		{"long", 10, 15},
		{"shortBig", BigObjectSize, BigObjectSize - 1},
		{"longBig", BigObjectSize, BigObjectSize + 1},
	}
	for _, c := range cases {
		_, err := b.Put(ctxT(t), c.name, Pattern(4, c.actual), store.PutOptions{Size: c.size})
		if err == nil {
			t.Errorf("%s: Put of %d bytes announced as %d: no error", c.name, c.actual, c.size)
		}
		wantNotFound(t, b, c.name, "")
	}
}

func testContextCanceled(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	_, err := b.Put(ctx, "c", strings.NewReader("x"), store.PutOptions{Size: 1})
	wantErr(t, "Put with canceled context", err, context.Canceled)
	wantNotFound(t, b, "c", "")
	// Cancelled half-way through a stream.
	ctx, cancel = context.WithCancel(ctxT(t))
	r := &cancelAfter{r: Pattern(5, BigObjectSize), n: BigObjectSize / 2, cancel: cancel}
	if _, err := b.Put(ctx, "c2", r, store.PutOptions{Size: -1}); err == nil {
		t.Errorf("Put canceled mid-stream: no error")
	}
	wantNotFound(t, b, "c2", "")
}

type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func testIfAbsent(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	first := put(t, b, "pkg/1", "first", store.PutOptions{IfAbsent: true})
	_, err := b.Put(ctxT(t), "pkg/1", strings.NewReader("second"), store.PutOptions{IfAbsent: true, Size: 6})
	wantErr(t, "second create", err, store.ErrExists)
	// Also when the losing body is large (multipart on s3).
	_, err = b.Put(ctxT(t), "pkg/1", Pattern(6, BigObjectSize), store.PutOptions{IfAbsent: true})
	wantErr(t, "second create, large", err, store.ErrExists)
	if data, info := get(t, b, "pkg/1", ""); data != "first" || info.VersionID != first.VersionID {
		t.Errorf("after refused creates: %q %+v", data, info)
	}
	if vs, err := b.Versions(ctxT(t), "pkg/1"); err != nil || len(vs) != 1 {
		t.Errorf("Versions = %d, %v; want 1 version", len(vs), err)
	}
	// A delete marker means absent: create succeeds again (S3 semantics).
	if err := b.Delete(ctxT(t), "pkg/1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, b, "pkg/1", "again", store.PutOptions{IfAbsent: true})
	// Large create-if-absent on a fresh key works.
	if _, err := b.Put(ctxT(t), "pkg/big", Pattern(7, BigObjectSize), store.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	checkBig(t, b, "pkg/big", "", 7, BigObjectSize)
}

// race runs n creators of key at once and checks exactly one wins.
func race(t *testing.T, b store.Bucket, key string, n int, body func(i int) (io.Reader, int64)) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	infos := make([]store.ObjectInfo, n)
	for i := range n {
		wg.Go(func() {
			r, size := body(i)
			<-start
			infos[i], errs[i] = b.Put(ctxT(t), key, r, store.PutOptions{IfAbsent: true, Size: size})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("creators %d and %d both won", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Fatalf("creator %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no creator won")
	}
	vs, err := b.Versions(ctxT(t), key)
	if err != nil || len(vs) != 1 || vs[0].VersionID != infos[winner].VersionID {
		t.Fatalf("Versions = %+v, %v; want only the winner's %s", vs, err, infos[winner].VersionID)
	}
}

func testIfAbsentConcurrent(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	const n = 8
	race(t, b, "race/small", n, func(i int) (io.Reader, int64) {
		body := fmt.Sprintf("creator %d", i)
		return strings.NewReader(body), int64(len(body))
	})
	data, _ := get(t, b, "race/small", "")
	if !strings.HasPrefix(data, "creator ") {
		t.Errorf("content = %q", data)
	}
}

func testIfAbsentConcurrentMultipart(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	const n = 3
	race(t, b, "race/big", n, func(i int) (io.Reader, int64) {
		return Pattern(byte(10+i), BigPart+BigPart/2), -1
	})
	rc, _, err := b.Get(ctxT(t), "race/big", "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		want := make([]byte, 16)
		_, _ = io.ReadFull(Pattern(byte(10+i), 16), want)
		if bytes.Equal(head, want) {
			if err := SamePattern(io.MultiReader(bytes.NewReader(head), rc), byte(10+i), BigPart+BigPart/2); err != nil {
				t.Errorf("winner's content: %v", err)
			}
			return
		}
	}
	t.Errorf("content is no creator's")
}

// listKeys exercises ordering across '/' and across the fs driver's 32-byte
// chunks: "a-b" < "a.b" < "a/b/c" < "a0" byte-wise, although a walk of
// '/'-separated directories would list everything under "a/" first.
//
// No key here is a '/'-parent of another ("a" and "a/b"): MinIO keeps an
// object as a directory and leaves such children out of listings, so the
// contract cannot require it (see store.ValidKey). The fs driver handles it;
// its own tests check that.
func listKeys() []string {
	x := strings.Repeat("x", 32)
	long := strings.Repeat(strings.Repeat("s", 250)+"/", 4)
	long += strings.Repeat("t", store.MaxKeyLen-len(long))
	return []string{
		"a-b", "a.b", "a/b/c", "a/bc", "a/c/d", "ab", "a0", "b", "\u00e4/\u00f6", "z\u20ac",
		x, x + "a", x[:31] + "y", strings.Repeat("x", 40) + "/1", x + x, x + x + "-z", x + x + "0/q",
		long,
	}
}

func testList(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	keys := listKeys()
	for i, k := range keys {
		put(t, b, k, strings.Repeat("d", i+1), store.PutOptions{})
	}
	put(t, b, "gone", "x", store.PutOptions{})
	if err := b.Delete(ctxT(t), "gone", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for i, k := range keys {
		sizes[k] = int64(i + 1)
	}
	sorted := slices.Clone(keys)
	sort.Strings(sorted)
	x := strings.Repeat("x", 32)
	queries := [][2]string{
		{"", ""}, {"a", ""}, {"a/", ""}, {"a", "a"}, {"a", "a-b"}, {"a", "a/b"},
		{"", "a/bz"}, {"a/b", ""}, {"a/b", "a/b/c"}, {"", "a/b"}, {"a.", ""},
		{"x", ""}, {"x", x}, {x, ""}, {x + "x", ""}, {x + x, ""}, {x + x, x + x},
		{x + x + "/", ""}, {"", "zzz"}, {"nope", ""}, {"\u00e4", ""}, {"s", ""},
		{"a/b/c/d", ""}, {"", "b"}, {"g", ""},
	}
	for _, q := range queries {
		var want []string
		for _, k := range sorted {
			if strings.HasPrefix(k, q[0]) && k > q[1] {
				want = append(want, k)
			}
		}
		got := list(t, b, q[0], q[1])
		if !slices.Equal(keysOf(got), want) {
			t.Errorf("List(%q, %q) =\n  %q\nwant\n  %q", q[0], q[1], keysOf(got), want)
			continue
		}
		for _, in := range got {
			if in.Size != sizes[in.Key] || in.LastModified.IsZero() {
				t.Errorf("List entry %q: size %d, modified %v; want size %d", in.Key, in.Size, in.LastModified, sizes[in.Key])
			}
		}
	}
	// Paging by startAfter visits every key once.
	var paged []string
	after := ""
	for {
		page := 0
		for info, err := range b.List(ctxT(t), "", after) {
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, info.Key)
			after = info.Key
			if page++; page == 3 {
				break
			}
		}
		if page < 3 {
			break
		}
	}
	if !slices.Equal(paged, sorted) {
		t.Errorf("paged listing = %q, want %q", paged, sorted)
	}
}

func testListStopEarly(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	for i := range 5 {
		put(t, b, fmt.Sprintf("k%d", i), "x", store.PutOptions{})
	}
	stopsEarly(t, b.List)
	// An empty bucket lists nothing.
	if got := list(t, newBucket(t, s, false), "", ""); len(got) != 0 {
		t.Errorf("empty bucket lists %v", keysOf(got))
	}
}

func testVersions(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	var ids []string
	for i := range 3 {
		ids = append(ids, put(t, b, "v", fmt.Sprintf("version %d", i), store.PutOptions{}).VersionID)
	}
	vs, err := b.Versions(ctxT(t), "v")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 {
		t.Fatalf("Versions = %d entries, want 3", len(vs))
	}
	for i, v := range vs {
		want := ids[2-i]
		if v.VersionID != want || v.Key != "v" || v.IsLatest != (i == 0) || v.DeleteMarker || v.Size != 9 {
			t.Errorf("Versions[%d] = %+v, want id %s, latest %v", i, v, want, i == 0)
		}
		if i > 0 && v.LastModified.After(vs[i-1].LastModified) {
			t.Errorf("Versions not newest first: %v after %v", v.LastModified, vs[i-1].LastModified)
		}
		if data, _ := get(t, b, "v", v.VersionID); data != fmt.Sprintf("version %d", 2-i) {
			t.Errorf("Get(version %s) = %q", v.VersionID, data)
		}
	}
	if data, info := get(t, b, "v", ""); data != "version 2" || info.VersionID != ids[2] {
		t.Errorf("current = %q %s", data, info.VersionID)
	}
	// Versions of "v" do not include "v/x" or "vv".
	put(t, b, "v/x", "other", store.PutOptions{})
	put(t, b, "vv", "other", store.PutOptions{})
	if vs, _ := b.Versions(ctxT(t), "v"); len(vs) != 3 {
		t.Errorf("Versions(v) = %d entries after adding v/x and vv, want 3", len(vs))
	}
}

func testDeleteMarker(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	v1 := put(t, b, "d", "one", store.PutOptions{})
	if err := b.Delete(ctxT(t), "d", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, b, "d", "")
	vs, err := b.Versions(ctxT(t), "d")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || !vs[0].DeleteMarker || !vs[0].IsLatest || vs[1].DeleteMarker || vs[1].VersionID != v1.VersionID {
		t.Fatalf("Versions = %+v, want [marker (latest), v1]", vs)
	}
	marker := vs[0].VersionID
	if marker == "" {
		t.Fatal("delete marker has no version id")
	}
	if data, _ := get(t, b, "d", v1.VersionID); data != "one" {
		t.Errorf("old version after delete marker = %q", data)
	}
	wantNotFound(t, b, "d", marker)
	if got := list(t, b, "", ""); len(got) != 0 {
		t.Errorf("List shows deleted keys %q", keysOf(got))
	}
	// Removing the marker brings the object back.
	if err := b.Delete(ctxT(t), "d", store.DeleteOptions{VersionID: marker}); err != nil {
		t.Fatal(err)
	}
	if data, info := get(t, b, "d", ""); data != "one" || info.VersionID != v1.VersionID {
		t.Errorf("after removing marker: %q %+v", data, info)
	}
	// A delete marker on a key that never existed is allowed, as in S3.
	if err := b.Delete(ctxT(t), "never", store.DeleteOptions{}); err != nil {
		t.Errorf("Delete(never): %v", err)
	}
}

// testListDeleted: ListDeleted yields exactly the keys List leaves out
// because a delete marker is their current version, each with that marker,
// in key order, by prefix and start-after, and can stop early.
func testListDeleted(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	del := func(key string) {
		t.Helper()
		if err := b.Delete(ctxT(t), key, store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, b, "r/live", "x", store.PutOptions{})
	put(t, b, "r/hidden", "x", store.PutOptions{})
	del("r/hidden")
	put(t, b, "r/twice", "x", store.PutOptions{})
	del("r/twice")
	del("r/twice")
	put(t, b, "r/back", "x", store.PutOptions{})
	del("r/back")
	put(t, b, "r/back", "y", store.PutOptions{}) // written again: current
	put(t, b, "r/unhidden", "x", store.PutOptions{})
	del("r/unhidden")
	vs, err := b.Versions(ctxT(t), "r/unhidden")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctxT(t), "r/unhidden", store.DeleteOptions{VersionID: vs[0].VersionID}); err != nil {
		t.Fatal(err)
	}
	put(t, b, "s/hidden", "x", store.PutOptions{})
	del("s/hidden")

	for _, q := range []struct {
		prefix, after string
		want          []string
	}{
		{"r/", "", []string{"r/hidden", "r/twice"}},
		{"", "", []string{"r/hidden", "r/twice", "s/hidden"}},
		{"r/", "r/hidden", []string{"r/twice"}},
		{"r/t", "", []string{"r/twice"}},
		{"", "r/twice", []string{"s/hidden"}},
		{"r/live", "", nil},
		{"t", "", nil},
	} {
		got := collect(t, "ListDeleted", b.ListDeleted, q.prefix, q.after)
		if !slices.Equal(keysOf(got), q.want) {
			t.Errorf("ListDeleted(%q, %q) = %q, want %q", q.prefix, q.after, keysOf(got), q.want)
			continue
		}
		for _, in := range got {
			vs, err := b.Versions(ctxT(t), in.Key)
			if err != nil {
				t.Fatal(err)
			}
			if !in.DeleteMarker || !in.IsLatest || in.VersionID != vs[0].VersionID || !vs[0].DeleteMarker || in.LastModified.IsZero() {
				t.Errorf("ListDeleted entry %+v, want the current delete marker %+v", in, vs[0])
			}
		}
	}
	// List still leaves all of them out.
	if got := keysOf(list(t, b, "", "")); !slices.Equal(got, []string{"r/back", "r/live", "r/unhidden"}) {
		t.Errorf("List = %q", got)
	}
	stopsEarly(t, b.ListDeleted)
}

func testDeleteVersion(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	v1 := put(t, b, "dv", "one", store.PutOptions{})
	v2 := put(t, b, "dv", "two", store.PutOptions{})
	if err := b.Delete(ctxT(t), "dv", store.DeleteOptions{VersionID: v2.VersionID}); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, b, "dv", v2.VersionID)
	if data, info := get(t, b, "dv", ""); data != "one" || info.VersionID != v1.VersionID {
		t.Errorf("current after deleting v2 = %q %s", data, info.VersionID)
	}
	// Deleting it again, or a version that never was, succeeds (S3).
	if err := b.Delete(ctxT(t), "dv", store.DeleteOptions{VersionID: v2.VersionID}); err != nil {
		t.Errorf("second delete of a version: %v", err)
	}
	if err := b.Delete(ctxT(t), "dv", store.DeleteOptions{VersionID: v1.VersionID}); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, b, "dv", "")
	_, err := b.Versions(ctxT(t), "dv")
	wantErr(t, "Versions after deleting every version", err, store.ErrNotFound)
	if got := list(t, b, "", ""); len(got) != 0 {
		t.Errorf("List = %q", keysOf(got))
	}
}

func testNotFound(t *testing.T, s store.Store) {
	b := newBucket(t, s, true)
	wantNotFound(t, b, "missing", "")
	v := put(t, b, "here", "x", store.PutOptions{})
	other := put(t, b, "other", "y", store.PutOptions{})
	if err := b.Delete(ctxT(t), "other", store.DeleteOptions{VersionID: other.VersionID}); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, b, "here", other.VersionID) // an id that no longer exists
	wantNotFound(t, b, "here", "not-a-version")
	if err := b.Delete(ctxT(t), "here", store.DeleteOptions{VersionID: "not-a-version"}); err != nil {
		t.Errorf("Delete of a malformed version id: %v", err)
	}
	_, err := b.Versions(ctxT(t), "missing")
	wantErr(t, "Versions(missing)", err, store.ErrNotFound)
	_, err = b.GetRetention(ctxT(t), "missing", "")
	wantErr(t, "GetRetention(missing)", err, store.ErrNotFound)
	_, err = b.LegalHold(ctxT(t), "missing", "")
	wantErr(t, "LegalHold(missing)", err, store.ErrNotFound)
	err = b.SetRetention(ctxT(t), "missing", "", retentionIn(time.Hour, store.Governance), false)
	wantErr(t, "SetRetention(missing)", err, store.ErrNotFound)
	err = b.SetLegalHold(ctxT(t), "missing", "", true)
	wantErr(t, "SetLegalHold(missing)", err, store.ErrNotFound)
	if _, err := b.GetRetention(ctxT(t), "here", v.VersionID); err != nil {
		t.Errorf("GetRetention(here): %v", err)
	}
	// A bucket that does not exist.
	nb := s.Bucket("kt-missing-" + randHex(4))
	_, err = nb.Stat(ctxT(t), "x", "")
	wantErr(t, "Stat in missing bucket", err, store.ErrNotFound)
	_, err = nb.Put(ctxT(t), "x", strings.NewReader("x"), store.PutOptions{Size: 1})
	wantErr(t, "Put in missing bucket", err, store.ErrNotFound)
	for _, err := range nb.List(ctxT(t), "", "") {
		wantErr(t, "List of missing bucket", err, store.ErrNotFound)
	}
}

func testInvalidKeys(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	bad := []string{
		"", "..", "a/../b", "a..b", "a\x00b", "\xff\xfe", "/a", "a/", "a//b", "a/./b", "./a",
		"a\\b", "tab\there", strings.Repeat("k", store.MaxKeyLen+1), strings.Repeat("s", 256),
	}
	for _, k := range bad {
		_, err := b.Put(ctxT(t), k, strings.NewReader("x"), store.PutOptions{Size: 1})
		wantErr(t, fmt.Sprintf("Put(%q)", k), err, store.ErrInvalidKey)
		_, _, err = b.Get(ctxT(t), k, "")
		wantErr(t, fmt.Sprintf("Get(%q)", k), err, store.ErrInvalidKey)
		_, err = b.Stat(ctxT(t), k, "")
		wantErr(t, fmt.Sprintf("Stat(%q)", k), err, store.ErrInvalidKey)
		err = b.Delete(ctxT(t), k, store.DeleteOptions{})
		wantErr(t, fmt.Sprintf("Delete(%q)", k), err, store.ErrInvalidKey)
	}
	if got := list(t, b, "", ""); len(got) != 0 {
		t.Errorf("invalid keys were stored: %q", keysOf(got))
	}
	// Odd but valid keys.
	for _, k := range []string{"a.b", ".hidden", "a/.b", "sp ace", "q?x=1&y", "#hash", "%41", "\u00e9t\u00e9"} {
		put(t, b, k, "ok", store.PutOptions{})
		if data, _ := get(t, b, k, ""); data != "ok" {
			t.Errorf("Get(%q) = %q", k, data)
		}
	}
}

func testEnsureBucket(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	name := "kt-" + randHex(8)
	for range 2 {
		if err := s.EnsureBucket(ctx, name, true); err != nil {
			t.Fatalf("EnsureBucket(lock): %v", err)
		}
	}
	if err := s.EnsureBucket(ctx, name, false); err != nil {
		t.Errorf("EnsureBucket(no lock) on a lock bucket: %v", err)
	}
	plain := "kt-" + randHex(8)
	if err := s.EnsureBucket(ctx, plain, false); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "EnsureBucket(lock) on a bucket without lock", s.EnsureBucket(ctx, plain, true), store.ErrRetention)
	for _, bad := range []string{"", "ab", "Upper", "under_score", "-dash", "a..b", strings.Repeat("a", 64), "../etc"} {
		wantErr(t, fmt.Sprintf("EnsureBucket(%q)", bad), s.EnsureBucket(ctx, bad, false), store.ErrInvalidKey)
	}
	// Concurrent creators agree.
	racy := "kt-" + randHex(8)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.EnsureBucket(ctx, racy, true) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent EnsureBucket %d: %v", i, err)
		}
	}
}

func testRetentionGovernance(t *testing.T, s store.Store) {
	b := newBucket(t, s, true)
	until := time.Now().Add(time.Hour)
	v := put(t, b, "gov", "keep", store.PutOptions{Retention: &store.Retention{Mode: store.Governance, Until: until}})
	r, err := b.GetRetention(ctxT(t), "gov", v.VersionID)
	if err != nil || r == nil || r.Mode != store.Governance || !sameTime(r.Until, until) || r.Until.Before(until.Truncate(time.Second)) {
		t.Fatalf("GetRetention = %+v, %v; want governance until %v", r, err, until)
	}
	err = b.Delete(ctxT(t), "gov", store.DeleteOptions{VersionID: v.VersionID})
	wantErr(t, "Delete under governance", err, store.ErrLocked)
	// Shortening needs the bypass; extending does not.
	err = b.SetRetention(ctxT(t), "gov", v.VersionID, retentionIn(30*time.Minute, store.Governance), false)
	wantErr(t, "shorten governance without bypass", err, store.ErrRetention)
	if err := b.SetRetention(ctxT(t), "gov", v.VersionID, retentionIn(2*time.Hour, store.Governance), false); err != nil {
		t.Errorf("extend governance: %v", err)
	}
	if err := b.SetRetention(ctxT(t), "gov", v.VersionID, retentionIn(30*time.Minute, store.Governance), true); err != nil {
		t.Errorf("shorten governance with bypass: %v", err)
	}
	if r, _ := b.GetRetention(ctxT(t), "gov", v.VersionID); r == nil || r.Until.After(time.Now().Add(31*time.Minute)) {
		t.Errorf("after shortening: %+v", r)
	}
	// A delete marker is not stopped by the lock, and leaves the version.
	if err := b.Delete(ctxT(t), "gov", store.DeleteOptions{}); err != nil {
		t.Errorf("delete marker on a locked object: %v", err)
	}
	if data, _ := get(t, b, "gov", v.VersionID); data != "keep" {
		t.Errorf("locked version = %q", data)
	}
	if err := b.Delete(ctxT(t), "gov", store.DeleteOptions{VersionID: v.VersionID, BypassGovernance: true}); err != nil {
		t.Fatalf("Delete with governance bypass: %v", err)
	}
	wantNotFound(t, b, "gov", v.VersionID)
	// Retention set after the put (on the current version).
	put(t, b, "gov2", "x", store.PutOptions{})
	if err := b.SetRetention(ctxT(t), "gov2", "", retentionIn(time.Hour, store.Governance), false); err != nil {
		t.Fatal(err)
	}
	st, _ := b.Stat(ctxT(t), "gov2", "")
	err = b.Delete(ctxT(t), "gov2", store.DeleteOptions{VersionID: st.VersionID})
	wantErr(t, "Delete after SetRetention", err, store.ErrLocked)
}

func testRetentionCompliance(t *testing.T, s store.Store) {
	b := newBucket(t, s, true)
	until := time.Now().Add(10 * time.Minute)
	v := put(t, b, "comp", "mandated", store.PutOptions{Retention: &store.Retention{Mode: store.Compliance, Until: until}})
	for _, bypass := range []bool{false, true} {
		err := b.Delete(ctxT(t), "comp", store.DeleteOptions{VersionID: v.VersionID, BypassGovernance: bypass})
		wantErr(t, fmt.Sprintf("Delete under compliance (bypass %v)", bypass), err, store.ErrLocked)
		err = b.SetRetention(ctxT(t), "comp", v.VersionID, retentionIn(5*time.Minute, store.Compliance), bypass)
		wantErr(t, fmt.Sprintf("shorten compliance (bypass %v)", bypass), err, store.ErrRetention)
		err = b.SetRetention(ctxT(t), "comp", v.VersionID, retentionIn(time.Hour, store.Governance), bypass)
		wantErr(t, fmt.Sprintf("compliance to governance (bypass %v)", bypass), err, store.ErrRetention)
	}
	later := time.Now().Add(20 * time.Minute)
	if err := b.SetRetention(ctxT(t), "comp", v.VersionID, store.Retention{Mode: store.Compliance, Until: later}, false); err != nil {
		t.Fatalf("extend compliance: %v", err)
	}
	r, err := b.GetRetention(ctxT(t), "comp", v.VersionID)
	if err != nil || r == nil || r.Mode != store.Compliance || !sameTime(r.Until, later) {
		t.Errorf("GetRetention = %+v, %v; want compliance until %v", r, err, later)
	}
	if data, _ := get(t, b, "comp", v.VersionID); data != "mandated" {
		t.Errorf("content = %q", data)
	}
	// Changing governance to compliance is a change of mode, which S3 (and
	// so this store) allows only with the governance bypass.
	g := put(t, b, "g2c", "x", store.PutOptions{Retention: &store.Retention{Mode: store.Governance, Until: time.Now().Add(time.Hour)}})
	err = b.SetRetention(ctxT(t), "g2c", g.VersionID, retentionIn(2*time.Hour, store.Compliance), false)
	wantErr(t, "governance to compliance without bypass", err, store.ErrRetention)
	if err := b.SetRetention(ctxT(t), "g2c", g.VersionID, retentionIn(2*time.Hour, store.Compliance), true); err != nil {
		t.Errorf("governance to compliance with bypass: %v", err)
	}
}

func testRetentionExpires(t *testing.T, s store.Store) {
	b := newBucket(t, s, true)
	v := put(t, b, "short", "x", store.PutOptions{Retention: &store.Retention{Mode: store.Compliance, Until: time.Now().Add(time.Second)}})
	err := b.Delete(ctxT(t), "short", store.DeleteOptions{VersionID: v.VersionID, BypassGovernance: true})
	wantErr(t, "Delete before expiry", err, store.ErrLocked)
	r, err := b.GetRetention(ctxT(t), "short", v.VersionID)
	if err != nil || r == nil {
		t.Fatalf("GetRetention = %v, %v", r, err)
	}
	time.Sleep(time.Until(r.Until) + 1100*time.Millisecond)
	if err := b.Delete(ctxT(t), "short", store.DeleteOptions{VersionID: v.VersionID}); err != nil {
		t.Errorf("Delete after expiry: %v", err)
	}
}

func testRetentionValidation(t *testing.T, s store.Store) {
	b := newBucket(t, s, true)
	past := &store.Retention{Mode: store.Governance, Until: time.Now().Add(-time.Minute)}
	_, err := b.Put(ctxT(t), "p", strings.NewReader("x"), store.PutOptions{Size: 1, Retention: past})
	wantErr(t, "Put with retention in the past", err, store.ErrRetention)
	bogus := &store.Retention{Mode: "FOREVER", Until: time.Now().Add(time.Hour)}
	_, err = b.Put(ctxT(t), "p", strings.NewReader("x"), store.PutOptions{Size: 1, Retention: bogus})
	wantErr(t, "Put with unknown mode", err, store.ErrRetention)
	wantNotFound(t, b, "p", "")
	put(t, b, "p", "x", store.PutOptions{})
	err = b.SetRetention(ctxT(t), "p", "", *past, false)
	wantErr(t, "SetRetention in the past", err, store.ErrRetention)
	if r, err := b.GetRetention(ctxT(t), "p", ""); err != nil || r != nil {
		t.Errorf("GetRetention without retention = %+v, %v; want nil", r, err)
	}
	// Retention on a delete marker: there is no such object version.
	if err := b.Delete(ctxT(t), "p", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = b.SetRetention(ctxT(t), "p", "", retentionIn(time.Hour, store.Governance), false)
	wantErr(t, "SetRetention on a delete marker", err, store.ErrNotFound)
}

func testLegalHold(t *testing.T, s store.Store) {
	b := newBucket(t, s, true)
	v := put(t, b, "held", "evidence", store.PutOptions{LegalHold: true})
	on, err := b.LegalHold(ctxT(t), "held", v.VersionID)
	if err != nil || !on {
		t.Fatalf("LegalHold = %v, %v; want true", on, err)
	}
	for _, bypass := range []bool{false, true} {
		err := b.Delete(ctxT(t), "held", store.DeleteOptions{VersionID: v.VersionID, BypassGovernance: bypass})
		wantErr(t, fmt.Sprintf("Delete under legal hold (bypass %v)", bypass), err, store.ErrLocked)
	}
	if err := b.SetLegalHold(ctxT(t), "held", v.VersionID, false); err != nil {
		t.Fatal(err)
	}
	if on, err := b.LegalHold(ctxT(t), "held", v.VersionID); err != nil || on {
		t.Fatalf("LegalHold after release = %v, %v", on, err)
	}
	if err := b.Delete(ctxT(t), "held", store.DeleteOptions{VersionID: v.VersionID}); err != nil {
		t.Fatalf("Delete after release: %v", err)
	}
	// A hold set after the put, on the current version.
	w := put(t, b, "later", "x", store.PutOptions{})
	if on, err := b.LegalHold(ctxT(t), "later", ""); err != nil || on {
		t.Errorf("LegalHold before setting = %v, %v", on, err)
	}
	if err := b.SetLegalHold(ctxT(t), "later", "", true); err != nil {
		t.Fatal(err)
	}
	err = b.Delete(ctxT(t), "later", store.DeleteOptions{VersionID: w.VersionID})
	wantErr(t, "Delete after SetLegalHold", err, store.ErrLocked)
	// Hold and retention are independent: releasing one leaves the other.
	h := put(t, b, "both", "x", store.PutOptions{LegalHold: true, Retention: &store.Retention{Mode: store.Governance, Until: time.Now().Add(time.Hour)}})
	if err := b.SetLegalHold(ctxT(t), "both", h.VersionID, false); err != nil {
		t.Fatal(err)
	}
	err = b.Delete(ctxT(t), "both", store.DeleteOptions{VersionID: h.VersionID})
	wantErr(t, "Delete with retention left", err, store.ErrLocked)
	if err := b.Delete(ctxT(t), "both", store.DeleteOptions{VersionID: h.VersionID, BypassGovernance: true}); err != nil {
		t.Errorf("Delete with bypass once the hold is released: %v", err)
	}
}

func testOverwriteLocked(t *testing.T, s store.Store) {
	b := newBucket(t, s, true)
	until := time.Now().Add(10 * time.Minute)
	v1 := put(t, b, "case/pkg", "original", store.PutOptions{LegalHold: true, Retention: &store.Retention{Mode: store.Compliance, Until: until}})
	v2 := put(t, b, "case/pkg", "replacement", store.PutOptions{})
	if v1.VersionID == v2.VersionID {
		t.Fatal("overwrite reused the version id")
	}
	if data, info := get(t, b, "case/pkg", ""); data != "replacement" || info.VersionID != v2.VersionID {
		t.Errorf("current = %q %s", data, info.VersionID)
	}
	if data, _ := get(t, b, "case/pkg", v1.VersionID); data != "original" {
		t.Errorf("locked version = %q, want intact", data)
	}
	if r, err := b.GetRetention(ctxT(t), "case/pkg", v1.VersionID); err != nil || r == nil || r.Mode != store.Compliance {
		t.Errorf("locked version retention = %+v, %v", r, err)
	}
	if on, err := b.LegalHold(ctxT(t), "case/pkg", v1.VersionID); err != nil || !on {
		t.Errorf("locked version hold = %v, %v", on, err)
	}
	if r, err := b.GetRetention(ctxT(t), "case/pkg", v2.VersionID); err != nil || r != nil {
		t.Errorf("new version retention = %+v, %v; want none", r, err)
	}
	err := b.Delete(ctxT(t), "case/pkg", store.DeleteOptions{VersionID: v1.VersionID, BypassGovernance: true})
	wantErr(t, "Delete of the locked version", err, store.ErrLocked)
	_, err = b.Put(ctxT(t), "case/pkg", strings.NewReader("x"), store.PutOptions{Size: 1, IfAbsent: true})
	wantErr(t, "create-if-absent over a locked object", err, store.ErrExists)
}

func testBucketWithoutLock(t *testing.T, s store.Store) {
	b := newBucket(t, s, false)
	ret := &store.Retention{Mode: store.Governance, Until: time.Now().Add(time.Hour)}
	_, err := b.Put(ctxT(t), "r", strings.NewReader("x"), store.PutOptions{Size: 1, Retention: ret})
	wantErr(t, "Put with retention", err, store.ErrRetention)
	_, err = b.Put(ctxT(t), "h", strings.NewReader("x"), store.PutOptions{Size: 1, LegalHold: true})
	wantErr(t, "Put with legal hold", err, store.ErrRetention)
	wantNotFound(t, b, "r", "")
	wantNotFound(t, b, "h", "")
	v := put(t, b, "plain", "x", store.PutOptions{})
	err = b.SetRetention(ctxT(t), "plain", v.VersionID, *ret, false)
	wantErr(t, "SetRetention", err, store.ErrRetention)
	err = b.SetLegalHold(ctxT(t), "plain", v.VersionID, true)
	wantErr(t, "SetLegalHold", err, store.ErrRetention)
	if r, err := b.GetRetention(ctxT(t), "plain", v.VersionID); err != nil || r != nil {
		t.Errorf("GetRetention = %+v, %v; want nil, nil", r, err)
	}
	if on, err := b.LegalHold(ctxT(t), "plain", v.VersionID); err != nil || on {
		t.Errorf("LegalHold = %v, %v; want false, nil", on, err)
	}
	// Versioning is on even without Object Lock.
	put(t, b, "plain", "y", store.PutOptions{})
	if vs, err := b.Versions(ctxT(t), "plain"); err != nil || len(vs) != 2 {
		t.Errorf("Versions = %d, %v; want 2", len(vs), err)
	}
	if err := b.Delete(ctxT(t), "plain", store.DeleteOptions{VersionID: v.VersionID}); err != nil {
		t.Errorf("Delete version: %v", err)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if d := s.Driver(); d != "fs" && d != "s3" {
		t.Errorf("Driver() = %q", d)
	}
}
