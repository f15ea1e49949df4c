//go:build unix

package fs

import (
	"errors"
	"os"
	"syscall"
)

func checkLockSupport() error { return nil }

// flockFile takes an exclusive flock(2) on path, creating the file if needed.
// Separate opens get separate locks, so it excludes other goroutines as well
// as other processes; the kernel drops it if the process dies.
func flockFile(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() {
		_ = syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}
