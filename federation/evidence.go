package federation

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/api/problem"
)

// Evidence transfers ride on the federation channel: the sender posts the
// transfer stream (package evidence) to POST /federation/v1/evidence,
// signed like every federation request, and the receiver answers with its
// signed receipt. A request signature covers the SHA-256 of the body, so
// the sender spools the stream to a temporary file while hashing it, signs
// with the hash and streams the file; the receiver spools the body while
// hashing it, checks the signature against the hash, and only then hands
// the file to the evidence service. Memory stays flat either way; the
// temporary files live in <data dir>/tmp and are removed afterwards.

// EvidenceReceiver is what federation needs of the evidence service:
// verify and store a transfer stream from the authenticated peer whose
// fingerprint is from, and return the JSON answer for the peer (its signed
// receipt, accepted or rejected). An error with a nil answer means no
// receipt could be given (the peer sees a 500).
type EvidenceReceiver interface {
	ReceiveEvidence(ctx context.Context, from string, r io.Reader) (answer []byte, err error)
}

// ErrUnknownPeer is returned for a peer name (or fingerprint) that is not
// loaded.
var ErrUnknownPeer = errors.New("federation: no such peer")

// Default cap on an incoming evidence transfer (disk exhaustion).
const defaultMaxEvidence = 64 << 30

// evidenceAttempts is how often a send is tried on a transport error (a
// dropped connection): the spooled stream is re-signed with a fresh nonce
// and posted again. An answer from the peer is never retried.
const evidenceAttempts = 3

// SetEvidenceReceiver lets peers deliver evidence to this node; until it
// is set, POST /federation/v1/evidence answers 503.
func (f *Federation) SetEvidenceReceiver(r EvidenceReceiver) {
	f.evMu.Lock()
	f.evRecv = r
	f.evMu.Unlock()
}

func (f *Federation) evidenceReceiver() EvidenceReceiver {
	f.evMu.RLock()
	defer f.evMu.RUnlock()
	return f.evRecv
}

func (f *Federation) tmpDir() (string, error) {
	dir := filepath.Join(f.opts.DataDir, "tmp")
	return dir, os.MkdirAll(dir, 0o700)
}

// spool is a temporary file removed on Close.
type spool struct{ *os.File }

func (f *Federation) newSpool(pattern string) (*spool, error) {
	dir, err := f.tmpDir()
	if err != nil {
		return nil, err
	}
	fh, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &spool{fh}, nil
}

func (s *spool) Close() error {
	err := s.File.Close()
	if rerr := os.Remove(s.Name()); err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}

// serveEvidence receives an evidence transfer from a pinned peer. The
// route has no body limit of the feed's kind (it is capped at
// MaxEvidenceBytes) and no request deadline; the body is bounded by
// progress (routes.go).
func (f *Federation) serveEvidence(w http.ResponseWriter, r *http.Request) {
	recv := f.evidenceReceiver()
	if recv == nil {
		f.opts.API.Problems().Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "this node does not receive evidence"))
		return
	}
	var sp *spool
	defer func() {
		if sp != nil {
			_ = sp.Close()
		}
	}()
	started := time.Now()
	ps, reason, err := f.verifyRequestBody(r, func() ([sha256.Size]byte, error) {
		var sum [sha256.Size]byte
		var err error
		if sp, err = f.newSpool("evidence-in-*"); err != nil {
			return sum, err
		}
		_, sum, err = copyHashed(sp, r.Body)
		return sum, err
	})
	if f.refused(w, r, reason, err) {
		return
	}
	size, _ := sp.Seek(0, io.SeekCurrent)
	if _, err := sp.Seek(0, io.SeekStart); err != nil {
		f.opts.API.Problems().Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "cannot read the spooled transfer"))
		return
	}
	f.log.Info("evidence transfer received", "peer", ps.cfg.Name, "bytes", size, "spooled_in", time.Since(started).Round(time.Millisecond).String())
	f.receiveEvidence(w, r, recv, ps, sp)
}

