package fs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kurier/kurier/node/store"
	"github.com/kurier/kurier/node/store/internal/putcheck"
)

// bucket is a store.Bucket on one bucket directory.
type bucket struct {
	s    *Store
	name string
	dir  string

	mu     sync.Mutex
	cfg    bucketConfig
	loaded bool
}

var _ store.Bucket = (*bucket)(nil)

// resolveTries bounds how often a reader retries when a version it found
// is deleted under it by another writer.
const resolveTries = 5

func (b *bucket) Name() string { return b.name }

func (b *bucket) objectsDir() string { return filepath.Join(b.dir, "objects") }

func (b *bucket) nodeDir(key string) string {
	return filepath.Join(b.objectsDir(), nodeRel(key))
}

// config loads bucket.json once (Object Lock cannot change after creation).
func (b *bucket) config() (bucketConfig, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loaded {
		return b.cfg, nil
	}
	if err := store.ValidBucketName(b.name); err != nil {
		return bucketConfig{}, err
	}
	cfg, err := readBucketConfig(b.dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return bucketConfig{}, fmt.Errorf("%w: no bucket %q", store.ErrNotFound, b.name)
	}
	if err != nil {
		return bucketConfig{}, err
	}
	b.cfg, b.loaded = cfg, true
	return cfg, nil
}

// prepare runs the checks every keyed operation starts with.
func (b *bucket) prepare(ctx context.Context, key string) (bucketConfig, error) {
	if err := store.ValidKey(key); err != nil {
		return bucketConfig{}, err
	}
	if err := ctx.Err(); err != nil {
		return bucketConfig{}, err
	}
	return b.config()
}

func (b *bucket) errf(op, key string, err error) error {
	return fmt.Errorf("fs: %s %s/%q: %w", op, b.name, key, err)
}

// Put streams r into a temporary version directory, then commits it; see
// store.Bucket.
func (b *bucket) Put(ctx context.Context, key string, r io.Reader, opts store.PutOptions) (store.ObjectInfo, error) {
	info, err := b.put(ctx, key, r, opts)
	if err != nil {
		return store.ObjectInfo{}, b.errf("put", key, err)
	}
	return info, nil
}

func (b *bucket) put(ctx context.Context, key string, r io.Reader, opts store.PutOptions) (store.ObjectInfo, error) {
	cfg, err := b.prepare(ctx, key)
	if err != nil {
		return store.ObjectInfo{}, err
	}
	meta, err := putcheck.Metadata(opts.Metadata)
	if err != nil {
		return store.ObjectInfo{}, err
	}
	var lk lockState
	if opts.Retention != nil || opts.LegalHold {
		if !cfg.ObjectLock {
			return store.ObjectInfo{}, fmt.Errorf("%w: bucket %q has no Object Lock", store.ErrRetention, b.name)
		}
		if opts.Retention != nil {
			ret, err := putcheck.Retention(*opts.Retention, time.Now())
			if err != nil {
				return store.ObjectInfo{}, err
			}
			lk.Mode, lk.Until = ret.Mode, ret.Until
		}
		lk.LegalHold = opts.LegalHold
	}
	vdir := filepath.Join(b.nodeDir(key), versionsDir)
	if opts.IfAbsent {
		// Fail early, before streaming a large body; commit checks again
		// under the lock.
		if _, _, err := b.resolve(vdir, ""); err == nil {
			return store.ObjectInfo{}, store.ErrExists
		} else if !errors.Is(err, store.ErrNotFound) {
			return store.ObjectInfo{}, err
		}
	}

	tmp, err := os.MkdirTemp(filepath.Join(b.dir, "tmp"), "put-")
	if err != nil {
		return store.ObjectInfo{}, err
	}
	defer os.RemoveAll(tmp) // a no-op once committed
	n, err := b.s.writeDataSync(ctx, filepath.Join(tmp, dataFile), putcheck.Reader(r, opts.Size))
	if err != nil {
		return store.ObjectInfo{}, err
	}
	m := versionMeta{Key: key, Size: n, ContentType: opts.ContentType, Metadata: meta}
	if m.ContentType == "" {
		m.ContentType = "application/octet-stream" // as S3
	}
	if err := b.writeVersionFiles(tmp, m, lk); err != nil {
		return store.ObjectInfo{}, err
	}
	id, err := b.commit(key, tmp, opts.IfAbsent)
	if err != nil {
		return store.ObjectInfo{}, err
	}
	return m.info(id), nil
}

