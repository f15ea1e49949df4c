// Package fs is the embedded default store driver: each bucket is a directory
// on a local file system, with the semantics of S3 with versioning and Object
// Lock (see package store), so that a node can start with no other service
// and later move to S3 without a change in behaviour.
//
// On-disk layout under the root:
//
//	.tmp/                         scratch space for creating buckets
//	<bucket>/bucket.json          bucket settings (Object Lock on or off)
//	<bucket>/tmp/                 versions being written, versions being removed
//	<bucket>/objects/<c1>/<c2>/.. one directory per 32-byte chunk of the key,
//	                              named by the chunk in lower-case hex
//	    .../_lock                 flock(2) file serialising changes to the key
//	    .../_v/<version id>/      one directory per version:
//	        data                  the bytes (absent for a delete marker)
//	        meta.json             key, size, content type, user metadata
//	        lock.json             retention and legal hold (absent if none)
//
// Why this encoding: keys are up to 1024 bytes and may hold any character,
// but a file name holds at most 255 bytes, so a key is cut into fixed 32-byte
// chunks (64 hex characters). Hex keeps byte order (lower-case digits sort
// like the bytes they encode, and a shorter chunk sorts before its
// extensions), and the cut does not depend on the key's content, so a
// depth-first walk of sorted directories yields keys in exact lexicographic
// order: "a" < "a-b" < "a/b" even though '/' is in them. A prefix that covers
// whole chunks is a direct path, so prefix listings do not scan the bucket.
//
// Why a directory per version: a version is prepared completely in tmp/
// (every file fsynced, then the directory), and made visible by one rename
// into _v/ followed by an fsync of _v/. A version therefore exists entirely or
// not at all, across kill -9 and power loss, and readers need no locks.
// Version ids are 16 hex digits of Unix nanoseconds followed by 8 random hex
// digits; under the key's lock each new id is later than every existing one,
// so the newest version is the last name in _v/ and is well defined even if
// the clock steps back.
//
// Why flock: create-if-absent, delete, and retention changes must check and
// change a key atomically, against goroutines and against other processes on
// the same root (a second node process, an admin tool). Data is streamed to
// tmp/ without any lock; only the short check-and-rename holds the key's
// flock (plus an in-process mutex, so waiting goroutines do not each hold an
// OS thread in flock(2)). A lock dies with its process, so kill -9 leaves no
// stale lock. The root must therefore be a local file system (flock over NFS
// is not reliable).
package fs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/kurier/kurier/node/store"
)

// Store is a store.Store on a local directory. It is safe for concurrent use,
// also by several processes on the same root.
type Store struct {
	root string

	// keyMu stripes an in-process mutex over keys, taken before the key's
	// flock (see the package comment).
	keyMu   [64]sync.Mutex
	keySeed maphash.Seed

	// bufs holds copy buffers, so a put uses constant memory without
	// allocating a large buffer each time.
	bufs sync.Pool
}

var _ store.Store = (*Store)(nil)

const (
	dirPerm  = 0o750
	filePerm = 0o640
	copyBuf  = 1 << 20
)

// New opens (creating it if needed) a store rooted at the directory root.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("fs: new: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fs: new %q: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, ".tmp"), dirPerm); err != nil {
		return nil, fmt.Errorf("fs: new %q: %w", root, err)
	}
	if err := checkLockSupport(); err != nil {
		return nil, fmt.Errorf("fs: new %q: %w", root, err)
	}
	s := &Store{root: abs, keySeed: maphash.MakeSeed()}
	s.bufs.New = func() any {
		b := make([]byte, copyBuf)
		return &b
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// Driver names the driver.
func (s *Store) Driver() string { return "fs" }

// Ping checks the root directory is there (a missing root usually means an
// unmounted volume).
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: ping: %w", err)
	}
	fi, err := os.Stat(s.root)
	if err != nil {
		return fmt.Errorf("fs: ping %s: %w: %w", s.root, store.ErrUnavailable, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("fs: ping %s: %w: not a directory", s.root, store.ErrUnavailable)
	}
	return nil
}

// Bucket returns a handle on a bucket; see store.Store.
func (s *Store) Bucket(name string) store.Bucket {
	return &bucket{s: s, name: name, dir: filepath.Join(s.root, name)}
}

// EnsureBucket creates a bucket unless it exists; see store.Store. Creation is
// atomic (a prepared directory is renamed into place), so concurrent callers
// agree on one bucket and its settings.
func (s *Store) EnsureBucket(ctx context.Context, name string, objectLock bool) error {
	if err := store.ValidBucketName(name); err != nil {
		return fmt.Errorf("fs: ensure bucket: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: ensure bucket %q: %w", name, err)
	}
	dir := filepath.Join(s.root, name)
	cfg, err := readBucketConfig(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		err = s.createBucket(name, dir, objectLock)
		if err == nil {
			return nil
		}
		if !errors.Is(err, iofs.ErrExist) {
			return fmt.Errorf("fs: ensure bucket %q: %w", name, err)
		}
		cfg, err = readBucketConfig(dir) // lost a race with another creator
	}
	if err != nil {
		return fmt.Errorf("fs: ensure bucket %q: %w", name, err)
	}
	if objectLock && !cfg.ObjectLock {
		return fmt.Errorf("fs: ensure bucket %q: %w: bucket exists without Object Lock, which can only be enabled at creation", name, store.ErrRetention)
	}
	return nil
}

func (s *Store) createBucket(name, dir string, objectLock bool) error {
	tmp, err := os.MkdirTemp(filepath.Join(s.root, ".tmp"), "bucket-"+name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if err := os.Chmod(tmp, dirPerm); err != nil {
		return err
	}
	for _, d := range []string{"objects", "tmp"} {
		if err := os.Mkdir(filepath.Join(tmp, d), dirPerm); err != nil {
			return err
		}
	}
	if err := writeJSONSync(filepath.Join(tmp, "bucket.json"), bucketConfig{Format: 1, ObjectLock: objectLock}); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if isExist(err) {
			return fmt.Errorf("%w: %w", iofs.ErrExist, err)
		}
		return err
	}
	return syncDir(s.root)
}

// lockKey serialises changes to one key, within this process and across
// processes. The node directory must exist.
func (s *Store) lockKey(bucket, key, nodeDir string) (unlock func(), err error) {
	var h maphash.Hash
	h.SetSeed(s.keySeed)
	h.WriteString(bucket)
	h.WriteByte(0)
	h.WriteString(key)
	mu := &s.keyMu[h.Sum64()%uint64(len(s.keyMu))]
	mu.Lock()
	release, err := flockFile(filepath.Join(nodeDir, "_lock"))
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	return func() {
		release()
		mu.Unlock()
	}, nil
}
