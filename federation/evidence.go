package federation

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

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
// MaxEvidenceBytes) and no deadline.
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
		h := sha256.New()
		bw := bufio.NewWriterSize(io.MultiWriter(sp, h), 1<<20)
		if r.Body != nil {
			if _, err := io.Copy(bw, r.Body); err != nil {
				return sum, err
			}
		}
		if err := bw.Flush(); err != nil {
			return sum, err
		}
		copy(sum[:], h.Sum(nil))
		return sum, nil
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
	// The stream is complete on disk: finish storing it even if the peer
	// goes away now; a retry then meets the package as already received.
	answer, err := recv.ReceiveEvidence(context.WithoutCancel(r.Context()), ps.fpr, bufio.NewReaderSize(sp, 1<<20))
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
// fingerprint; it is spooled to a temporary file while hashed, then posted
// signed (re-signed and posted again, up to three times, if the connection
// drops). It returns the peer's answer: its signed receipt (JSON). A
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
	bw := bufio.NewWriterSize(io.MultiWriter(sp, h), 1<<20)
	if err := write(ps.fpr, bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("federation: spool evidence transfer: %w", err)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	size, err := sp.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		answer, err := f.postEvidence(ctx, ps, sp.File, size, sum)
		var pe *peerError
		if err == nil || errors.As(err, &pe) || ctx.Err() != nil || attempt == evidenceAttempts {
			return answer, err
		}
		f.log.Warn("evidence transfer: connection failed, retrying", "peer", ps.cfg.Name, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}

func (f *Federation) postEvidence(ctx context.Context, ps *peerState, file *os.File, size int64, sum [sha256.Size]byte) ([]byte, error) {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	u, err := url.Parse(ps.cfg.URL)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/") + wire.BasePath + wire.PathEvidence
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), io.NopCloser(bufio.NewReaderSize(file, 1<<20)))
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", wire.EvidenceMediaType)
	req.Header.Set("Accept", "application/json")
	if _, err := wire.SignHashed(req, f.signer(), ps.fpr, sum, f.now()); err != nil {
		return nil, err
	}
	resp, err := f.evHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var p struct {
			Detail string `json:"detail"`
			Title  string `json:"title"`
		}
		detail := resp.Status
		if json.Unmarshal(data, &p) == nil && (p.Detail != "" || p.Title != "") {
			detail = strings.TrimSpace(p.Title + ": " + p.Detail)
		}
		return nil, &peerError{status: resp.StatusCode, detail: detail}
	}
	return data, nil
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
