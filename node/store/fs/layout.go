package fs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kurier/kurier/node/store"
	"github.com/kurier/kurier/node/store/internal/putcheck"
)

// chunkLen is how many key bytes one directory level holds (64 hex
// characters, well under NAME_MAX).
const chunkLen = 32

const (
	versionsDir = "_v"
	dataFile    = "data"
	metaFile    = "meta.json"
	lockFile    = "lock.json"
)

// bucketConfig is bucket.json.
type bucketConfig struct {
	Format     int  `json:"format"`
	ObjectLock bool `json:"objectLock"`
}

func readBucketConfig(dir string) (bucketConfig, error) {
	var c bucketConfig
	if err := readJSON(filepath.Join(dir, "bucket.json"), &c); err != nil {
		return c, err
	}
	if c.Format != 1 {
		return c, fmt.Errorf("%s: unknown bucket format %d", dir, c.Format)
	}
	return c, nil
}

// versionMeta is meta.json: what a version is. It never changes once the
// version is committed.
type versionMeta struct {
	Key          string            `json:"key"`
	Size         int64             `json:"size"`
	ContentType  string            `json:"contentType,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	DeleteMarker bool              `json:"deleteMarker,omitempty"`
}

// lockState is lock.json: the mutable protection of a version.
type lockState struct {
	Mode      store.RetentionMode `json:"mode,omitempty"`
	Until     time.Time           `json:"until,omitzero"`
	LegalHold bool                `json:"legalHold,omitempty"`
}

func (l lockState) retention() *store.Retention {
	if l.Mode == "" {
		return nil
	}
	return &store.Retention{Mode: l.Mode, Until: l.Until}
}

// deletable reports, as an error wrapping store.ErrLocked, what stops the
// version being deleted now.
func (l lockState) deletable(now time.Time, bypassGovernance bool) error {
	if l.LegalHold {
		return fmt.Errorf("%w: under legal hold", store.ErrLocked)
	}
	if l.Mode != "" && now.Before(l.Until) {
		if l.Mode == store.Governance && bypassGovernance {
			return nil
		}
		return fmt.Errorf("%w: %s retention until %s", store.ErrLocked, l.Mode, l.Until.Format(time.RFC3339))
	}
	return nil
}

// retentionChange reports, as an error wrapping store.ErrRetention, whether
// the retention of a version may move from l to next (S3 rules: anything
// after expiry; governance may be shortened or changed only with bypass;
// compliance may only be extended).
func (l lockState) retentionChange(next store.Retention, now time.Time, bypassGovernance bool) error {
	if l.Mode == "" || !now.Before(l.Until) {
		return nil
	}
	weaker := next.Mode != l.Mode || next.Until.Before(l.Until)
	switch {
	case !weaker:
		return nil
	case l.Mode == store.Governance && bypassGovernance:
		return nil
	case l.Mode == store.Governance:
		return fmt.Errorf("%w: shortening or changing governance retention (until %s) needs a governance bypass", store.ErrRetention, l.Until.Format(time.RFC3339))
	default:
		return fmt.Errorf("%w: compliance retention (until %s) can only be extended", store.ErrRetention, l.Until.Format(time.RFC3339))
	}
}

// nodeRel is the path of key's node directory relative to objects/.
func nodeRel(key string) string {
	parts := make([]string, 0, (len(key)+chunkLen-1)/chunkLen)
	for i := 0; i < len(key); i += chunkLen {
		parts = append(parts, hex.EncodeToString([]byte(key[i:min(i+chunkLen, len(key))])))
	}
	return filepath.Join(parts...)
}

// isChunkName reports whether a directory entry is a key chunk (lower-case
// hex of 1 to chunkLen bytes) rather than _v, _lock or something foreign.
func isChunkName(name string) bool {
	if len(name) == 0 || len(name)%2 != 0 || len(name) > 2*chunkLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

const versionIDLen = 24

// newVersionID makes an id later than newest (the latest existing id, or "").
func newVersionID(now time.Time, newest string) (string, error) {
	ns := now.UnixNano()
	if t, ok := versionNanos(newest); ok && ns <= t {
		ns = t + 1
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%016x%x", uint64(ns), r), nil
}

// versionNanos extracts the Unix nanoseconds from a version id; it also
// validates the id, which is used as a path element.
func versionNanos(id string) (int64, bool) {
	if len(id) != versionIDLen || strings.ToLower(id) != id {
		return 0, false
	}
	if _, err := hex.DecodeString(id[16:]); err != nil {
		return 0, false
	}
	ns, err := strconv.ParseUint(id[:16], 16, 64)
	if err != nil {
		return 0, false
	}
	return int64(ns), true
}

func versionTime(id string) time.Time {
	ns, _ := versionNanos(id)
	return time.Unix(0, ns).UTC()
}

// versionNames lists the committed version ids in a _v directory, oldest
// first (names sort by time).
func versionNames(vdir string) ([]string, error) {
	entries, err := os.ReadDir(vdir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if _, ok := versionNanos(e.Name()); ok && e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func readMeta(vdir, id string) (versionMeta, error) {
	var m versionMeta
	err := readJSON(filepath.Join(vdir, id, metaFile), &m)
	return m, err
}

func readLock(vdir, id string) (lockState, error) {
	var l lockState
	err := readJSON(filepath.Join(vdir, id, lockFile), &l)
	if errors.Is(err, iofs.ErrNotExist) {
		return lockState{}, nil
	}
	return l, err
}

func (m versionMeta) info(id string) store.ObjectInfo {
	return store.ObjectInfo{
		Key:          m.Key,
		VersionID:    id,
		Size:         m.Size,
		LastModified: versionTime(id),
		ContentType:  m.ContentType,
		DeleteMarker: m.DeleteMarker,
		Metadata:     putcheck.CloneMetadata(m.Metadata),
	}
}