// writeVersionFiles writes meta.json and lock.json into a prepared version
// directory and fsyncs it.
func (b *bucket) writeVersionFiles(dir string, m versionMeta, lk lockState) error {
	if err := os.Chmod(dir, dirPerm); err != nil {
		return err
	}
	if err := writeJSONSync(filepath.Join(dir, metaFile), m); err != nil {
		return err
	}
	if lk != (lockState{}) {
		if err := writeJSONSync(filepath.Join(dir, lockFile), lk); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// commit makes the prepared version directory tmp the newest version of key,
// under the key's lock. With ifAbsent it fails with ErrExists if the key has
// a current version that is not a delete marker.
func (b *bucket) commit(key, tmp string, ifAbsent bool) (string, error) {
	node := b.nodeDir(key)
	vdir := filepath.Join(node, versionsDir)
	if err := mkdirAllSync(vdir, b.objectsDir()); err != nil {
		return "", err
	}
	unlock, err := b.s.lockKey(b.name, key, node)
	if err != nil {
		return "", err
	}
	defer unlock()
	names, err := versionNames(vdir)
	if err != nil {
		return "", err
	}
	newest := ""
	if len(names) > 0 {
		newest = names[len(names)-1]
		if ifAbsent {
			m, err := readMeta(vdir, newest)
			if err != nil {
				return "", err
			}
			if !m.DeleteMarker {
				return "", store.ErrExists
			}
		}
	}
	id, err := newVersionID(time.Now(), newest)
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(vdir, id)); err != nil {
		return "", err
	}
	if err := syncDir(vdir); err != nil {
		return "", err
	}
	return id, nil
}

// resolve finds a version of the key whose versions live in vdir: the
// current one when id is empty. A missing version or a delete marker is
// ErrNotFound. Without the key lock, a version found may be deleted before
// its metadata is read; then the current version is looked up again.
func (b *bucket) resolve(vdir, id string) (string, versionMeta, error) {
	if id != "" {
		if _, ok := versionNanos(id); !ok {
			return "", versionMeta{}, fmt.Errorf("%w: no version %q", store.ErrNotFound, id)
		}
		m, err := readMeta(vdir, id)
		if errors.Is(err, iofs.ErrNotExist) {
			return "", versionMeta{}, fmt.Errorf("%w: no version %q", store.ErrNotFound, id)
		}
		if err != nil {
			return "", versionMeta{}, err
		}
		if m.DeleteMarker {
			return "", versionMeta{}, fmt.Errorf("%w: version %q is a delete marker", store.ErrNotFound, id)
		}
		return id, m, nil
	}
	id, m, err := current(vdir)
	if err != nil {
		return "", versionMeta{}, err
	}
	if m.DeleteMarker {
		return "", versionMeta{}, fmt.Errorf("%w: deleted (current version is a delete marker)", store.ErrNotFound)
	}
	return id, m, nil
}

// current finds the newest version in vdir, delete marker or not;
// ErrNotFound when there is none. Without the key lock, the version found
// may be deleted before its metadata is read; then it looks again.
func current(vdir string) (string, versionMeta, error) {
	for range resolveTries {
		names, err := versionNames(vdir)
		if err != nil {
			return "", versionMeta{}, err
		}
		if len(names) == 0 {
			return "", versionMeta{}, store.ErrNotFound
		}
		newest := names[len(names)-1]
		m, err := readMeta(vdir, newest)
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", versionMeta{}, err
		}
		return newest, m, nil
	}
	return "", versionMeta{}, fmt.Errorf("%w: versions keep changing", store.ErrNotFound)
}

