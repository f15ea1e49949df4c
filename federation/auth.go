package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
)

// authenticate accepts a request only from a pinned peer whose key
// verifies its signature, dated within the clock skew, with a nonce not
// seen before. Every refusal is counted by reason; the requester is told
// only what it can fix (its clock, a repeated nonce), never which key or
// peer check failed.
func (f *Federation) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps, reason, err := f.verifyRequest(w, r)
		if f.refused(w, r, reason, err) {
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, ps)))
	})
}

// refused answers a request verifyRequest did not accept (reason or err
// set) and reports whether it did.
func (f *Federation) refused(w http.ResponseWriter, r *http.Request, reason string, err error) bool {
	if reason != "" {
		f.m.refusals.WithLabelValues(reason).Inc()
		f.log.Warn("federation request refused", "reason", reason, "node", r.Header.Get(wire.HeaderNode),
			"path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		detail := "request not accepted: unknown node or bad signature"
		switch reason {
		case RefusedClockSkew:
			detail = "request date outside the accepted clock skew; check the node's clock (NTP)"
		case RefusedReplay:
			detail = "request nonce already used"
		}
		f.opts.API.Problems().Write(w, r, problem.New(problem.Unauthorized, http.StatusUnauthorized, detail))
		return true
	}
	if err != nil {
		f.opts.API.Problems().Write(w, r, api400(err))
		return true
	}
	return false
}

type peerKey struct{}

func peerFrom(ctx context.Context) *peerState {
	ps, _ := ctx.Value(peerKey{}).(*peerState)
	return ps
}

func api400(err error) *problem.Problem {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return problem.New(problem.TooLarge, http.StatusRequestEntityTooLarge, "request body too large")
	}
	if errors.Is(err, api.ErrSlowBody) {
		return api.BodyProblem(err)
	}
	return problem.New(problem.BadRequest, http.StatusBadRequest, err.Error())
}

// verifyRequest returns the peer, or a refusal reason (with the internal
// error for the log), or a plain error for a malformed request.
func (f *Federation) verifyRequest(w http.ResponseWriter, r *http.Request) (*peerState, string, error) {
	return f.verifyRequestBody(r, func() ([sha256.Size]byte, error) {
		var body []byte
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxNoticeBody)
			var err error
			body, err = io.ReadAll(r.Body)
			if err != nil {
				return [sha256.Size]byte{}, err
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		return sha256.Sum256(body), nil
	})
}

// verifyRequestBody is verifyRequest with the body consumed by readBody,
// which returns its SHA-256 (a large body is spooled to disk). readBody is
// called only once the cheap checks passed (headers, date, known peer,
// fresh nonce), so an unknown node cannot make this node read its body.
func (f *Federation) verifyRequestBody(r *http.Request, readBody func() ([sha256.Size]byte, error)) (*peerState, string, error) {
	node := r.Header.Get(wire.HeaderNode)
	date := r.Header.Get(wire.HeaderDate)
	nonce := r.Header.Get(wire.HeaderNonce)
	sigB64 := r.Header.Get(wire.HeaderSignature)
	if node == "" || date == "" || nonce == "" || sigB64 == "" {
		return nil, RefusedBadSignature, errors.New("missing authentication headers")
	}
	if len(nonce) < 16 || len(nonce) > 128 {
		return nil, RefusedBadSignature, errors.New("nonce must be 16 to 128 characters")
	}
	t, err := time.Parse(time.RFC3339, date)
	if err != nil {
		return nil, RefusedBadSignature, errors.New("bad date header")
	}
	if d := f.now().Sub(t); d > f.opts.ClockSkew || d < -f.opts.ClockSkew {
		return nil, RefusedClockSkew, errors.New("date " + date + " outside skew")
	}
	// Nonces are remembered in memory: a request dated before this node
	// started could be one seen by the previous run, replayed.
	if t.Before(f.started.Add(-time.Second)) {
		return nil, RefusedReplay, errors.New("date " + date + " before this node started")
	}
	set := f.set.Load()
	ps, known := set.byFpr[node]
	if !known {
		return nil, RefusedUnknownNode, errors.New("node " + node + " is not a peer")
	}
	if f.nonces.seen(node, nonce) {
		return nil, RefusedReplay, errors.New("nonce seen")
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) > 4096 {
		return nil, RefusedBadSignature, errors.New("signature header is not base64 of a signature")
	}
	target, err := wire.Target(r.URL.EscapedPath(), r.URL.RawQuery)
	if err != nil {
		return nil, "", err
	}
	sum, err := readBody()
	if err != nil {
		return nil, "", err
	}
	msg := wire.SigningStringHashed(r.Method, target, f.fpr, date, nonce, sum)
	signer, err := set.verifier.VerifyDetached(bytes.NewReader(msg), bytes.NewReader(sig))
	if err != nil {
		return nil, RefusedBadSignature, err
	}
	if signer.Fingerprint != node {
		// A valid signature by another key we know: someone presents
		// another node's identity.
		return nil, RefusedImpersonation, errors.New("signed by " + signer.Fingerprint + " while claiming " + node)
	}
	if ps.cfg.Paused {
		return nil, RefusedPolicy, errors.New("peer " + ps.cfg.Name + " is paused")
	}
	if !f.nonces.add(node, nonce, t) {
		return nil, RefusedReplay, errors.New("nonce seen (concurrent)")
	}
	return ps, "", nil
}

// nonceCache remembers request nonces for the window in which their dates
// are accepted, so a captured request cannot be replayed. It is bounded:
// entries older than the window are pruned as new ones come in, and a
// node that sends more than maxPerNode requests per window is refused.
type nonceCache struct {
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	byNode    map[string]map[string]time.Time
	added     int
	pruneAt   int
	lastPrune time.Time
}

const maxNoncesPerNode = 200_000

func newNonceCache(window time.Duration) *nonceCache {
	return &nonceCache{window: window, now: time.Now, byNode: map[string]map[string]time.Time{}, pruneAt: 1024}
}

func (c *nonceCache) seen(node, nonce string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byNode[node][nonce]
	return ok
}

// add records a nonce; false if it was already there (or the node is over
// its bound).
func (c *nonceCache) add(node, nonce string, date time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byNode[node][nonce]; ok {
		return false
	}
	c.added++
	if c.added >= c.pruneAt || len(c.byNode[node]) >= maxNoncesPerNode || c.now().Sub(c.lastPrune) > c.window {
		c.prune()
		c.added = 0
	}
	m := c.byNode[node]
	if m == nil {
		m = map[string]time.Time{}
		c.byNode[node] = m
	}
	if len(m) >= maxNoncesPerNode {
		return false
	}
	// Keep it until the request date can no longer be accepted.
	m[nonce] = date.Add(c.window)
	return true
}

func (c *nonceCache) prune() {
	now := c.now()
	c.lastPrune = now
	for node, m := range c.byNode {
		for n, exp := range m {
			if now.After(exp) {
				delete(m, n)
			}
		}
		if len(m) == 0 {
			delete(c.byNode, node)
		}
	}
}