// copyHashed spools a request body (nil: none) to w through a buffer, and
// returns how much it copied and its SHA-256 (what the signature covers).
func copyHashed(w io.Writer, body io.Reader) (int64, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	var n int64
	if body != nil {
		var err error
		if n, err = io.Copy(bw, body); err != nil {
			return n, sum, err
		}
	}
	if err := bw.Flush(); err != nil {
		return n, sum, err
	}
	copy(sum[:], h.Sum(nil))
	return n, sum, nil
}

// receiveEvidence hands a complete, authenticated transfer stream to the
// evidence service and answers with its signed receipt — accepted or
// rejected alike, so the sender can file it; only a failure to produce any
// receipt is an HTTP error.
func (f *Federation) receiveEvidence(w http.ResponseWriter, r *http.Request, recv EvidenceReceiver, ps *peerState, stream io.Reader) {
	// The stream is complete on disk: finish storing it even if the peer
	// goes away now; a retry then meets the package as already received.
	answer, err := recv.ReceiveEvidence(context.WithoutCancel(r.Context()), ps.fpr, bufio.NewReaderSize(stream, 1<<20))
	if answer == nil {
		f.log.Error("evidence transfer: no receipt", "peer", ps.cfg.Name, "err", err)
		f.opts.API.Problems().Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "the transfer could not be processed"))
		return
	}
	if err != nil {
		f.log.Warn("evidence transfer rejected", "peer", ps.cfg.Name, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(answer)
}

// SendEvidence delivers an evidence transfer to a peer (by name, or by
// fingerprint). write produces the transfer stream for the peer's key
// fingerprint; it is spooled to a temporary file while hashed, then sent
// as a resumable upload in signed chunks (after a dropped connection it
// goes on from what the peer holds, up to three failures in a row; a peer
// without uploads gets the whole stream posted, retried the same way).
// It returns the peer's answer: its signed receipt (JSON). A
// refusal of the request itself (unknown node, bad signature, too large)
// is an error.
func (f *Federation) SendEvidence(ctx context.Context, peer string, write func(to string, w io.Writer) error) ([]byte, error) {
	set := f.set.Load()
	ps := set.byName[peer]
	if ps == nil {
		ps = set.byFpr[strings.ToUpper(strings.ReplaceAll(peer, " ", ""))]
	}
	if ps == nil {
		return nil, fmt.Errorf("%w: %q (see `kurier peer list`)", ErrUnknownPeer, peer)
	}
	if ps.cfg.Paused {
		return nil, fmt.Errorf("federation: peer %s is paused", ps.cfg.Name)
	}
	sp, err := f.newSpool("evidence-out-*")
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	h := sha256.New()
	chunks := newChunkHasher(f.opts.EvidenceChunkBytes)
	bw := bufio.NewWriterSize(io.MultiWriter(sp, h, chunks), 1<<20)
	if err := write(ps.fpr, bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("federation: spool evidence transfer: %w", err)
	}
	chunks.done()
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	size, err := sp.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	answer, err := f.uploadEvidence(ctx, ps, sp.File, size, sum, chunks)
	if !errors.Is(err, errUploadsUnsupported) {
		return answer, err
	}
	// A peer without resumable uploads: post the whole stream.
	for attempt := 1; ; attempt++ {
		answer, err := f.postEvidence(ctx, ps, sp.File, size, sum)
		var pe *peerError
		if err == nil || errors.As(err, &pe) || ctx.Err() != nil || attempt == evidenceAttempts {
			return answer, err
		}
		f.log.Warn("evidence transfer: connection failed, retrying", "peer", ps.cfg.Name, "attempt", attempt, "err", err)
		if !retryWait(ctx, attempt) {
			return nil, err
		}
	}
}

// evidenceRetryStep is the wait before the first retry of an evidence
// send after a transport error; each further one waits a step longer.
const evidenceRetryStep = 500 * time.Millisecond

// retryWait waits before retry n (1, 2, ...); false when ctx ends first.
func retryWait(ctx context.Context, n int) bool {
	t := time.NewTimer(time.Duration(n) * evidenceRetryStep)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (f *Federation) postEvidence(ctx context.Context, ps *peerState, file *os.File, size int64, sum [sha256.Size]byte) ([]byte, error) {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	resp, data, err := f.evidenceRequest(ctx, ps, http.MethodPost, wire.PathEvidence, nil, io.NopCloser(bufio.NewReaderSize(file, 1<<20)), size, sum)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, peerErrorFrom(resp, data)
	}
	return data, nil
}

// evidenceRequest sends n bytes of body (SHA-256 sum) to a peer's
// evidence endpoint, signed over sum, and returns the answer with its
// body (at most 4 MiB) read and closed.
func (f *Federation) evidenceRequest(ctx context.Context, ps *peerState, method, endpoint string, query url.Values, body io.Reader, n int64, sum [sha256.Size]byte) (*http.Response, []byte, error) {
	u, err := peerURL(ps, endpoint, query)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", wire.EvidenceMediaType)
	req.Header.Set("Accept", "application/json")
	if _, err := wire.SignHashed(req, f.signer(), ps.fpr, sum, f.now()); err != nil {
		return nil, nil, err
	}
	resp, err := f.evHTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, err
	}
	return resp, data, nil
}