// Get opens a version's data; see store.Bucket. The open file stays readable
// even if the version is deleted meanwhile.
func (b *bucket) Get(ctx context.Context, key, versionID string) (io.ReadCloser, store.ObjectInfo, error) {
	if _, err := b.prepare(ctx, key); err != nil {
		return nil, store.ObjectInfo{}, b.errf("get", key, err)
	}
	vdir := filepath.Join(b.nodeDir(key), versionsDir)
	for range resolveTries {
		id, m, err := b.resolve(vdir, versionID)
		if err != nil {
			return nil, store.ObjectInfo{}, b.errf("get", key, err)
		}
		f, err := os.Open(filepath.Join(vdir, id, dataFile))
		if errors.Is(err, iofs.ErrNotExist) {
			if versionID == "" {
				continue // deleted under us; look again
			}
			err = fmt.Errorf("%w: no version %q", store.ErrNotFound, versionID)
		}
		if err != nil {
			return nil, store.ObjectInfo{}, b.errf("get", key, err)
		}
		return f, m.info(id), nil
	}
	return nil, store.ObjectInfo{}, b.errf("get", key, fmt.Errorf("%w: versions keep changing", store.ErrNotFound))
}

// Stat describes a version; see store.Bucket.
func (b *bucket) Stat(ctx context.Context, key, versionID string) (store.ObjectInfo, error) {
	if _, err := b.prepare(ctx, key); err != nil {
		return store.ObjectInfo{}, b.errf("stat", key, err)
	}
	id, m, err := b.resolve(filepath.Join(b.nodeDir(key), versionsDir), versionID)
	if err != nil {
		return store.ObjectInfo{}, b.errf("stat", key, err)
	}
	return m.info(id), nil
}

// Versions lists a key's versions, newest first; see store.Bucket.
func (b *bucket) Versions(ctx context.Context, key string) ([]store.ObjectInfo, error) {
	if _, err := b.prepare(ctx, key); err != nil {
		return nil, b.errf("versions", key, err)
	}
	vdir := filepath.Join(b.nodeDir(key), versionsDir)
	names, err := versionNames(vdir)
	if err != nil {
		return nil, b.errf("versions", key, err)
	}
	out := make([]store.ObjectInfo, 0, len(names))
	for i := len(names) - 1; i >= 0; i-- {
		m, err := readMeta(vdir, names[i])
		if errors.Is(err, iofs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, b.errf("versions", key, err)
		}
		// The fields an S3 version listing has, no more (see store.Bucket).
		out = append(out, store.ObjectInfo{
			Key:          m.Key,
			VersionID:    names[i],
			Size:         m.Size,
			LastModified: versionTime(names[i]),
			IsLatest:     len(out) == 0,
			DeleteMarker: m.DeleteMarker,
		})
	}
	if len(out) == 0 {
		return nil, b.errf("versions", key, store.ErrNotFound)
	}
	return out, nil
}

// List walks the object tree depth-first in sorted order, which is key order
// (see the package comment); see store.Bucket.
func (b *bucket) List(ctx context.Context, prefix, startAfter string) iter.Seq2[store.ObjectInfo, error] {
	return b.list(ctx, prefix, startAfter, false)
}

// ListDeleted walks the tree as List does but yields only keys whose
// current version is a delete marker; see store.Bucket.
func (b *bucket) ListDeleted(ctx context.Context, prefix, startAfter string) iter.Seq2[store.ObjectInfo, error] {
	return b.list(ctx, prefix, startAfter, true)
}

func (b *bucket) list(ctx context.Context, prefix, startAfter string, deleted bool) iter.Seq2[store.ObjectInfo, error] {
	return func(yield func(store.ObjectInfo, error) bool) {
		if _, err := b.config(); err != nil {
			yield(store.ObjectInfo{}, fmt.Errorf("fs: list %s/%q: %w", b.name, prefix, err))
			return
		}
		w := walker{b: b, ctx: ctx, prefix: prefix, startAfter: startAfter, deleted: deleted, yield: yield}
		w.walk(b.objectsDir(), "")
	}
}

