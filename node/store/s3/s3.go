// Package s3 is the store driver for S3-compatible object stores (MinIO,
// Ceph RGW, AWS S3) through minio-go. It maps the store semantics onto S3
// versioning and Object Lock, which the server enforces; the driver adds
// bounded-memory streaming and an atomic create-if-absent.
//
// Create-if-absent uses a conditional write, If-None-Match: *. minio-go's
// own multipart upload sends that header when the upload starts but drops it
// on CompleteMultipartUpload, so two concurrent creators could both pass the
// first check and both complete. This driver therefore runs multipart uploads
// itself (through minio.Core) and sends the condition again on completion,
// where the server checks it under its object lock: exactly one creator wins,
// whatever the object's size.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/kurier/kurier/node/store"
)

// Config says how to reach the S3 service.
type Config struct {
	// Endpoint is host[:port], without scheme (for example
	// "minio.cert.example:9000" or "s3.eu-central-1.amazonaws.com").
	Endpoint  string
	AccessKey string
	SecretKey string
	// Region is the bucket region; empty lets minio-go discover it (one
	// extra request per bucket).
	Region string
	UseTLS bool
	// PartSize is the size of one part of a streamed upload, and so the
	// memory one upload of unknown or large size holds. Default 16 MiB;
	// S3 allows 5 MiB to 5 GiB. With at most 10,000 parts, an object of
	// unknown size can be up to 10,000 × PartSize (156 GiB by default).
	PartSize uint64
}

const (
	// DefaultPartSize is used when Config.PartSize is zero.
	DefaultPartSize = 16 << 20
	minPartSize     = 5 << 20
	maxPartSize     = 5 << 30
	maxParts        = 10000
	// pingTimeout bounds Ping when the caller's context has no deadline:
	// minio-go retries refused connections with backoff for much longer.
	pingTimeout = 3 * time.Second
)

// Store is a store.Store on an S3 service. It is safe for concurrent use.
type Store struct {
	cfg      Config
	client   *minio.Client
	core     minio.Core
	partSize int64

	// bufs holds part buffers (PartSize bytes each), reused across uploads.
	bufs sync.Pool

	mu      sync.Mutex
	buckets []string // ensured buckets, for Ping
}

var _ store.Store = (*Store)(nil)

// New validates cfg and makes a client; it does not contact the service
// (use Ping for that).
func New(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("s3: new: empty endpoint")
	}
	if strings.Contains(cfg.Endpoint, "://") || strings.ContainsAny(cfg.Endpoint, "/?#") {
		return nil, fmt.Errorf("s3: new: endpoint %q must be host[:port], without scheme or path (set UseTLS for https)", cfg.Endpoint)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3: new: access key and secret key are required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize || cfg.PartSize > maxPartSize {
		return nil, fmt.Errorf("s3: new: part size %d outside [%d, %d]", cfg.PartSize, minPartSize, maxPartSize)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: new %s: %w", cfg.Endpoint, err)
	}
	s := &Store{cfg: cfg, client: client, core: minio.Core{Client: client}, partSize: int64(cfg.PartSize)}
	s.bufs.New = func() any {
		b := make([]byte, s.partSize)
		return &b
	}
	return s, nil
}

// Driver names the driver.
func (s *Store) Driver() string { return "s3" }

// Bucket returns a handle on a bucket; see store.Store.
func (s *Store) Bucket(name string) store.Bucket {
	return &bucket{s: s, name: name}
}

// Ping checks the service answers, within pingTimeout unless ctx has an
// earlier deadline. It asks for a bucket the node uses (HEAD bucket needs
// only the permissions the node has anyway), or lists buckets before any was
// ensured. Any failure (no answer, a server error, rejected credentials) is
// ErrUnavailable, as the node cannot work in any of these cases; only the
// end of the caller's own context is reported as such.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: ping: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	s.mu.Lock()
	name := ""
	if len(s.buckets) > 0 {
		name = s.buckets[0]
	}
	s.mu.Unlock()
	var err error
	if name != "" {
		_, err = s.client.BucketExists(pctx, name)
	} else {
		_, err = s.client.ListBuckets(pctx)
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil { // the caller gave up, not the service
		return fmt.Errorf("s3: ping: %w", ctx.Err())
	}
	if mapped := mapErr(err, opRead); errors.Is(mapped, store.ErrUnavailable) {
		return fmt.Errorf("s3: ping %s: %w", s.cfg.Endpoint, mapped)
	}
	return fmt.Errorf("s3: ping %s: %w: %w", s.cfg.Endpoint, store.ErrUnavailable, err)
}

