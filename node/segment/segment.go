// Package segment is the node's append-only log of signed objects. One S3
// PUT and one OpenPGP encryption per indicator would cap ingest below 1,000
// objects/s (ARCHITECTURE.md, "Many small objects"), so each object version
// is signed on its own — its provenance travels alone — but versions are
// written in batches: a segment is a JSON Lines file of records, sealed
// once (signed and encrypted to the node's own key) and stored
// create-if-absent under a sequence number. The index points into segments
// by (segment, offset, length); the ordered segments are also the change
// feed peers pull.
package segment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/store"
)

// Prefix is where segments live in the objects bucket.
const Prefix = "indicators/segments/"

// Kinds of record.
const (
	// KindObject is a STIX object version.
	KindObject = "object"
	// KindRetraction withdraws an object or narrows its sharing (federation).
	KindRetraction = "retraction"
)

// Record is one entry of a segment: an object version in its canonical
// (RFC 8785) form with its origin's detached signature, and the node-side
// metadata that must never be written into the object itself.
type Record struct {
	Kind string `json:"kind"`
	// Object is the canonical JSON of the object version (or retraction).
	Object json.RawMessage `json:"object"`
	// Sig is the origin node's detached OpenPGP signature over Object.
	Sig []byte `json:"sig"`
	// Origin is the fingerprint of the node that signed Object.
	Origin string `json:"origin"`
	// Added is when this node stored the version (TAXII date_added).
	Added time.Time `json:"added"`
	// TLP is the effective handling level on this node ("amber" etc.): the
	// object's own marking, or the node default when it carries none.
	TLP string `json:"tlp"`
	// DefaultTLP is set when TLP came from the node default, not the object.
	DefaultTLP bool `json:"default_tlp,omitempty"`
	// Path lists the fingerprints of the nodes the object travelled
	// through after its origin (federation relay), oldest first.
	Path []string `json:"path,omitempty"`
}

// Location addresses one record.
type Location struct {
	Segment string
	Offset  int64
	Length  int64
}

// Log appends and reads segments.
type Log struct {
	bucket store.Bucket
	sealer *seal.Sealer

	mu   sync.Mutex // serialises appends: one writer per node
	next uint64

	cacheMu sync.Mutex
	cache   map[string]*cacheEntry
	order   []string // FIFO of cached segment names
	max     int
}

type cacheEntry struct {
	once sync.Once
	data []byte
	err  error
}

// Open prepares the log: the next sequence number follows the last stored
// segment.
func Open(ctx context.Context, bucket store.Bucket, sealer *seal.Sealer) (*Log, error) {
	l := &Log{bucket: bucket, sealer: sealer, cache: map[string]*cacheEntry{}, max: 64}
	last, err := l.last(ctx)
	if err != nil {
		return nil, err
	}
	l.next = last + 1
	return l, nil
}

func (l *Log) last(ctx context.Context) (uint64, error) {
	var last uint64
	for info, err := range l.bucket.List(ctx, Prefix, "") {
		if err != nil {
			return 0, fmt.Errorf("segment: list: %w", err)
		}
		n, err := Seq(info.Key)
		if err != nil {
			continue // not ours; never fail start-up on a stray key
		}
		last = max(last, n)
	}
	return last, nil
}

// Name is the object key of segment n; zero-padded so keys sort by number.
func Name(n uint64) string { return fmt.Sprintf("%s%016d", Prefix, n) }

// Seq parses a segment key.
func Seq(key string) (uint64, error) {
	s, ok := strings.CutPrefix(key, Prefix)
	if !ok || len(s) != 16 {
		return 0, fmt.Errorf("segment: %q is not a segment key", key)
	}
	return strconv.ParseUint(s, 10, 64)
}

