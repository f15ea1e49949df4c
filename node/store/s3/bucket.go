package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/kurier/kurier/node/store"
	"github.com/kurier/kurier/node/store/internal/putcheck"
)

// bucket is a store.Bucket on one S3 bucket.
type bucket struct {
	s    *Store
	name string
}

var _ store.Bucket = (*bucket)(nil)

// abortTimeout bounds the clean-up of a failed multipart upload, which runs
// even when the put's context has ended.
const abortTimeout = 30 * time.Second

func (b *bucket) Name() string { return b.name }

func (b *bucket) errf(op, key string, err error) error {
	return fmt.Errorf("s3: %s %s/%q: %w", op, b.name, key, err)
}

// check runs the checks every keyed operation starts with, so that the s3
// driver refuses exactly what the fs driver refuses.
func (b *bucket) check(ctx context.Context, key string) error {
	if err := store.ValidBucketName(b.name); err != nil {
		return err
	}
	if err := store.ValidKey(key); err != nil {
		return err
	}
	return ctx.Err()
}

// Put streams r into a new version; see store.Bucket and the package
// comment. An object of known size up to PartSize goes in one PUT streamed
// from r; anything else is read into one PartSize buffer at a time.
func (b *bucket) Put(ctx context.Context, key string, r io.Reader, opts store.PutOptions) (store.ObjectInfo, error) {
	info, err := b.put(ctx, key, r, opts)
	if err != nil {
		return store.ObjectInfo{}, b.errf("put", key, err)
	}
	return info, nil
}

func (b *bucket) put(ctx context.Context, key string, r io.Reader, opts store.PutOptions) (store.ObjectInfo, error) {
	if err := b.check(ctx, key); err != nil {
		return store.ObjectInfo{}, err
	}
	meta, err := putcheck.Metadata(opts.Metadata)
	if err != nil {
		return store.ObjectInfo{}, err
	}
	po := minio.PutObjectOptions{
		ContentType:  opts.ContentType,
		UserMetadata: meta,
		PartSize:     uint64(b.s.partSize),
	}
	if po.ContentType == "" {
		po.ContentType = "application/octet-stream"
	}
	if opts.Retention != nil {
		ret, err := putcheck.Retention(*opts.Retention, time.Now())
		if err != nil {
			return store.ObjectInfo{}, err
		}
		po.Mode = minio.RetentionMode(ret.Mode)
		po.RetainUntilDate = ret.Until
	}
	if opts.LegalHold {
		po.LegalHold = minio.LegalHoldEnabled
	}
	if opts.IfAbsent {
		po.SetMatchETagExcept("*")
	}
	body := putcheck.Reader(r, opts.Size)

	var up minio.UploadInfo
	if opts.Size > 0 && opts.Size <= b.s.partSize {
		up, err = b.s.client.PutObject(ctx, b.name, key, body, opts.Size, po)
	} else {
		up, err = b.putParts(ctx, key, body, po, opts.IfAbsent)
	}
	if err != nil {
		op := opPut
		if opts.Retention != nil || opts.LegalHold {
			op = opPutLocked
		}
		return store.ObjectInfo{}, mapErr(err, op)
	}
	info := store.ObjectInfo{
		Key:          key,
		VersionID:    up.VersionID,
		Size:         up.Size,
		LastModified: up.LastModified,
		ContentType:  po.ContentType,
		Metadata:     putcheck.CloneMetadata(meta),
	}
	if info.LastModified.IsZero() {
		// S3 does not return Last-Modified on PUT; ask, so that callers get
		// the server's time, as from the fs driver. The version is stored
		// whatever the answer, so a failure here must not fail the put (a
		// create-if-absent retry would then find its own object): fall back
		// to the local clock.
		info.LastModified = time.Now().UTC()
		if st, err := b.s.client.StatObject(ctx, b.name, key, minio.StatObjectOptions{VersionID: up.VersionID}); err == nil {
			info.LastModified = st.LastModified.UTC()
		}
	}
	return info, nil
}

// smallRead is how much of a stream of unknown size is read before a part
// buffer is taken: small objects then cost 64 KiB, not PartSize, which
// matters when many are written at once.
const smallRead = 64 << 10

