package fs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// syncDir fsyncs a directory, making the creation, rename or removal of its
// entries durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeJSONSync creates path (which must not exist) holding v, fsynced.
func writeJSONSync(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// replaceJSONSync atomically replaces dir/name with v: write a temporary
// file, fsync it, rename it over the old one, fsync the directory. Readers
// see the old or the new content, never a mix. The caller holds the key lock,
// so one fixed temporary name is enough.
func replaceJSONSync(dir, name string, v any) error {
	tmp := filepath.Join(dir, name+".new")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	if err := writeJSONSync(tmp, v); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// readJSON reads path into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// mkdirAllSync creates dir and any missing parents below base (which must
// exist), fsyncing each parent in which it created an entry, so that the new
// path survives a crash once a file inside it has been made durable.
func mkdirAllSync(dir, base string) error {
	if dir == base {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if err := mkdirAllSync(parent, base); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirPerm); err != nil && !isExist(err) {
		return err
	}
	// Sync also when another writer created it first: its fsync may not have
	// happened yet, and we are about to acknowledge a write below it.
	return syncDir(parent)
}

func isExist(err error) bool {
	return errors.Is(err, iofs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY)
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writerOnly hides os.File's ReadFrom so io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

// writeDataSync streams r into a new file at path and fsyncs it, returning
// the number of bytes written. Memory use is one pooled buffer.
func (s *Store) writeDataSync(ctx context.Context, path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return 0, err
	}
	bp := s.bufs.Get().(*[]byte)
	n, err := io.CopyBuffer(writerOnly{f}, ctxReader{ctx, r}, *bp)
	s.bufs.Put(bp)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