type walker struct {
	b                  *bucket
	ctx                context.Context
	prefix, startAfter string
	deleted            bool // yield delete-marked keys instead of current objects
	yield              func(store.ObjectInfo, error) bool
}

// entry is what the walk yields for key k, if anything.
func (w *walker) entry(dir, k string) (store.ObjectInfo, bool, error) {
	id, m, err := current(filepath.Join(dir, versionsDir))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.ObjectInfo{}, false, nil
	case err != nil:
		return store.ObjectInfo{}, false, err
	case m.DeleteMarker != w.deleted:
		return store.ObjectInfo{}, false, nil
	case w.deleted:
		return store.ObjectInfo{Key: k, VersionID: id, LastModified: versionTime(id), IsLatest: true, DeleteMarker: true}, true, nil
	}
	return store.ObjectInfo{Key: k, Size: m.Size, LastModified: versionTime(id)}, true, nil
}

func (w *walker) fail(err error) bool {
	w.yield(store.ObjectInfo{}, fmt.Errorf("fs: list %s/%q: %w", w.b.name, w.prefix, err))
	return false
}

// walk visits the node directory dir of key k ("" for the root) and its
// subtree; it returns false once the walk must stop.
func (w *walker) walk(dir, k string) bool {
	if err := w.ctx.Err(); err != nil {
		return w.fail(err)
	}
	if k != "" && strings.HasPrefix(k, w.prefix) && k > w.startAfter {
		info, ok, err := w.entry(dir, k)
		if err != nil {
			return w.fail(err)
		}
		if ok && !w.yield(info, nil) {
			return false
		}
	}
	if len(k)%chunkLen != 0 {
		return true // a short last chunk has no children
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return true
	}
	if err != nil {
		return w.fail(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !isChunkName(name) || !e.IsDir() {
			continue
		}
		chunk, err := hex.DecodeString(name)
		if err != nil {
			continue
		}
		ck := k + string(chunk)
		n := min(len(ck), len(w.prefix))
		if ck[:n] != w.prefix[:n] {
			if ck[:n] > w.prefix[:n] {
				break // siblings are sorted: all the rest are past the prefix
			}
			continue
		}
		if ck < w.startAfter && !strings.HasPrefix(w.startAfter, ck) {
			continue // the whole subtree sorts before startAfter
		}
		if !w.walk(filepath.Join(dir, name), ck) {
			return false
		}
	}
	return true
}

// Delete adds a delete marker, or removes one version; see store.Bucket.
func (b *bucket) Delete(ctx context.Context, key string, opts store.DeleteOptions) error {
	if _, err := b.prepare(ctx, key); err != nil {
		return b.errf("delete", key, err)
	}
	var err error
	if opts.VersionID == "" {
		err = b.addDeleteMarker(key)
	} else {
		err = b.deleteVersion(key, opts)
	}
	if err != nil {
		return b.errf("delete", key, err)
	}
	return nil
}

func (b *bucket) addDeleteMarker(key string) error {
	tmp, err := os.MkdirTemp(filepath.Join(b.dir, "tmp"), "del-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := b.writeVersionFiles(tmp, versionMeta{Key: key, DeleteMarker: true}, lockState{}); err != nil {
		return err
	}
	_, err = b.commit(key, tmp, false)
	return err
}

func (b *bucket) deleteVersion(key string, opts store.DeleteOptions) error {
	if _, ok := versionNanos(opts.VersionID); !ok {
		return nil // no such version: nothing to delete, as in S3
	}
	node := b.nodeDir(key)
	vdir := filepath.Join(node, versionsDir)
	if _, err := os.Stat(vdir); errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	unlock, err := b.s.lockKey(b.name, key, node)
	if err != nil {
		return err
	}
	defer unlock()
	vpath := filepath.Join(vdir, opts.VersionID)
	if _, err := os.Stat(vpath); errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	lk, err := readLock(vdir, opts.VersionID)
	if err != nil {
		return err
	}
	if err := lk.deletable(time.Now(), opts.BypassGovernance); err != nil {
		return err
	}
	// Move the version out in one rename, so it disappears atomically, then
	// remove its files at leisure.
	trash, err := os.MkdirTemp(filepath.Join(b.dir, "tmp"), "trash-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(vpath, filepath.Join(trash, "v")); err != nil {
		return err
	}
	return syncDir(vdir)
}

// lockedVersion runs fn on a version under the key's lock, for changes to its
// protection. The bucket must have Object Lock.
func (b *bucket) lockedVersion(ctx context.Context, key, versionID string, fn func(vdir, id string, lk lockState) error) error {
	cfg, err := b.prepare(ctx, key)
	if err != nil {
		return err
	}
	if !cfg.ObjectLock {
		return fmt.Errorf("%w: bucket %q has no Object Lock", store.ErrRetention, b.name)
	}
	node := b.nodeDir(key)
	vdir := filepath.Join(node, versionsDir)
	if _, err := os.Stat(vdir); errors.Is(err, iofs.ErrNotExist) {
		return store.ErrNotFound
	}
	unlock, err := b.s.lockKey(b.name, key, node)
	if err != nil {
		return err
	}
	defer unlock()
	id, _, err := b.resolve(vdir, versionID)
	if err != nil {
		return err
	}
	lk, err := readLock(vdir, id)
	if err != nil {
		return err
	}
	return fn(vdir, id, lk)
}

// SetRetention changes a version's retention under S3's rules; see
// store.Bucket.
func (b *bucket) SetRetention(ctx context.Context, key, versionID string, r store.Retention, bypassGovernance bool) error {
	err := b.lockedVersion(ctx, key, versionID, func(vdir, id string, lk lockState) error {
		now := time.Now()
		next, err := putcheck.Retention(r, now)
		if err != nil {
			return err
		}
		if err := lk.retentionChange(next, now, bypassGovernance); err != nil {
			return err
		}
		lk.Mode, lk.Until = next.Mode, next.Until
		return replaceJSONSync(filepath.Join(vdir, id), lockFile, lk)
	})
	if err != nil {
		return b.errf("set retention", key, err)
	}
	return nil
}

// SetLegalHold turns a version's legal hold on or off; see store.Bucket.
func (b *bucket) SetLegalHold(ctx context.Context, key, versionID string, on bool) error {
	err := b.lockedVersion(ctx, key, versionID, func(vdir, id string, lk lockState) error {
		if lk.LegalHold == on {
			return nil
		}
		lk.LegalHold = on
		return replaceJSONSync(filepath.Join(vdir, id), lockFile, lk)
	})
	if err != nil {
		return b.errf("set legal hold", key, err)
	}
	return nil
}

// readProtection reads a version's lock state; a bucket without Object Lock
// has none, but the version must still exist.
func (b *bucket) readProtection(ctx context.Context, key, versionID string) (lockState, error) {
	cfg, err := b.prepare(ctx, key)
	if err != nil {
		return lockState{}, err
	}
	vdir := filepath.Join(b.nodeDir(key), versionsDir)
	id, _, err := b.resolve(vdir, versionID)
	if err != nil {
		return lockState{}, err
	}
	if !cfg.ObjectLock {
		return lockState{}, nil
	}
	return readLock(vdir, id)
}

// GetRetention reports a version's retention; see store.Bucket.
func (b *bucket) GetRetention(ctx context.Context, key, versionID string) (*store.Retention, error) {
	lk, err := b.readProtection(ctx, key, versionID)
	if err != nil {
		return nil, b.errf("get retention", key, err)
	}
	return lk.retention(), nil
}

// LegalHold reports a version's legal hold; see store.Bucket.
func (b *bucket) LegalHold(ctx context.Context, key, versionID string) (bool, error) {
	lk, err := b.readProtection(ctx, key, versionID)
	if err != nil {
		return false, b.errf("legal hold", key, err)
	}
	return lk.LegalHold, nil
}