// putParts uploads r in PartSize parts held in one pooled buffer. Data that
// fits in one part goes in a single PUT.
func (b *bucket) putParts(ctx context.Context, key string, r io.Reader, po minio.PutObjectOptions, ifAbsent bool) (up minio.UploadInfo, err error) {
	small := make([]byte, smallRead)
	n, rerr := io.ReadFull(r, small)
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		return b.s.client.PutObject(ctx, b.name, key, bytes.NewReader(small[:n]), int64(n), po)
	}
	if rerr != nil {
		return minio.UploadInfo{}, rerr
	}
	bp := b.s.bufs.Get().(*[]byte)
	defer b.s.bufs.Put(bp)
	buf := *bp
	copy(buf, small)
	m, rerr := io.ReadFull(r, buf[n:])
	n += m
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		return b.s.client.PutObject(ctx, b.name, key, bytes.NewReader(buf[:n]), int64(n), po)
	}
	if rerr != nil {
		return minio.UploadInfo{}, rerr
	}

	uploadID, err := b.s.core.NewMultipartUpload(ctx, b.name, key, po)
	if err != nil {
		return minio.UploadInfo{}, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			_ = b.s.core.AbortMultipartUpload(actx, b.name, key, uploadID)
		}
	}()
	var parts []minio.CompletePart
	var total int64
	for num := 1; ; num++ {
		if num > maxParts {
			return minio.UploadInfo{}, fmt.Errorf("object larger than %d parts of %d bytes; raise PartSize", maxParts, b.s.partSize)
		}
		p, err := b.s.core.PutObjectPart(ctx, b.name, key, uploadID, num, bytes.NewReader(buf[:n]), int64(n), minio.PutObjectPartOptions{})
		if err != nil {
			return minio.UploadInfo{}, err
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
		total += int64(n)
		if rerr != nil {
			break // that was the short last part
		}
		n, rerr = io.ReadFull(r, buf)
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return minio.UploadInfo{}, rerr
		}
	}
	// Repeat the condition on completion: that is where it decides.
	var co minio.PutObjectOptions
	if ifAbsent {
		co.SetMatchETagExcept("*")
	}
	up, err = b.s.core.CompleteMultipartUpload(ctx, b.name, key, uploadID, parts, co)
	if err != nil {
		return minio.UploadInfo{}, err
	}
	up.Size = total
	return up, nil
}