// Append seals records into a new segment and stores it. It returns where
// each record landed; only then may the caller index them and acknowledge.
func (l *Log) Append(ctx context.Context, records []Record) (string, []Location, error) {
	if len(records) == 0 {
		return "", nil, errors.New("segment: nothing to append")
	}
	var plain bytes.Buffer
	locs := make([]Location, len(records))
	for i, r := range records {
		if r.Kind == "" {
			r.Kind = KindObject
		}
		b, err := json.Marshal(r)
		if err != nil {
			return "", nil, fmt.Errorf("segment: encode record %d: %w", i, err)
		}
		locs[i] = Location{Offset: int64(plain.Len()), Length: int64(len(b))}
		plain.Write(b)
		plain.WriteByte('\n')
	}
	var sealed bytes.Buffer
	w, err := l.sealer.SealTo(&sealed)
	if err != nil {
		return "", nil, fmt.Errorf("segment: seal: %w", err)
	}
	if _, err := w.Write(plain.Bytes()); err != nil {
		return "", nil, fmt.Errorf("segment: seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", nil, fmt.Errorf("segment: seal: %w", err)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		name := Name(l.next)
		_, err := l.bucket.Put(ctx, name, bytes.NewReader(sealed.Bytes()), store.PutOptions{
			IfAbsent: true, Size: int64(sealed.Len()), ContentType: "application/pgp-encrypted",
		})
		if errors.Is(err, store.ErrExists) {
			// Another process appended (e.g. a restore): move past it.
			l.next++
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("segment: store %s: %w", name, err)
		}
		l.next++
		for i := range locs {
			locs[i].Segment = name
		}
		l.remember(name, plain.Bytes())
		return name, locs, nil
	}
}

// Read returns a segment's verified plaintext (cached).
func (l *Log) Read(ctx context.Context, name string) ([]byte, error) {
	l.cacheMu.Lock()
	e, ok := l.cache[name]
	if !ok {
		e = &cacheEntry{}
		l.insert(name, e)
	}
	l.cacheMu.Unlock()
	e.once.Do(func() { e.data, e.err = l.load(ctx, name) })
	if e.err != nil {
		l.cacheMu.Lock()
		if l.cache[name] == e {
			delete(l.cache, name)
		}
		l.cacheMu.Unlock()
		return nil, e.err
	}
	return e.data, nil
}

func (l *Log) load(ctx context.Context, name string) ([]byte, error) {
	rc, _, err := l.bucket.Get(ctx, name, "")
	if err != nil {
		return nil, fmt.Errorf("segment: get %s: %w", name, err)
	}
	defer rc.Close()
	var plain bytes.Buffer
	signer, err := l.sealer.Open(rc, &plain)
	if err != nil {
		return nil, fmt.Errorf("segment: open %s: %w", name, err)
	}
	if signer.Fingerprint != l.sealer.Self().Fingerprint() {
		return nil, fmt.Errorf("segment: %s sealed by %s, not by this node", name, signer.Fingerprint)
	}
	return plain.Bytes(), nil
}

func (l *Log) remember(name string, data []byte) {
	e := &cacheEntry{data: data}
	e.once.Do(func() {})
	l.cacheMu.Lock()
	l.insert(name, e)
	l.cacheMu.Unlock()
}

// insert adds to the cache, evicting the oldest entry; cacheMu held.
func (l *Log) insert(name string, e *cacheEntry) {
	if _, ok := l.cache[name]; !ok {
		l.order = append(l.order, name)
	}
	l.cache[name] = e
	for len(l.order) > l.max {
		delete(l.cache, l.order[0])
		l.order = l.order[1:]
	}
}

// Get reads one record.
func (l *Log) Get(ctx context.Context, loc Location) (Record, error) {
	data, err := l.Read(ctx, loc.Segment)
	if err != nil {
		return Record{}, err
	}
	if loc.Offset < 0 || loc.Length <= 0 || loc.Offset+loc.Length > int64(len(data)) {
		return Record{}, fmt.Errorf("segment: %s has no record at %d+%d", loc.Segment, loc.Offset, loc.Length)
	}
	var r Record
	if err := json.Unmarshal(data[loc.Offset:loc.Offset+loc.Length], &r); err != nil {
		return Record{}, fmt.Errorf("segment: decode record in %s at %d: %w", loc.Segment, loc.Offset, err)
	}
	r.Object = canonicalObject(r.Object)
	return r, nil
}

// canonicalObject undoes the escaping the record encoder applies (<, > and
// & as \u003c…, U+2028/2029 as \u2028…), so a record's object is again
// exactly the canonical bytes its origin signed and callers may compare
// and serve it as is.
func canonicalObject(obj []byte) []byte {
	if bytes.Contains(obj, []byte(`\u00`)) || bytes.Contains(obj, []byte(`\u202`)) {
		if c, err := seal.Canonicalize(obj); err == nil {
			return c
		}
	}
	return obj
}

// Entry is a record with its location.
type Entry struct {
	Record
	Loc Location
}

// Records decodes every record of a segment, in order.
func (l *Log) Records(ctx context.Context, name string) ([]Entry, error) {
	data, err := l.Read(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data) - off
		}
		var e Entry
		if err := json.Unmarshal(data[off:off+end], &e.Record); err != nil {
			return nil, fmt.Errorf("segment: decode record in %s at %d: %w", name, off, err)
		}
		e.Object = canonicalObject(e.Object)
		e.Loc = Location{Segment: name, Offset: int64(off), Length: int64(end)}
		out = append(out, e)
		off += end + 1
	}
	return out, nil
}

// Segments yields segment names after the given one (all when after is
// ""), in order: the change feed and the reindex source.
func (l *Log) Segments(ctx context.Context, after string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for info, err := range l.bucket.List(ctx, Prefix, after) {
			if err != nil {
				yield("", fmt.Errorf("segment: list: %w", err))
				return
			}
			if _, err := Seq(info.Key); err != nil {
				continue
			}
			if !yield(info.Key, nil) {
				return
			}
		}
	}
}