// newEvidenceClient is the client for evidence transfers: like the feed's,
// but the receiver answers only once it has verified and stored the whole
// stream, which for large items takes long.
func newEvidenceClient(rt http.RoundTripper) *http.Client {
	if rt == nil {
		rt = &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:    10 * time.Second,
			ResponseHeaderTimeout:  time.Hour,
			ExpectContinueTimeout:  time.Second,
			MaxIdleConnsPerHost:    2,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}
	}
	return newHTTPClient(rt)
}

// Resumable uploads. A transfer stream is identified by its SHA-256 (the
// sender has it from spooling). The receiver keeps what it holds of a
// stream from a peer in <data dir>/tmp/uploads/<peer fpr>-<sha256>.part;
// GET .../evidence/uploads/<sha256> tells how much, and each PUT appends
// one chunk at exactly that offset. A chunk is signed over its own
// SHA-256 (a chunk changed in transit, or sent by another node, is a 401,
// and the part file is cut back to where the chunk started); the offset
// and the stream length are in the signed query. When the part holds the
// whole stream, the receiver checks its SHA-256 against the one named in
// the path and hands it to the evidence service, as for a POST. A dropped
// connection loses at most the chunk in flight: the sender asks for the
// offset and goes on from there.

// maxEvidenceChunk is the default chunk size of an upload and the largest
// chunk a receiver reads: a chunk's signature can only be checked once it
// is read, so an unchecked sender may make it spool at most this much per
// request.
const maxEvidenceChunk = 16 << 20

// uploadMaxAge is how long an unfinished upload is kept, and
// uploadSweepInterval how often the reload loop looks for older ones.
const (
	uploadMaxAge        = 24 * time.Hour
	uploadSweepInterval = time.Hour
)

// uploadLocks serialises the requests on one part file (a retry may
// arrive while the handler of the dropped request still runs). Keyed by
// the part file's path; an entry lives only while someone holds or waits
// for it, so finished uploads leave nothing behind.
type uploadLocks struct {
	mu sync.Mutex
	m  map[string]*uploadLock
}

type uploadLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holder and waiters
}

func (l *uploadLocks) ref(path string) *uploadLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*uploadLock{}
	}
	e := l.m[path]
	if e == nil {
		e = &uploadLock{ch: make(chan struct{}, 1)}
		l.m[path] = e
	}
	e.refs++
	return e
}

func (l *uploadLocks) unref(path string, e *uploadLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, path)
	}
}

// lock waits for the part file at path; the returned func releases it.
func (l *uploadLocks) lock(ctx context.Context, path string) (func(), error) {
	e := l.ref(path)
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; l.unref(path, e) }, nil
	case <-ctx.Done():
		l.unref(path, e)
		return nil, ctx.Err()
	}
}

// tryLock is lock without waiting: false when the part is in use.
func (l *uploadLocks) tryLock(path string) (func(), bool) {
	e := l.ref(path)
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; l.unref(path, e) }, true
	default:
		l.unref(path, e)
		return nil, false
	}
}

func (f *Federation) uploadsDir() string { return filepath.Join(f.opts.DataDir, "tmp", "uploads") }

// makeUploadsDir creates the directory of part files (at Mount, and again
// should it have been removed since).
func (f *Federation) makeUploadsDir() error { return os.MkdirAll(f.uploadsDir(), 0o700) }

