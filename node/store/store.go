// Package store is the node's system of record: a small object-store
// interface with two drivers, fs (the embedded default, a directory) and s3
// (MinIO, Ceph RGW, AWS S3 through minio-go). Both drivers honour the same
// semantics, checked by one contract suite in package storetest:
// create-if-absent, versioning, list by prefix with start-after, and the
// write-once controls evidence needs (retention in governance or compliance
// mode, legal hold).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Typed errors. Drivers wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound: no such bucket, key, or version of a key (a delete marker
	// counts as not found).
	ErrNotFound = errors.New("store: object not found")
	// ErrExists: a create-if-absent put found the key already present.
	ErrExists = errors.New("store: object already exists")
	// ErrLocked: the version is protected by retention or a legal hold.
	ErrLocked = errors.New("store: object version is locked")
	// ErrRetention: a retention change is not allowed (for example shortening
	// compliance retention, or lock settings on a bucket without Object Lock).
	ErrRetention = errors.New("store: retention change not allowed")
	// ErrUnavailable: the backend cannot be reached.
	ErrUnavailable = errors.New("store: backend unavailable")
	// ErrInvalidKey: the key breaks the rules of ValidKey, or a bucket name
	// breaks the S3 naming rules.
	ErrInvalidKey = errors.New("store: invalid key")
)

// MaxKeyLen is the longest key, in bytes (the S3 limit).
const MaxKeyLen = 1024

// maxSegmentLen is the longest '/'-separated key segment, in bytes. MinIO
// keeps objects as files and refuses longer path segments (NAME_MAX), so a key
// the fs driver took must not be one MinIO refuses.
const maxSegmentLen = 255

// ValidKey reports whether key may name an object, with an error wrapping
// ErrInvalidKey if not. The rules are the intersection of what S3, MinIO and a
// file system accept, so that both drivers take exactly the same keys and an
// operator can move a store from one driver to the other:
//   - 1 to MaxKeyLen bytes of valid UTF-8;
//   - no control characters (NUL included) and no backslash;
//   - no ".." anywhere, no "." segment, no leading or trailing '/', no "//";
//   - no segment longer than 255 bytes.
//
// One rule cannot be checked on a key alone: no key should be a '/'-parent
// of another ("a" and "a/b"). S3 and the fs driver allow it, but MinIO stores
// an object as a directory and leaves keys under an object's name out of
// listings, so a rebuild from a listing would miss them. Key schemes must
// keep leaves and "directories" apart (for example "pkg/<id>/manifest" and
// "pkg/<id>/items/<n>", never "pkg/<id>" as well).
func ValidKey(key string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.Contains(key, ".."):
		return bad(`contains ".."`)
	case strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/"):
		return bad("starts or ends with '/'")
	case strings.Contains(key, "//"):
		return bad(`contains "//"`)
	case strings.ContainsRune(key, '\\'):
		return bad("contains a backslash")
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return bad("contains a control character")
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if strings.TrimSpace(seg) == "." {
			return bad(`has a "." segment`)
		}
		if len(seg) > maxSegmentLen {
			return bad(fmt.Sprintf("has a segment longer than %d bytes", maxSegmentLen))
		}
	}
	return nil
}

// RetentionMode follows S3 Object Lock.
type RetentionMode string

const (
	// Governance retention may be shortened or removed by a caller that
	// explicitly bypasses governance.
	Governance RetentionMode = "GOVERNANCE"
	// Compliance retention can never be shortened or removed before it ends.
	Compliance RetentionMode = "COMPLIANCE"
)

// Retention locks one object version until a time. Drivers keep Until to the
// second, rounding up (S3 sends whole seconds on a put), so a lock is never
// shorter than asked; Until must lie in the future when it is set.
type Retention struct {
	Mode  RetentionMode
	Until time.Time
}

// ObjectInfo describes one version of an object.
type ObjectInfo struct {
	Key          string
	VersionID    string
	Size         int64
	LastModified time.Time
	ContentType  string
	// IsLatest is set by Versions for the current version.
	IsLatest bool
	// DeleteMarker is set by Versions for a delete marker (no data).
	DeleteMarker bool
	// Metadata holds user metadata (lower-case keys, without the x-amz-meta- prefix).
	Metadata map[string]string
}

// PutOptions controls a write.
type PutOptions struct {
	// IfAbsent makes the put fail with ErrExists when the key already has a
	// current version.
	IfAbsent bool
	// Size is the exact length of the data when known (> 0); 0 or -1 means
	// unknown, and the data is then streamed in bounded parts until EOF. The
	// zero value is therefore safe: a caller who forgets Size gets a streamed
	// upload, never a silently empty object. A reader that yields more or
	// fewer bytes than a known Size fails the put and stores nothing.
	Size        int64
	ContentType string
	Metadata    map[string]string
	// Metadata keys must be HTTP tokens and values printable ASCII, at most
	// 2 KiB in all (the S3 limit); keys are kept lower-case.
	//
	// Retention and LegalHold lock the new version (bucket must have Object
	// Lock, else ErrRetention).
	Retention *Retention
	LegalHold bool
}

