package index

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Versions returns every version of an object, oldest (by Modified) first;
// none for an unknown id.
func (ix *Index) Versions(id string) ([]Entry, error) {
	var out []Entry
	err := ix.view(func(tx *bolt.Tx) error {
		num := tx.Bucket(bucketIDs).Get([]byte(id))
		if num == nil {
			return nil
		}
		c := tx.Bucket(bucketVersions).Cursor()
		for k, v := c.Seek(num); k != nil && bytes.HasPrefix(k, num); k, v = c.Next() {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Current returns the current (newest) version of an object, revoked or not.
func (ix *Index) Current(id string) (Entry, bool, error) {
	var e Entry
	var ok bool
	err := ix.view(func(tx *bolt.Tx) error {
		num := tx.Bucket(bucketIDs).Get([]byte(id))
		if num == nil {
			return nil
		}
		o, err := decodeObj(tx.Bucket(bucketObjs).Get(num), false)
		if err != nil {
			return err
		}
		e, err = decodeEntry(tx.Bucket(bucketVersions).Get(versionKey(num, o.mod)))
		ok = err == nil
		return err
	})
	return e, ok, err
}

// DefaultLimit is the page size of a Query with no Limit.
const DefaultLimit = 1000

// Query selects versions. Set fields are combined with AND; a list matches
// any of its elements.
type Query struct {
	Types          []string  // STIX types
	Origin         string    // origin node fingerprint
	TLPs           []string  // effective TLPs
	Label          string    // one of the labels
	SpecVersions   []string  // spec_version ("2.1")
	AddedAfter     time.Time // Added strictly after
	IncludeRevoked bool      // include objects whose current version is revoked
	AllVersions    bool      // every version, not only the current one
	IDs            []string  // object ids
	Limit          int       // page size; <= 0: DefaultLimit
	Cursor         string    // Page.Next of the previous page
}

// Page is one page of a Query, ordered by Added ascending (then by an
// internal object number and Modified). Next is the cursor of the following
// page, "" when there is none. A cursor is a position (the last Added
// returned and its version), so paging is stable under concurrent inserts:
// versions added later appear on later pages, nothing is repeated or skipped;
// an object that gets a new version while a client pages reappears, at its
// new position.
type Page struct {
	Entries []Entry
	Next    string
}

// ErrBadCursor is returned for a cursor Query did not make.
var ErrBadCursor = errors.New("index: bad cursor")

const cursorFormat = 1

func encodeCursor(suf []byte) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{cursorFormat}, suf...))
}

func decodeCursor(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 1+suffixLen || b[0] != cursorFormat {
		return nil, ErrBadCursor
	}
	return b[1:], nil
}

// Query returns one page of the versions matching q.
func (ix *Index) Query(q Query) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var after []byte // skip suffixes <= after
	if q.Cursor != "" {
		var err error
		if after, err = decodeCursor(q.Cursor); err != nil {
			return Page{}, err
		}
	}
	var start []byte // seek position (a suffix prefix)
	if !q.AddedAfter.IsZero() {
		start = timeKey(q.AddedAfter.Add(time.Nanosecond))
	}
	if after != nil && bytes.Compare(after, start) >= 0 {
		start = after
	}
	f := newFilter(q)
	var page Page
	err := ix.view(func(tx *bolt.Tx) error {
		r := &queryRun{f: f, limit: limit, after: after, objs: tx.Bucket(bucketObjs), vers: tx.Bucket(bucketVersions)}
		var err error
		if len(q.IDs) > 0 {
			err = r.byIDs(tx.Bucket(bucketIDs), q, start)
		} else {
			err = r.merge(tx.Bucket(bucketFeeds), ix.plan(q), start)
		}
		if err != nil {
			return err
		}
		if len(r.entries) > limit {
			r.entries = r.entries[:limit]
			page.Next = encodeCursor(r.sufs[limit-1])
		}
		page.Entries = r.entries
		return nil
	})
	return page, err
}

type filter struct {
	types, tlps    map[string]bool
	specVersions   []string
	origin, label  string
	includeRevoked bool
	addedAfter     time.Time
}

func newFilter(q Query) *filter {
	f := &filter{origin: q.Origin, label: q.Label, includeRevoked: q.IncludeRevoked, addedAfter: q.AddedAfter, specVersions: q.SpecVersions}
	if len(q.Types) > 0 {
		f.types = make(map[string]bool)
		for _, t := range q.Types {
			f.types[t] = true
		}
	}
	if len(q.TLPs) > 0 {
		f.tlps = make(map[string]bool)
		for _, t := range q.TLPs {
			f.tlps[t] = true
		}
	}
	return f
}

// match checks everything but revocation (which depends on the object).
func (f *filter) match(e *Entry) bool {
	return (f.types == nil || f.types[e.Type]) &&
		(f.tlps == nil || f.tlps[e.TLP]) &&
		(f.origin == "" || f.origin == e.Origin) &&
		(f.label == "" || slices.Contains(e.Labels, f.label)) &&
		(f.specVersions == nil || slices.Contains(f.specVersions, e.SpecVersion)) &&
		(f.addedAfter.IsZero() || e.Added.After(f.addedAfter))
}

type queryRun struct {
	f       *filter
	limit   int
	after   []byte
	objs    *bolt.Bucket
	vers    *bolt.Bucket
	revoked map[string]bool // object number -> current version revoked (cache)
	entries []Entry
	sufs    [][]byte
}

