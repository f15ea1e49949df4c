// Package index is Kurier's index of STIX object versions: an embedded bbolt
// database at a file path, derived from the object store and rebuildable
// from it (`kurier reindex` calls Reset, replays every stored version through
// PutBatch, then MarkComplete).
//
// It answers lookups by id (all versions, current), by type, TLP, origin,
// label and time added (Query, ordered by Added for TAXII paging), and by
// observable value (Search: "have we seen 203.0.113.7?"), with CIDR
// containment both ways, subdomain and parent-domain matches, URLs, e-mail
// addresses and file hashes.
//
// Versions: the version with the greatest Modified is current; an older one
// is kept (Versions, AllVersions) but changes nothing current; a version
// already present is a no-op. Only the current version's values answer a
// default Search, so a value a newer version drops stops finding the object,
// whatever order the versions arrive in. The answers depend only on the set
// of versions put, not their order (for one (ID, Modified) the first put
// wins), which is what makes reindex give the same answers.
//
// The package does not depend on the STIX model: callers map objects to Entry.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Location is where a sealed version lives in the object store.
type Location struct {
	Segment        string
	Offset, Length int64
}

// Value is an observable value of an object: Kind is one of the Kind*
// constants.
type Value struct {
	Kind, Value string
}

// Entry is one version of one STIX object, as the index sees it.
type Entry struct {
	ID          string
	Type        string
	SpecVersion string
	Created     time.Time
	Modified    time.Time // with its nanoseconds: (ID, Modified) identifies the version
	Added       time.Time // when this node stored this version (TAXII date_added)
	Origin      string    // fingerprint of the node that signed it
	CreatedBy   string    // created_by_ref
	TLP         string    // effective TLP ("clear", "green", "amber", "amber+strict", "red")
	Labels      []string
	Revoked     bool
	Values      []Value // as given; normalised copies are what is indexed
	Loc         Location
}

// Outcome is what Put did with a version.
type Outcome int

const (
	// Current: the version is the newest of its object and is now current.
	Current Outcome = iota + 1
	// Older: an older version than the current one; kept, current unchanged.
	Older
	// Duplicate: that (ID, Modified) was already indexed; nothing changed.
	Duplicate
)