// uploadPath is the part file of the upload of stream sum (hex) from the
// node whose fingerprint is node.
func (f *Federation) uploadPath(node, sum string) string {
	return filepath.Join(f.uploadsDir(), node+"-"+sum+".part")
}

// sweepUploads removes part files untouched for uploadMaxAge (bounds the
// disk held by abandoned uploads). The reload loop runs it.
func (f *Federation) sweepUploads() {
	dir := f.uploadsDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), ".part") || f.now().Sub(info.ModTime()) < uploadMaxAge {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if unlock, ok := f.uploads.tryLock(p); ok {
			if os.Remove(p) == nil {
				f.log.Info("evidence upload abandoned, part removed", "file", e.Name(), "bytes", info.Size())
			}
			unlock()
		}
	}
}

// uploadSum parses the stream hash of an upload path.
func uploadSum(r *http.Request) (string, [sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	s := chi.URLParam(r, "sha256")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size || s != strings.ToLower(s) {
		return "", sum, false
	}
	copy(sum[:], b)
	return s, sum, true
}

// serveEvidenceUploadStatus answers how much of a stream the requesting
// peer has uploaded (signed GET; behind authenticate).
func (f *Federation) serveEvidenceUploadStatus(w http.ResponseWriter, r *http.Request) {
	ps := peerFrom(r.Context())
	hexSum, _, ok := uploadSum(r)
	if ps == nil || !ok {
		f.opts.API.Problems().Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "the upload is named by the lower-case hex SHA-256 of the transfer stream"))
		return
	}
	var st wire.UploadStatus
	p := f.uploadPath(ps.fpr, hexSum)
	// Wait for a chunk still being written (or cut back) by a dropped
	// request.
	unlock, err := f.uploads.lock(r.Context(), p)
	if err != nil {
		return
	}
	if info, err := os.Stat(p); err == nil {
		st.Offset = info.Size()
	}
	unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// errUploadOffset is a chunk sent for another offset than the part's
// size.
type errUploadOffset struct{ have int64 }

func (e *errUploadOffset) Error() string {
	return fmt.Sprintf("the upload holds %d bytes; send the chunk at that offset", e.have)
}