// DeleteOptions controls a delete.
type DeleteOptions struct {
	// VersionID deletes one version permanently; empty adds a delete marker.
	VersionID string
	// BypassGovernance allows deleting a version under governance retention.
	BypassGovernance bool
}

// Bucket is one namespace of objects. The interface is deliberately small:
// everything the node keeps is a stream of bytes under a key.
type Bucket interface {
	// Name is the bucket's name (for logs and metrics).
	Name() string
	// Put streams r into a new version of key.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get opens a version of key (the current one when versionID is empty).
	// A delete marker, current or asked for by id, is ErrNotFound.
	Get(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error)
	// Stat describes a version of key without reading it.
	Stat(ctx context.Context, key, versionID string) (ObjectInfo, error)
	// List yields current objects whose key starts with prefix and sorts after
	// startAfter, in lexicographic (byte-wise) key order. Keys whose current
	// version is a delete marker are left out. Only Key, Size and
	// LastModified are filled in (that is what an S3 listing returns); Stat
	// an object for the rest. After an error the sequence ends.
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error]
	// ListDeleted yields, like List, the keys under prefix after startAfter
	// in key order, but only those List leaves out: keys whose current
	// version is a delete marker. Each entry is that marker (Key, VersionID,
	// LastModified, IsLatest and DeleteMarker set); Versions has the key's
	// older versions. It finds records a plain DELETE hid, which no lock
	// prevents. After an error the sequence ends.
	ListDeleted(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error]
	// Versions lists every version of key, delete markers included, newest
	// first; ErrNotFound when the key has none. Entries carry Key, VersionID,
	// Size, LastModified, IsLatest and DeleteMarker (what an S3 version
	// listing returns).
	Versions(ctx context.Context, key string) ([]ObjectInfo, error)
	// Delete removes a version permanently (ErrLocked if a legal hold or
	// unexpired retention protects it), or, without a version, adds a delete
	// marker, which no lock prevents. Deleting a version that does not exist
	// succeeds, as in S3.
	Delete(ctx context.Context, key string, opts DeleteOptions) error
	// SetRetention sets or extends the retention of a version. Shortening it,
	// or changing its mode, fails with ErrRetention unless the current
	// retention is governance and bypassGovernance is set; compliance can only
	// be extended. Expired retention may be replaced freely.
	SetRetention(ctx context.Context, key, versionID string, r Retention, bypassGovernance bool) error
	// GetRetention reports a version's retention (nil when none, including on
	// a bucket without Object Lock). An expired retention is still reported.
	GetRetention(ctx context.Context, key, versionID string) (*Retention, error)
	// SetLegalHold turns a version's legal hold on or off.
	SetLegalHold(ctx context.Context, key, versionID string, on bool) error
	// LegalHold reports whether a version is under legal hold (false on a
	// bucket without Object Lock).
	LegalHold(ctx context.Context, key, versionID string) (bool, error)
}

// Store opens the node's buckets.
type Store interface {
	// Bucket returns a handle on an existing bucket. It does no I/O; an
	// operation on a bucket that does not exist fails with ErrNotFound, and
	// on an invalid name with ErrInvalidKey.
	Bucket(name string) Bucket
	// EnsureBucket creates a bucket if it does not exist, with versioning, and
	// with Object Lock when objectLock is set (Object Lock can only be enabled
	// at creation). An existing bucket that lacks Object Lock when it is asked
	// for is an error (wrapping ErrRetention).
	EnsureBucket(ctx context.Context, name string, objectLock bool) error
	// Ping checks the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Driver names the driver ("fs" or "s3").
	Driver() string
}

// ValidBucketName reports whether name follows the S3 bucket naming rules
// (3 to 63 characters of lower-case letters, digits, '-' and '.', starting
// and ending with a letter or digit, no ".."), with an error wrapping
// ErrInvalidKey if not. The fs driver uses the name as a directory name, so
// the rules also keep it from escaping its root.
func ValidBucketName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: bucket name %q: %s", ErrInvalidKey, name, why)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("must be 3 to 63 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '-' && c != '.' {
			return bad("only lower-case letters, digits, '-' and '.' are allowed")
		}
		if !alnum && (i == 0 || i == len(name)-1) {
			return bad("must start and end with a letter or digit")
		}
	}
	if strings.Contains(name, "..") {
		return bad(`contains ".."`)
	}
	return nil
}
