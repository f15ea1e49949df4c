package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrInvalidEntry is wrapped by Put and PutBatch when an entry lacks its ID
// or Type. Values that cannot be normalised do not make an entry invalid:
// they are skipped and counted (kurier_index_values_invalid_total).
var ErrInvalidEntry = errors.New("index: invalid entry")

// maxIDLen bounds an object id (a key): STIX ids are about 50 bytes.
const maxIDLen = 1024

func checkEntry(e *Entry) error {
	switch {
	case e.ID == "":
		return fmt.Errorf("%w: empty ID", ErrInvalidEntry)
	case len(e.ID) > maxIDLen:
		return fmt.Errorf("%w: ID longer than %d bytes", ErrInvalidEntry, maxIDLen)
	case e.Type == "":
		return fmt.Errorf("%w: %s: empty Type", ErrInvalidEntry, e.ID)
	}
	return nil
}

// Put records one version. See PutBatch.
func (ix *Index) Put(e Entry) (Outcome, error) {
	out, err := ix.PutBatch([]Entry{e})
	if err != nil {
		return 0, err
	}
	return out[0], nil
}

// PutBatch records versions in one transaction (one fsync): the ingest hot
// path. Entries are applied in order, so a batch may hold several versions
// of one object. On error nothing is recorded.
func (ix *Index) PutBatch(es []Entry) ([]Outcome, error) {
	for i := range es {
		if err := checkEntry(&es[i]); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	outs := make([]Outcome, len(es))
	if len(es) == 0 {
		return outs, nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.db == nil {
		return nil, ErrClosed
	}
	var w *writer
	err := ix.db.Update(func(tx *bolt.Tx) error {
		w = newWriter(tx)
		for i := range es {
			o, err := w.put(&es[i])
			if err != nil {
				return fmt.Errorf("%s: %w", es[i].ID, err)
			}
			outs[i] = o
		}
		return w.finish()
	})
	if err != nil {
		return nil, fmt.Errorf("index: put: %w", err)
	}
	ix.cmu.Lock()
	for k, d := range w.delta {
		if n := ix.counts[k] + d; n != 0 {
			ix.counts[k] = n
		} else {
			delete(ix.counts, k)
		}
	}
	if w.lastAdded.After(ix.lastAdded) {
		ix.lastAdded = w.lastAdded
	}
	ix.m.apply(w.delta, ix.counts)
	ix.cmu.Unlock()
	ix.m.addInvalid(w.invalid)
	return outs, nil
}

// writer applies versions inside one write transaction. Note bbolt keeps
// references to the keys and values given to Put until commit: every slice
// put here is freshly allocated and never reused.
type writer struct {
	ids, objs, vers, feeds, posts, counts, meta *bolt.Bucket

	delta     map[string]int64 // counter changes, applied by finish
	lastAdded time.Time
	invalid   int
}

func newWriter(tx *bolt.Tx) *writer {
	w := &writer{
		ids: tx.Bucket(bucketIDs), objs: tx.Bucket(bucketObjs), vers: tx.Bucket(bucketVersions),
		feeds: tx.Bucket(bucketFeeds), posts: tx.Bucket(bucketPostings), counts: tx.Bucket(bucketCounts),
		meta:  tx.Bucket(bucketMeta),
		delta: make(map[string]int64),
	}
	// Appended in key order (new objects get increasing numbers, feeds are
	// ordered by Added): pack pages full.
	w.vers.FillPercent = 0.9
	w.feeds.FillPercent = 0.9
	w.objs.FillPercent = 0.9
	return w
}

func (w *writer) put(e *Entry) (Outcome, error) {
	var num []byte
	isNew := false
	if v := w.ids.Get([]byte(e.ID)); v != nil {
		num = bytes.Clone(v)
	} else {
		n, err := w.ids.NextSequence()
		if err != nil {
			return 0, err
		}
		num, isNew = numKey(n), true
		if err := w.ids.Put([]byte(e.ID), num); err != nil {
			return 0, err
		}
	}
	mod := timeKey(e.Modified)
	vk := versionKey(num, mod)
	if !isNew && w.vers.Get(vk) != nil {
		return Duplicate, nil
	}
	if e.Added.After(w.lastAdded) {
		w.lastAdded = e.Added
	}
	if err := w.vers.Put(vk, encodeEntry(e)); err != nil {
		return 0, err
	}
	bodies, srcs := w.postingsOf(e)
	suf := suffix(timeKey(e.Added), num, mod)

	var cur objRecord
	have := false
	if !isNew {
		if raw := w.objs.Get(num); raw != nil {
			var err error
			if cur, err = decodeObj(raw, true); err != nil {
				return 0, err
			}
			have = true
		}
	}

	if have && bytes.Compare(mod, cur.mod) < 0 {
		// An older version: history only; what is current is untouched.
		if err := w.feedsOf(e, scopeHistory, suf, true); err != nil {
			return 0, err
		}
		for i, b := range bodies {
			if err := w.posts.Put(postKey(scopeHistory, b, num, mod), encodeSources(srcs[i])); err != nil {
				return 0, err
			}
		}
		return Older, nil
	}

	newSet := make(map[string]bool, len(bodies))
	for _, b := range bodies {
		newSet[string(b)] = true
	}
	oldSet := make(map[string]bool, len(cur.bodies))
	if have {
		// The current version becomes history: move its feed entries and
		// postings from scope 'c' to 'h'; drop the values the new version
		// no longer has.
		old, err := decodeEntry(w.vers.Get(versionKey(num, cur.mod)))
		if err != nil {
			return 0, err
		}
		oldSuf := suffix(timeKey(old.Added), num, cur.mod)
		if err := w.feedsOf(&old, scopeCurrent, oldSuf, false); err != nil {
			return 0, err
		}
		if err := w.feedsOf(&old, scopeHistory, oldSuf, true); err != nil {
			return 0, err
		}
		for _, b := range cur.bodies {
			oldSet[string(b)] = true
			ck := postKey(scopeCurrent, b, num, nil)
			v := bytes.Clone(w.posts.Get(ck))
			if v == nil {
				return 0, fmt.Errorf("%w: missing posting", errCorrupt)
			}
			if err := w.posts.Put(postKey(scopeHistory, b, num, cur.mod), v); err != nil {
				return 0, err
			}
			if !newSet[string(b)] {
				if err := w.posts.Delete(ck); err != nil {
					return 0, err
				}
				w.delta[countValues]--
			}
		}
		if cur.revoked {
			w.delta[countRevoked]--
		}
		w.delta[jointKey(old.Type, old.TLP)]--
	}
	if err := w.feedsOf(e, scopeCurrent, suf, true); err != nil {
		return 0, err
	}
	for i, b := range bodies {
		if err := w.posts.Put(postKey(scopeCurrent, b, num, nil), encodeSources(srcs[i])); err != nil {
			return 0, err
		}
		if !oldSet[string(b)] {
			w.delta[countValues]++
		}
	}
	if e.Revoked {
		w.delta[countRevoked]++
	}
	w.delta[jointKey(e.Type, e.TLP)]++
	if err := w.objs.Put(num, encodeObj(objRecord{mod: mod, revoked: e.Revoked, bodies: bodies})); err != nil {
		return 0, err
	}
	return Current, nil
}

// postKey is scope + body + num [+ modified, in scope 'h'].
func postKey(scope byte, body, num, mod []byte) []byte {
	k := make([]byte, 0, 1+len(body)+numLen+len(mod))
	k = append(k, scope)
	k = append(k, body...)
	k = append(k, num...)
	return append(k, mod...)
}

// dims lists the feed streams an entry is in: all, its type, TLP, origin and
// each distinct label.
func dims(e *Entry) [][2]string {
	d := make([][2]string, 0, 4+len(e.Labels))
	d = append(d, [2]string{string(dimAll), ""})
	for _, p := range [][2]string{{string(dimType), e.Type}, {string(dimTLP), e.TLP}, {string(dimOrigin), e.Origin}} {
		if p[1] != "" {
			d = append(d, p)
		}
	}
	for i, l := range e.Labels {
		if l != "" && !slices.Contains(e.Labels[:i], l) {
			d = append(d, [2]string{string(dimLabel), l})
		}
	}
	return d
}

func (w *writer) feedsOf(e *Entry, scope byte, suf []byte, add bool) error {
	for _, d := range dims(e) {
		p := dimPrefix(scope, d[0][0], d[1])
		k := append(append(make([]byte, 0, len(p)+len(suf)), p...), suf...)
		var err error
		if add {
			err = w.feeds.Put(k, nil)
			w.delta[string(p)]++
		} else {
			err = w.feeds.Delete(k)
			w.delta[string(p)]--
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// postingsOf normalises an entry's values (skipping and counting invalid
// ones) into sorted posting bodies and, for each, the values it came from.
func (w *writer) postingsOf(e *Entry) ([][]byte, [][]source) {
	if len(e.Values) == 0 {
		return nil, nil
	}
	m := make(map[string][]source, len(e.Values))
	for _, v := range e.Values {
		n, err := normalize(v)
		if err != nil {
			w.invalid++
			continue
		}
		b := string(n.body())
		m[b] = append(m[b], source{Value: n.Value})
		for _, d := range n.derived() {
			db := string(d.body())
			m[db] = append(m[db], source{Value: n.Value, derived: true})
		}
	}
	bodies := make([][]byte, 0, len(m))
	for b := range m {
		bodies = append(bodies, []byte(b))
	}
	sort.Slice(bodies, func(i, j int) bool { return bytes.Compare(bodies[i], bodies[j]) < 0 })
	srcs := make([][]source, len(bodies))
	for i, b := range bodies {
		ss := m[string(b)]
		sort.Slice(ss, func(i, j int) bool {
			if ss[i].derived != ss[j].derived {
				return !ss[i].derived
			}
			if ss[i].Kind != ss[j].Kind {
				return ss[i].Kind < ss[j].Kind
			}
			return ss[i].Value.Value < ss[j].Value.Value
		})
		srcs[i] = slices.Compact(ss)
	}
	return bodies, srcs
}

// finish writes the counter deltas and LastAdded.
func (w *writer) finish() error {
	for k, d := range w.delta {
		if d == 0 {
			continue
		}
		var n int64
		if v := w.counts.Get([]byte(k)); len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		n += d
		var err error
		if n == 0 {
			err = w.counts.Delete([]byte(k))
		} else {
			err = w.counts.Put([]byte(k), binary.BigEndian.AppendUint64(nil, uint64(n)))
		}
		if err != nil {
			return err
		}
	}
	if !w.lastAdded.IsZero() {
		v := w.meta.Get(metaLastAdded)
		if len(v) != timeKeyLen || timeFromKey(v).Before(w.lastAdded) {
			return w.meta.Put(metaLastAdded, timeKey(w.lastAdded))
		}
	}
	return nil
}