// serveEvidenceUpload appends one chunk to an upload, and completes the
// transfer with the last one.
func (f *Federation) serveEvidenceUpload(w http.ResponseWriter, r *http.Request) {
	probs := f.opts.API.Problems()
	recv := f.evidenceReceiver()
	if recv == nil {
		probs.Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "this node does not receive evidence"))
		return
	}
	hexSum, full, ok := uploadSum(r)
	if !ok {
		probs.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "the upload is named by the lower-case hex SHA-256 of the transfer stream"))
		return
	}
	q := r.URL.Query()
	offset, err1 := strconv.ParseInt(q.Get(wire.UploadOffset), 10, 64)
	length, err2 := strconv.ParseInt(q.Get(wire.UploadLength), 10, 64)
	if err1 != nil || err2 != nil || offset < 0 || length <= 0 || offset > length {
		probs.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "an upload chunk needs offset and length (0 <= offset <= length, length > 0)"))
		return
	}
	if length > f.opts.MaxEvidenceBytes {
		probs.Write(w, r, problem.New(problem.TooLarge, http.StatusRequestEntityTooLarge, "transfer larger than this node accepts"))
		return
	}
	if r.ContentLength > length-offset {
		probs.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "chunk runs past the declared length"))
		return
	}
	if r.ContentLength > maxEvidenceChunk {
		probs.Write(w, r, problem.New(problem.TooLarge, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("an upload chunk is at most %d bytes", maxEvidenceChunk)))
		return
	}
	// The one bound on what is read: a chunk never runs past the stream
	// nor above the chunk size (413 once exceeded, declared or not).
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, min(maxEvidenceChunk, length-offset))
	}
	var (
		part    *os.File
		path    string
		unlock  func()
		written int64
	)
	defer func() {
		if part != nil {
			_ = part.Close()
		}
		if unlock != nil {
			unlock()
		}
	}()
	// cutBack undoes an unaccepted chunk: the part keeps only what earlier
	// accepted chunks brought (nothing: removed).
	cutBack := func() {
		if part == nil {
			return
		}
		if offset == 0 {
			_ = os.Remove(path)
		} else {
			_ = part.Truncate(offset)
		}
	}
	ps, reason, err := f.verifyRequestBody(r, func() ([sha256.Size]byte, error) {
		var sum [sha256.Size]byte
		var err error
		// The cheap checks passed: the node header names a pinned peer. The
		// chunk is cut back below unless its signature verifies.
		path = f.uploadPath(r.Header.Get(wire.HeaderNode), hexSum)
		if unlock, err = f.uploads.lock(r.Context(), path); err != nil {
			return sum, err
		}
		have := int64(0)
		if info, err := os.Stat(path); err == nil {
			have = info.Size()
		}
		if have != offset {
			return sum, &errUploadOffset{have: have}
		}
		part, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if errors.Is(err, os.ErrNotExist) && f.makeUploadsDir() == nil {
			part, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		}
		if err != nil {
			return sum, err
		}
		if _, err := part.Seek(offset, io.SeekStart); err != nil {
			return sum, err
		}
		written, sum, err = copyHashed(part, r.Body)
		return sum, err
	})
	if reason != "" || err != nil {
		cutBack()
		var eo *errUploadOffset
		if errors.As(err, &eo) {
			w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(eo.have, 10))
			probs.Write(w, r, problem.New(problem.Conflict, http.StatusConflict, eo.Error()))
			return
		}
		f.refused(w, r, reason, err)
		return
	}
	if err := part.Sync(); err != nil {
		cutBack()
		probs.Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "cannot store the chunk"))
		return
	}
	size := offset + written
	if size < length {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(wire.UploadStatus{Offset: size})
		return
	}
	// Complete: check the whole stream against the hash it was announced
	// under, then receive it like a POST. The part is removed either way.
	defer os.Remove(path)
	if _, err := part.Seek(0, io.SeekStart); err != nil {
		probs.Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "cannot read the upload"))
		return
	}
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReaderSize(part, 1<<20)); err != nil {
		probs.Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "cannot read the upload"))
		return
	}
	if !bytes.Equal(h.Sum(nil), full[:]) {
		f.log.Warn("evidence upload: stream does not match its hash, discarded", "peer", ps.cfg.Name, "bytes", size)
		probs.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "the uploaded stream does not match the SHA-256 it was sent under; it is discarded, send it again"))
		return
	}
	if _, err := part.Seek(0, io.SeekStart); err != nil {
		probs.Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "cannot read the upload"))
		return
	}
	f.log.Info("evidence transfer uploaded", "peer", ps.cfg.Name, "bytes", size)
	f.receiveEvidence(w, r, recv, ps, part)
}

// chunkHasher records the SHA-256 of each chunk of a stream as it is
// written (the sender spools once and signs each chunk without rereading).
type chunkHasher struct {
	size int64
	n    int64
	h    hash.Hash
	sums [][sha256.Size]byte
}

func newChunkHasher(size int64) *chunkHasher { return &chunkHasher{size: size, h: sha256.New()} }

func (c *chunkHasher) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(int64(len(p)), c.size-c.n%c.size)
		c.h.Write(p[:k])
		c.n += k
		p = p[k:]
		if c.n%c.size == 0 {
			c.flush()
		}
	}
	return total, nil
}

func (c *chunkHasher) flush() {
	var s [sha256.Size]byte
	copy(s[:], c.h.Sum(nil))
	c.sums = append(c.sums, s)
	c.h.Reset()
}

// done closes the last, short chunk.
func (c *chunkHasher) done() {
	if c.n%c.size != 0 {
		c.flush()
	}
}

// errUploadsUnsupported: the peer predates resumable uploads.
var errUploadsUnsupported = errors.New("federation: the peer does not offer resumable uploads")

// uploadConflict is a 409 answer to a chunk: the peer holds offset bytes.
type uploadConflict struct{ offset int64 }

func (e *uploadConflict) Error() string {
	return fmt.Sprintf("peer expects the upload at offset %d", e.offset)
}