func (o Outcome) String() string {
	switch o {
	case Current:
		return "current"
	case Older:
		return "older"
	case Duplicate:
		return "duplicate"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Options configure Open.
type Options struct {
	// Registerer receives the index metrics (kurier_index_objects{type,tlp},
	// kurier_index_values, kurier_index_size_bytes,
	// kurier_index_values_invalid_total). Nil: no metrics.
	Registerer prometheus.Registerer
	// NoSync skips fsync on commit. Only for a bulk rebuild (Reset, PutBatch
	// ..., MarkComplete): a power loss can then corrupt the file, which is
	// safe only because Incomplete stays true until MarkComplete synced.
	NoSync bool
	// LockTimeout is how long Open waits for another process holding the
	// file (default 5s).
	LockTimeout time.Duration
}

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("index: closed")

// Index is the index. Its methods are safe for concurrent use; writes are
// serialised (one bbolt write transaction at a time), reads run in parallel.
type Index struct {
	path string
	opts Options
	m    *metrics

	mu sync.RWMutex // guards db: Reset and Close replace it
	db *bolt.DB

	cmu        sync.Mutex // guards the fields below (mirrors of the counts and meta buckets)
	counts     map[string]int64
	lastAdded  time.Time
	incomplete bool
}

// Open opens (creating if needed) the index at path. A new file, or one
// written with another layout (which Open wipes), is Incomplete.
func Open(path string, opts Options) (*Index, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	ix := &Index{path: path, opts: opts}
	if opts.Registerer != nil {
		m, err := newMetrics(opts.Registerer, path)
		if err != nil {
			return nil, err
		}
		ix.m = m
	}
	if err := ix.open(); err != nil {
		ix.m.unregister()
		return nil, err
	}
	return ix, nil
}

func (ix *Index) open() error {
	if err := os.MkdirAll(filepath.Dir(ix.path), 0o700); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	db, err := bolt.Open(ix.path, 0o600, &bolt.Options{
		Timeout: ix.opts.LockTimeout,
		NoSync:  ix.opts.NoSync,
		// The freelist is written on commit (NoFreelistSync false): without it
		// Open, and a rolled-back write, scan the whole file (~1 s per 1M entries).
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("index: %s is in use by another process", ix.path)
	}
	if err != nil {
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta != nil && string(meta.Get(metaSchema)) == schemaVersion {
			return nil
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) != nil {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta = tx.Bucket(bucketMeta)
		if err := meta.Put(metaSchema, []byte(schemaVersion)); err != nil {
			return err
		}
		return meta.Put(metaIncomplete, []byte{1})
	})
	if err == nil {
		err = ix.load(db)
	}
	if err != nil {
		db.Close()
		return fmt.Errorf("index: open %s: %w", ix.path, err)
	}
	ix.db = db
	return nil
}

// load reads the counters and meta into memory and sets the gauges.
func (ix *Index) load(db *bolt.DB) error {
	counts := make(map[string]int64)
	var last time.Time
	var incomplete bool
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(metaLastAdded); len(v) == timeKeyLen {
			last = timeFromKey(v)
		}
		incomplete = meta.Get(metaIncomplete) != nil
		return tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return errCorrupt
			}
			counts[string(k)] = int64(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	if err != nil {
		return err
	}
	ix.cmu.Lock()
	ix.counts, ix.lastAdded, ix.incomplete = counts, last, incomplete
	ix.cmu.Unlock()
	ix.m.reset(counts)
	return nil
}

// Close closes the index (syncing first if opened with NoSync).
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.db == nil {
		return ErrClosed
	}
	var err error
	if ix.opts.NoSync {
		err = ix.db.Sync()
	}
	if cerr := ix.db.Close(); err == nil {
		err = cerr
	}
	ix.db = nil
	ix.m.unregister()
	return err
}

// Reset wipes the index (deleting and recreating the file, so its space is
// returned) for a rebuild. The index is Incomplete until MarkComplete. For a
// fast rebuild open the index with NoSync: a rebuild of 1M indicators in
// 1000-entry batches then takes about a minute on 2 cores.
func (ix *Index) Reset() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.db == nil {
		return ErrClosed
	}
	if err := ix.db.Close(); err != nil {
		return fmt.Errorf("index: reset: %w", err)
	}
	ix.db = nil
	if err := os.Remove(ix.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("index: reset: %w", err)
	}
	return ix.open()
}

// Incomplete reports whether the index may lack versions that are in the
// object store: true for a new file, after Reset, after a layout change,
// until MarkComplete. The node should rebuild an incomplete index.
func (ix *Index) Incomplete() bool {
	ix.cmu.Lock()
	defer ix.cmu.Unlock()
	return ix.incomplete
}

// MarkComplete records that the index holds every stored version (after a
// rebuild, or for a new node with an empty store). It syncs the file first.
func (ix *Index) MarkComplete() error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.db == nil {
		return ErrClosed
	}
	if err := ix.db.Sync(); err != nil {
		return fmt.Errorf("index: sync: %w", err)
	}
	err := ix.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(metaIncomplete)
	})
	if err == nil && ix.opts.NoSync {
		err = ix.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("index: mark complete: %w", err)
	}
	ix.cmu.Lock()
	ix.incomplete = false
	ix.cmu.Unlock()
	return nil
}

// LastAdded is the greatest Added of any version put (zero when empty): a
// node restarting takes its next date_added after it.
func (ix *Index) LastAdded() time.Time {
	ix.cmu.Lock()
	defer ix.cmu.Unlock()
	return ix.lastAdded
}

// Stats describes the index contents.
type Stats struct {
	Objects    int64            // objects (current versions), revoked included
	Versions   int64            // all versions
	Revoked    int64            // objects whose current version is revoked
	Values     int64            // indexed values of current versions (incl. derived URL/e-mail hosts)
	ByType     map[string]int64 // objects by type
	ByTLP      map[string]int64 // objects by TLP
	SizeBytes  int64            // index file size
	LastAdded  time.Time
	Incomplete bool
}

// Stats returns counts kept up to date by every write (no scan).
func (ix *Index) Stats() (Stats, error) {
	ix.mu.RLock()
	closed := ix.db == nil
	ix.mu.RUnlock()
	if closed {
		return Stats{}, ErrClosed
	}
	st := Stats{ByType: map[string]int64{}, ByTLP: map[string]int64{}}
	ix.cmu.Lock()
	for k, n := range ix.counts {
		if n == 0 {
			continue
		}
		switch {
		case k == countValues:
			st.Values = n
		case k == countRevoked:
			st.Revoked = n
		case k == string([]byte{scopeCurrent, dimAll}):
			st.Objects = n
			st.Versions += n
		case k == string([]byte{scopeHistory, dimAll}):
			st.Versions += n
		case strings.HasPrefix(k, "x"):
			if typ, tlp, ok := splitJointKey(k); ok {
				st.ByType[typ] += n
				st.ByTLP[tlp] += n
			}
		}
	}
	st.LastAdded, st.Incomplete = ix.lastAdded, ix.incomplete
	ix.cmu.Unlock()
	if fi, err := os.Stat(ix.path); err == nil {
		st.SizeBytes = fi.Size()
	}
	return st, nil
}

// view runs fn in a read transaction.
func (ix *Index) view(fn func(tx *bolt.Tx) error) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.db == nil {
		return ErrClosed
	}
	return ix.db.View(fn)
}
