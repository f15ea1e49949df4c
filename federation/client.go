package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kurier/kurier/federation/wire"
)

// newHTTPClient returns the client for requests to peers. Every phase has
// a timeout; the body is bounded and watched by the caller (readBounded).
func newHTTPClient(rt http.RoundTripper) *http.Client {
	if rt == nil {
		rt = &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:    10 * time.Second,
			ResponseHeaderTimeout:  60 * time.Second,
			ExpectContinueTimeout:  time.Second,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}
	}
	return &http.Client{
		Transport: rt,
		// A peer's answer is never a redirect: following one would send
		// our signed request elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Errors of outgoing requests, by kind (pull failure reasons).
var (
	errOversized = errors.New("federation: response larger than the limit")
	errStalled   = errors.New("federation: response stalled (slow sender)")
)

// peerError is an error answer from a peer.
type peerError struct {
	status int
	detail string
}

func (e *peerError) Error() string {
	return fmt.Sprintf("peer answered %d: %s", e.status, e.detail)
}

// peerErrorFrom is the error of a non-2xx answer whose body is data: the
// title and detail of its problem document, else the status line.
func peerErrorFrom(resp *http.Response, data []byte) *peerError {
	var p struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	detail := resp.Status
	if json.Unmarshal(data, &p) == nil && (p.Detail != "" || p.Title != "") {
		detail = strings.TrimSpace(p.Title + ": " + p.Detail)
	}
	return &peerError{status: resp.StatusCode, detail: detail}
}

// peerURL is the address of a federation endpoint of a peer.
func peerURL(ps *peerState, endpoint string, query url.Values) (string, error) {
	u, err := url.Parse(ps.cfg.URL)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimRight(u.Path, "/") + wire.BasePath + endpoint
	u.RawQuery = query.Encode()
	return u.String(), nil
}

// call sends a signed request to a peer. It returns the response with a
// body reader bounded to limit bytes and aborted when no byte arrives for
// the idle timeout; the caller closes it. A non-2xx answer is returned as
// *peerError. The nonce is what a batch must repeat.
func (f *Federation) call(ctx context.Context, ps *peerState, method, endpoint string, query url.Values, body []byte, limit int64) (*http.Response, string, error) {
	u, err := peerURL(ps, endpoint, query)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		cancel()
		return nil, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", wire.BatchMediaType+", application/json")
	nonce, err := wire.Sign(req, f.signer(), ps.fpr, body, f.now())
	if err != nil {
		cancel()
		return nil, "", err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		cancel()
		return nil, "", err
	}
	resp.Body = newWatchedBody(resp.Body, limit, f.opts.IdleTimeout, cancel)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, "", peerErrorFrom(resp, data)
	}
	return resp, nonce, nil
}

// watchedBody bounds a response body: at most limit bytes (more is
// errOversized), and no pause longer than idle (errStalled); either
// cancels the request so the connection is dropped.
type watchedBody struct {
	rc     io.ReadCloser
	left   int64
	idle   time.Duration
	cancel context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	stalled bool
}

func newWatchedBody(rc io.ReadCloser, limit int64, idle time.Duration, cancel context.CancelFunc) *watchedBody {
	w := &watchedBody{rc: rc, left: limit, cancel: cancel}
	w.timer = time.AfterFunc(idle, func() {
		w.mu.Lock()
		w.stalled = true
		w.mu.Unlock()
		cancel()
	})
	w.idle = idle
	return w
}

func (w *watchedBody) Read(p []byte) (int, error) {
	// Reading one byte past the limit tells an exact-limit body from an
	// oversized one.
	if int64(len(p)) > w.left+1 {
		p = p[:w.left+1]
	}
	n, err := w.rc.Read(p)
	if n > 0 {
		w.timer.Reset(w.idle)
	}
	w.left -= int64(n)
	if w.left < 0 {
		w.cancel()
		return 0, errOversized
	}
	if err != nil && err != io.EOF {
		w.mu.Lock()
		stalled := w.stalled
		w.mu.Unlock()
		if stalled {
			return n, errStalled
		}
	}
	return n, err
}

func (w *watchedBody) Close() error {
	w.timer.Stop()
	err := w.rc.Close()
	w.cancel()
	return err
}