// uploadEvidence sends a spooled stream as a resumable upload: it asks
// the peer how much it holds, and sends the rest chunk by chunk. On a
// dropped connection it waits, asks again and goes on; it gives up after
// evidenceAttempts failures in a row without progress.
func (f *Federation) uploadEvidence(ctx context.Context, ps *peerState, file *os.File, size int64, sum [sha256.Size]byte, chunks *chunkHasher) ([]byte, error) {
	hexSum := hex.EncodeToString(sum[:])
	failures, conflicts := 0, 0
	off := int64(-1) // unknown: ask
	for {
		var err error
		if off < 0 {
			off, err = f.uploadStatus(ctx, ps, hexSum)
			if err == nil && off > size {
				off = 0 // cannot be this stream: start over (a 409 corrects it)
			}
		}
		var answer []byte
		if err == nil {
			n := min(chunks.size-off%chunks.size, size-off)
			var csum [sha256.Size]byte
			if i := off / chunks.size; off%chunks.size == 0 && i < int64(len(chunks.sums)) {
				csum = chunks.sums[i]
			} else if csum, err = hashSection(file, off, n); err != nil {
				return nil, err
			}
			var next int64
			answer, next, err = f.putChunk(ctx, ps, hexSum, file, off, n, size, csum)
			if err == nil {
				if answer != nil {
					return answer, nil
				}
				failures = 0 // a 202 always names more than off
				off = next
				continue
			}
		}
		var uc *uploadConflict
		if errors.As(err, &uc) && conflicts < 10 {
			conflicts++
			off = uc.offset
			continue
		}
		var pe *peerError
		if errors.As(err, &pe) || ctx.Err() != nil {
			return nil, err
		}
		if failures++; failures >= evidenceAttempts {
			return nil, err
		}
		f.log.Warn("evidence upload: connection failed, resuming", "peer", ps.cfg.Name, "offset", off, "attempt", failures, "err", err)
		if !retryWait(ctx, failures) {
			return nil, err
		}
		off = -1
	}
}

func hashSection(file *os.File, off, n int64) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(file, off, n)); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// uploadStatus asks a peer how much of stream hexSum it holds.
func (f *Federation) uploadStatus(ctx context.Context, ps *peerState, hexSum string) (int64, error) {
	resp, _, err := f.call(ctx, ps, http.MethodGet, wire.PathEvidenceUploads+hexSum, nil, nil, 64<<10)
	if err != nil {
		var pe *peerError
		if errors.As(err, &pe) && (pe.status == http.StatusNotFound || pe.status == http.StatusMethodNotAllowed) {
			return 0, errUploadsUnsupported
		}
		return 0, err
	}
	defer resp.Body.Close()
	var st wire.UploadStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	if st.Offset < 0 {
		return 0, fmt.Errorf("federation: peer reports upload offset %d", st.Offset)
	}
	return st.Offset, nil
}

// putChunk sends bytes [off, off+n) of the stream. It returns the peer's
// receipt when the chunk completed the stream, else the offset the peer
// now holds.
func (f *Federation) putChunk(ctx context.Context, ps *peerState, hexSum string, file *os.File, off, n, size int64, csum [sha256.Size]byte) ([]byte, int64, error) {
	query := url.Values{wire.UploadOffset: {strconv.FormatInt(off, 10)}, wire.UploadLength: {strconv.FormatInt(size, 10)}}
	var body io.Reader = http.NoBody
	if n > 0 {
		body = io.NopCloser(bufio.NewReaderSize(io.NewSectionReader(file, off, n), 1<<20))
	}
	resp, data, err := f.evidenceRequest(ctx, ps, http.MethodPut, wire.PathEvidenceUploads+hexSum, query, body, n, csum)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return data, size, nil
	case resp.StatusCode == http.StatusAccepted:
		var st wire.UploadStatus
		if err := json.Unmarshal(data, &st); err != nil || st.Offset != off+n {
			return nil, 0, fmt.Errorf("federation: bad upload status from peer: %q", data)
		}
		return nil, st.Offset, nil
	case resp.StatusCode == http.StatusConflict:
		if have, err := strconv.ParseInt(resp.Header.Get(wire.HeaderUploadOffset), 10, 64); err == nil && have >= 0 && have <= size {
			return nil, 0, &uploadConflict{offset: have}
		}
	}
	return nil, 0, peerErrorFrom(resp, data)
}