// consider adds the version with this suffix if it passes the filter; it
// reports whether the page (plus one, to know there is a next) is full.
func (r *queryRun) consider(suf []byte, current bool) (bool, error) {
	if r.after != nil && bytes.Compare(suf, r.after) <= 0 {
		return false, nil
	}
	num, mod := suf[timeKeyLen:timeKeyLen+numLen], suf[timeKeyLen+numLen:]
	raw := r.vers.Get(versionKey(num, mod))
	if raw == nil {
		return false, errCorrupt
	}
	e, err := decodeEntry(raw)
	if err != nil {
		return false, err
	}
	if !r.f.match(&e) {
		return false, nil
	}
	if !r.f.includeRevoked {
		rev := e.Revoked
		if !current {
			if rev, err = r.objRevoked(num); err != nil {
				return false, err
			}
		}
		if rev {
			return false, nil
		}
	}
	r.entries = append(r.entries, e)
	r.sufs = append(r.sufs, bytes.Clone(suf))
	return len(r.entries) > r.limit, nil
}

// objRevoked reports whether the object's current version is revoked: a
// revoked object hides all its versions.
func (r *queryRun) objRevoked(num []byte) (bool, error) {
	if r.revoked == nil {
		r.revoked = make(map[string]bool)
	}
	if v, ok := r.revoked[string(num)]; ok {
		return v, nil
	}
	o, err := decodeObj(r.objs.Get(num), false)
	if err != nil {
		return false, err
	}
	r.revoked[string(num)] = o.revoked
	return o.revoked, nil
}

func (r *queryRun) byIDs(ids *bolt.Bucket, q Query, start []byte) error {
	type cand struct {
		suf     []byte
		current bool
	}
	var cands []cand
	seen := make(map[string]bool)
	for _, id := range q.IDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		num := ids.Get([]byte(id))
		if num == nil {
			continue
		}
		o, err := decodeObj(r.objs.Get(num), false)
		if err != nil {
			return err
		}
		add := func(mod, raw []byte) error {
			e, err := decodeEntry(raw)
			if err != nil {
				return err
			}
			cands = append(cands, cand{suffix(timeKey(e.Added), bytes.Clone(num), bytes.Clone(mod)), bytes.Equal(mod, o.mod)})
			return nil
		}
		if q.AllVersions {
			c := r.vers.Cursor()
			for k, v := c.Seek(num); k != nil && bytes.HasPrefix(k, num); k, v = c.Next() {
				if err := add(k[numLen:], v); err != nil {
					return err
				}
			}
		} else if err := add(o.mod, r.vers.Get(versionKey(num, o.mod))); err != nil {
			return err
		}
	}
	sort.Slice(cands, func(i, j int) bool { return bytes.Compare(cands[i].suf, cands[j].suf) < 0 })
	for _, c := range cands {
		if bytes.Compare(c.suf, start) < 0 {
			continue
		}
		full, err := r.consider(c.suf, c.current)
		if err != nil || full {
			return err
		}
	}
	return nil
}

// stream is one ordered feed: a prefix of the feeds bucket.
type stream struct {
	prefix  []byte
	current bool
	c       *bolt.Cursor
	key     []byte
}

// plan picks the feed streams to merge: those of the filtered dimension
// with the fewest entries (by the maintained counters), or the all-stream.
func (ix *Index) plan(q Query) []*stream {
	scopes := []byte{scopeCurrent}
	if q.AllVersions {
		scopes = append(scopes, scopeHistory)
	}
	type cand struct {
		dim    byte
		values []string
	}
	cands := []cand{{dimAll, []string{""}}}
	if len(q.Types) > 0 {
		cands = append(cands, cand{dimType, q.Types})
	}
	if len(q.TLPs) > 0 {
		cands = append(cands, cand{dimTLP, q.TLPs})
	}
	if q.Origin != "" {
		cands = append(cands, cand{dimOrigin, []string{q.Origin}})
	}
	if q.Label != "" {
		cands = append(cands, cand{dimLabel, []string{q.Label}})
	}
	best, bestN := cands[0], int64(-1)
	ix.cmu.Lock()
	for _, c := range cands {
		var n int64
		for _, s := range scopes {
			for _, v := range c.values {
				n += ix.counts[string(dimPrefix(s, c.dim, v))]
			}
		}
		if bestN < 0 || n < bestN {
			best, bestN = c, n
		}
	}
	ix.cmu.Unlock()
	var out []*stream
	values := slices.Compact(slices.Sorted(slices.Values(best.values)))
	for _, s := range scopes {
		for _, v := range values {
			out = append(out, &stream{prefix: dimPrefix(s, best.dim, v), current: s == scopeCurrent})
		}
	}
	return out
}

// merge walks the streams in suffix order (Added, object, Modified).
func (r *queryRun) merge(feeds *bolt.Bucket, streams []*stream, start []byte) error {
	live := streams[:0]
	for _, s := range streams {
		s.c = feeds.Cursor()
		seek := append(bytes.Clone(s.prefix), start...)
		if k, _ := s.c.Seek(seek); k != nil && bytes.HasPrefix(k, s.prefix) {
			s.key = k
			live = append(live, s)
		}
	}
	for len(live) > 0 {
		mi := 0
		for i := 1; i < len(live); i++ {
			if bytes.Compare(live[i].key[len(live[i].prefix):], live[mi].key[len(live[mi].prefix):]) < 0 {
				mi = i
			}
		}
		s := live[mi]
		suf := s.key[len(s.prefix):]
		if len(suf) != suffixLen {
			return errCorrupt
		}
		full, err := r.consider(suf, s.current)
		if err != nil || full {
			return err
		}
		if k, _ := s.c.Next(); k != nil && bytes.HasPrefix(k, s.prefix) {
			s.key = k
		} else {
			live = slices.Delete(live, mi, mi+1)
		}
	}
	return nil
}
