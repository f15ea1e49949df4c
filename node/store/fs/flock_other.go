//go:build !unix

package fs

import "errors"

var errNoFlock = errors.New("the fs driver needs flock(2), available on Unix systems only")

func checkLockSupport() error { return errNoFlock }

func flockFile(string) (func(), error) { return nil, errNoFlock }
