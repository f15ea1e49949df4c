// Package putcheck holds the checks both store drivers apply before they
// write, so that the fs and s3 drivers accept and refuse exactly the same
// puts: a reader that must deliver an exact size, user metadata that survives
// an HTTP round trip, and retention that is well formed.
package putcheck

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/kurier/kurier/node/store"
)

// ErrSize reports a reader that yielded more or fewer bytes than the size the
// caller announced.
var ErrSize = errors.New("data length does not match the announced size")

// MaxMetadata is the largest total size of user metadata (keys plus values),
// the S3 limit.
const MaxMetadata = 2048

// Reader returns r unchanged when size is unknown (<= 0). Otherwise it returns
// a reader that yields exactly size bytes and fails with ErrSize if r ends
// early or holds more. The surplus check happens in the Read that delivers the
// last byte, so an upload fails before it could be completed with a truncated
// body: HTTP clients stop reading at Content-Length and would never see it.
func Reader(r io.Reader, size int64) io.Reader {
	if size <= 0 {
		return r
	}
	return &exactReader{r: r, left: size, size: size}
}

type exactReader struct {
	r    io.Reader
	left int64
	size int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		e.err = io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left == 0:
		var probe [1]byte
		m, perr := io.ReadFull(e.r, probe[:])
		if m > 0 {
			e.err = fmt.Errorf("%w: more than %d bytes", ErrSize, e.size)
			return 0, e.err
		}
		if perr != io.EOF {
			e.err = perr
			return 0, perr
		}
		return n, nil
	case err == io.EOF:
		e.err = fmt.Errorf("%w: %d bytes, want %d", ErrSize, e.size-e.left, e.size)
		return n, e.err
	}
	return n, err
}

// Metadata checks user metadata and returns a copy with lower-case keys.
// Keys must be HTTP tokens and values printable ASCII: S3 carries metadata in
// headers and would mangle anything else, and the fs driver refuses the same.
func Metadata(m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	total := 0
	for k, v := range m {
		lk := strings.ToLower(k)
		if lk == "" || !isToken(lk) {
			return nil, fmt.Errorf("metadata key %q: not an HTTP token", k)
		}
		if strings.HasPrefix(lk, "x-amz-") {
			return nil, fmt.Errorf("metadata key %q: reserved prefix", k)
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return nil, fmt.Errorf("metadata %q: value must be printable ASCII", k)
			}
		}
		if strings.TrimSpace(v) != v {
			return nil, fmt.Errorf("metadata %q: value has leading or trailing space", k)
		}
		if _, dup := out[lk]; dup {
			return nil, fmt.Errorf("metadata key %q: given twice (keys are case-insensitive)", k)
		}
		out[lk] = v
		total += len(lk) + len(v)
	}
	if total > MaxMetadata {
		return nil, fmt.Errorf("metadata: %d bytes, more than %d", total, MaxMetadata)
	}
	return out, nil
}

// CloneMetadata copies m, keeping nil as nil.
func CloneMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Retention checks r and returns it with Until in UTC, rounded up to the
// second (S3 keeps whole seconds; rounding up never shortens a lock). Until
// must lie after now. Errors wrap store.ErrRetention.
func Retention(r store.Retention, now time.Time) (store.Retention, error) {
	if r.Mode != store.Governance && r.Mode != store.Compliance {
		return store.Retention{}, fmt.Errorf("%w: unknown retention mode %q", store.ErrRetention, r.Mode)
	}
	u := CeilSecond(r.Until)
	if !u.After(now) {
		return store.Retention{}, fmt.Errorf("%w: retain-until %s is not in the future", store.ErrRetention, r.Until.Format(time.RFC3339))
	}
	return store.Retention{Mode: r.Mode, Until: u}, nil
}

// CeilSecond rounds t up to the whole second, in UTC.
func CeilSecond(t time.Time) time.Time {
	t = t.UTC()
	if tr := t.Truncate(time.Second); !tr.Equal(t) {
		return tr.Add(time.Second)
	}
	return t
}