func toInfo(o minio.ObjectInfo) store.ObjectInfo {
	var meta map[string]string
	for k, v := range o.UserMetadata {
		if meta == nil {
			meta = make(map[string]string, len(o.UserMetadata))
		}
		meta[strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-")] = v
	}
	return store.ObjectInfo{
		Key:          o.Key,
		VersionID:    o.VersionID,
		Size:         o.Size,
		LastModified: o.LastModified.UTC(),
		ContentType:  o.ContentType,
		Metadata:     meta,
	}
}

// Get opens a version; see store.Bucket. The request is sent before Get
// returns, so a missing object is reported here, not on the first Read.
func (b *bucket) Get(ctx context.Context, key, versionID string) (io.ReadCloser, store.ObjectInfo, error) {
	if err := b.check(ctx, key); err != nil {
		return nil, store.ObjectInfo{}, b.errf("get", key, err)
	}
	rc, oi, _, err := b.s.core.GetObject(ctx, b.name, key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return nil, store.ObjectInfo{}, b.errf("get", key, mapErr(err, opRead))
	}
	if oi.IsDeleteMarker {
		rc.Close()
		return nil, store.ObjectInfo{}, b.errf("get", key, fmt.Errorf("%w: delete marker", store.ErrNotFound))
	}
	return rc, toInfo(oi), nil
}

// Stat describes a version; see store.Bucket.
func (b *bucket) Stat(ctx context.Context, key, versionID string) (store.ObjectInfo, error) {
	if err := b.check(ctx, key); err != nil {
		return store.ObjectInfo{}, b.errf("stat", key, err)
	}
	oi, err := b.s.client.StatObject(ctx, b.name, key, minio.StatObjectOptions{VersionID: versionID})
	if err == nil && oi.IsDeleteMarker {
		err = fmt.Errorf("%w: delete marker", store.ErrNotFound)
	}
	if err != nil {
		return store.ObjectInfo{}, b.errf("stat", key, mapErr(err, opRead))
	}
	return toInfo(oi), nil
}

// List lists current objects; see store.Bucket.
func (b *bucket) List(ctx context.Context, prefix, startAfter string) iter.Seq2[store.ObjectInfo, error] {
	return b.list(ctx, prefix, startAfter, false)
}

// ListDeleted lists keys whose current version is a delete marker; see
// store.Bucket. S3 has no such filter: the version listing of the prefix is
// read and only the latest entries that are markers are kept (the listing's
// key-marker is StartAfter, so paging by key works as for List).
func (b *bucket) ListDeleted(ctx context.Context, prefix, startAfter string) iter.Seq2[store.ObjectInfo, error] {
	return b.list(ctx, prefix, startAfter, true)
}

// list is List, or with deleted ListDeleted.
func (b *bucket) list(ctx context.Context, prefix, startAfter string, deleted bool) iter.Seq2[store.ObjectInfo, error] {
	op := "list"
	if deleted {
		op = "list deleted"
	}
	return func(yield func(store.ObjectInfo, error) bool) {
		if err := store.ValidBucketName(b.name); err != nil {
			yield(store.ObjectInfo{}, fmt.Errorf("s3: %s %s/%q: %w", op, b.name, prefix, err))
			return
		}
		// Cancelling stops minio-go's paging when the caller stops early.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		opts := minio.ListObjectsOptions{Prefix: prefix, StartAfter: startAfter, WithVersions: deleted, Recursive: true}
		for o := range b.s.client.ListObjectsIter(ctx, b.name, opts) {
			if o.Err != nil {
				yield(store.ObjectInfo{}, fmt.Errorf("s3: %s %s/%q: %w", op, b.name, prefix, mapErr(o.Err, opRead)))
				return
			}
			// Defensive: a server must honour both, but a listing that
			// did not would break callers' paging.
			if !strings.HasPrefix(o.Key, prefix) || o.Key <= startAfter {
				continue
			}
			info := store.ObjectInfo{Key: o.Key, Size: o.Size, LastModified: o.LastModified.UTC()}
			if deleted {
				if !o.IsLatest || !o.IsDeleteMarker {
					continue
				}
				info = store.ObjectInfo{Key: o.Key, VersionID: o.VersionID, LastModified: o.LastModified.UTC(), IsLatest: true, DeleteMarker: true}
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Versions lists a key's versions, newest first; see store.Bucket. S3 lists
// versions by prefix in key order, so the key's own versions come first and
// the listing stops at the first longer key.
func (b *bucket) Versions(ctx context.Context, key string) ([]store.ObjectInfo, error) {
	if err := b.check(ctx, key); err != nil {
		return nil, b.errf("versions", key, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []store.ObjectInfo
	opts := minio.ListObjectsOptions{Prefix: key, WithVersions: true, Recursive: true}
	for o := range b.s.client.ListObjectsIter(ctx, b.name, opts) {
		if o.Err != nil {
			return nil, b.errf("versions", key, mapErr(o.Err, opRead))
		}
		if o.Key != key {
			if o.Key > key {
				break
			}
			continue
		}
		out = append(out, store.ObjectInfo{
			Key:          o.Key,
			VersionID:    o.VersionID,
			Size:         o.Size,
			LastModified: o.LastModified.UTC(),
			IsLatest:     o.IsLatest,
			DeleteMarker: o.IsDeleteMarker,
		})
	}
	if len(out) == 0 {
		return nil, b.errf("versions", key, store.ErrNotFound)
	}
	return out, nil
}

// Delete adds a delete marker or removes a version; see store.Bucket.
func (b *bucket) Delete(ctx context.Context, key string, opts store.DeleteOptions) error {
	if err := b.check(ctx, key); err != nil {
		return b.errf("delete", key, err)
	}
	err := b.s.client.RemoveObject(ctx, b.name, key, minio.RemoveObjectOptions{
		VersionID:        opts.VersionID,
		GovernanceBypass: opts.BypassGovernance,
	})
	if err != nil && opts.VersionID != "" && isNoSuchVersion(err) {
		return nil // nothing to delete, as for a well-formed unknown id
	}
	if err != nil {
		return b.errf("delete", key, mapErr(err, opDelete))
	}
	return nil
}

// isNoSuchVersion reports S3's answers for a version that does not exist,
// including a version id the server cannot parse.
func isNoSuchVersion(err error) bool {
	switch code(err) {
	case "NoSuchVersion", "NoSuchKey", "InvalidArgument":
		return true
	}
	return false
}

// SetRetention changes a version's retention; the server enforces S3's
// rules. See store.Bucket.
func (b *bucket) SetRetention(ctx context.Context, key, versionID string, r store.Retention, bypassGovernance bool) error {
	err := b.setRetention(ctx, key, versionID, r, bypassGovernance)
	if err != nil {
		return b.errf("set retention", key, err)
	}
	return nil
}

func (b *bucket) setRetention(ctx context.Context, key, versionID string, r store.Retention, bypassGovernance bool) error {
	if err := b.check(ctx, key); err != nil {
		return err
	}
	ret, err := putcheck.Retention(r, time.Now())
	if err != nil {
		return err
	}
	mode := minio.RetentionMode(ret.Mode)
	err = b.s.client.PutObjectRetention(ctx, b.name, key, minio.PutObjectRetentionOptions{
		GovernanceBypass: bypassGovernance,
		Mode:             &mode,
		RetainUntilDate:  &ret.Until,
		VersionID:        versionID,
	})
	return mapErr(err, opRetention)
}

// SetLegalHold turns a version's legal hold on or off; see store.Bucket.
func (b *bucket) SetLegalHold(ctx context.Context, key, versionID string, on bool) error {
	if err := b.check(ctx, key); err != nil {
		return b.errf("set legal hold", key, err)
	}
	status := minio.LegalHoldDisabled
	if on {
		status = minio.LegalHoldEnabled
	}
	err := b.s.client.PutObjectLegalHold(ctx, b.name, key, minio.PutObjectLegalHoldOptions{VersionID: versionID, Status: &status})
	if err != nil {
		return b.errf("set legal hold", key, mapErr(err, opRetention))
	}
	return nil
}

// noLockConfig reports the answers that mean "nothing set here": the version
// has no retention or hold, or the bucket has no Object Lock.
func noLockConfig(err error) bool {
	switch code(err) {
	case "NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError", "InvalidRequest":
		return true
	}
	return false
}

// GetRetention reports a version's retention; see store.Bucket.
func (b *bucket) GetRetention(ctx context.Context, key, versionID string) (*store.Retention, error) {
	if err := b.check(ctx, key); err != nil {
		return nil, b.errf("get retention", key, err)
	}
	mode, until, err := b.s.client.GetObjectRetention(ctx, b.name, key, versionID)
	if err != nil {
		if noLockConfig(err) {
			return nil, b.exists(ctx, "get retention", key, versionID)
		}
		return nil, b.errf("get retention", key, mapErr(err, opRead))
	}
	if mode == nil || *mode == "" || until == nil {
		return nil, nil
	}
	return &store.Retention{Mode: store.RetentionMode(*mode), Until: until.UTC()}, nil
}

// LegalHold reports a version's legal hold; see store.Bucket.
func (b *bucket) LegalHold(ctx context.Context, key, versionID string) (bool, error) {
	if err := b.check(ctx, key); err != nil {
		return false, b.errf("legal hold", key, err)
	}
	st, err := b.s.client.GetObjectLegalHold(ctx, b.name, key, minio.GetObjectLegalHoldOptions{VersionID: versionID})
	if err != nil {
		if noLockConfig(err) {
			return false, b.exists(ctx, "legal hold", key, versionID)
		}
		return false, b.errf("legal hold", key, mapErr(err, opRead))
	}
	return st != nil && *st == minio.LegalHoldEnabled, nil
}

// exists returns nil if the version exists, so that asking about locks on a
// missing version is ErrNotFound on every bucket, as with the fs driver.
func (b *bucket) exists(ctx context.Context, op, key, versionID string) error {
	if _, err := b.Stat(ctx, key, versionID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return b.errf(op, key, store.ErrNotFound)
		}
		return err
	}
	return nil
}