// EnsureBucket creates a bucket with versioning, and Object Lock if asked;
// see store.Store. An existing bucket gets versioning turned on if it lacks
// it (harmless, and the store's semantics need it).
func (s *Store) EnsureBucket(ctx context.Context, name string, objectLock bool) error {
	if err := s.ensureBucket(ctx, name, objectLock); err != nil {
		return fmt.Errorf("s3: ensure bucket %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.buckets {
		if b == name {
			return nil
		}
	}
	s.buckets = append(s.buckets, name)
	return nil
}

func (s *Store) ensureBucket(ctx context.Context, name string, objectLock bool) error {
	if err := store.ValidBucketName(name); err != nil {
		return err
	}
	exists, err := s.client.BucketExists(ctx, name)
	if err != nil {
		return mapErr(err, opBucket)
	}
	if !exists {
		err := s.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.cfg.Region, ObjectLocking: objectLock})
		switch code(err) {
		case "":
			if objectLock {
				return nil // Object Lock turns versioning on
			}
			return mapErr(s.client.EnableVersioning(ctx, name), opBucket)
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			// Lost a race with another creator; check what it made.
		default:
			return mapErr(err, opBucket)
		}
	}
	if objectLock {
		status, _, _, _, err := s.client.GetObjectLockConfig(ctx, name)
		if err != nil && code(err) != "ObjectLockConfigurationNotFoundError" {
			return mapErr(err, opBucket)
		}
		if status != "Enabled" {
			return fmt.Errorf("%w: bucket exists without Object Lock, which can only be enabled at creation", store.ErrRetention)
		}
	}
	v, err := s.client.GetBucketVersioning(ctx, name)
	if err != nil {
		return mapErr(err, opBucket)
	}
	if !v.Enabled() {
		return mapErr(s.client.EnableVersioning(ctx, name), opBucket)
	}
	return nil
}

// opKind tells mapErr what an ambiguous S3 error means for the operation.
type opKind int

const (
	opRead opKind = iota
	opPut
	opPutLocked // a put with retention or legal hold
	opDelete
	opRetention
	opBucket
)

// code is the S3 error code of err, or "".
func code(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return ""
}

// mapErr wraps err with the store error it stands for, keeping err in the
// chain for the details.
func mapErr(err error, op opKind) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		var kind error
		switch er.Code {
		case "NoSuchKey", "NoSuchVersion", "NoSuchBucket":
			kind = store.ErrNotFound
		case "MethodNotAllowed":
			// S3's answer for a delete marker addressed by version.
			if op != opBucket {
				kind = store.ErrNotFound
			}
		case "PreconditionFailed":
			kind = store.ErrExists
		case "InvalidArgument":
			// An id the server cannot parse names no version.
			if strings.Contains(strings.ToLower(er.Message), "version id") && op != opBucket {
				kind = store.ErrNotFound
			}
		case "AccessDenied", "InvalidRequest", "InvalidBucketState", "ObjectLockConfigurationNotFoundError":
			// A lock refusing a change: AWS answers AccessDenied, MinIO
			// InvalidRequest ("Object is WORM protected"). A bucket without
			// Object Lock answers InvalidRequest to lock settings. A genuine
			// permission problem still shows in the wrapped message.
			switch {
			case op == opDelete && (er.Code == "AccessDenied" || er.Code == "InvalidRequest"):
				kind = store.ErrLocked
			case op == opPutLocked && er.Code != "AccessDenied", op == opRetention:
				kind = store.ErrRetention
			}
		case "XMinioServerNotInitialized", "ServiceUnavailable", "SlowDown", "XMinioServerNotReady", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			kind = store.ErrUnavailable
		}
		if kind == nil && er.StatusCode >= 500 {
			kind = store.ErrUnavailable
		}
		if kind != nil {
			return fmt.Errorf("%w: %s: %w", kind, er.Code, err)
		}
		return fmt.Errorf("%s: %w", er.Code, err)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
