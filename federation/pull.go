package federation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/seal"
)

// puller pulls one peer's feed: periodically at the peer's interval, at
// once when a push notice arrives, on demand (`kurier sync now`), and
// after a failure with exponential backoff and jitter. One goroutine per
// peer, plus one fetching ahead while a batch is stored.
type puller struct {
	f    *Federation
	name string
	fpr  string

	wake   chan struct{}
	syncs  chan chan SyncResult
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	st PeerStatus
}

// PeerStatus is a peer's pull state, for `kurier peer status` and the
// operator API.
type PeerStatus struct {
	Name                string        `json:"name"`
	URL                 string        `json:"url"`
	Fingerprint         string        `json:"fingerprint"`
	PolicyVersion       int           `json:"policy_version"`
	Policy              policy.Policy `json:"policy"`
	Interval            string        `json:"interval"`
	Up                  bool          `json:"up"`
	Paused              bool          `json:"paused,omitempty"`
	LastAttempt         time.Time     `json:"last_attempt,omitzero"`
	LastSuccess         time.Time     `json:"last_success,omitzero"`
	LastError           string        `json:"last_error,omitempty"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	NextPull            time.Time     `json:"next_pull,omitzero"`
	LagObjects          int64         `json:"lag_objects"`
	LagSeconds          float64       `json:"lag_seconds"`
	Received            int64         `json:"received"`
	Rejected            int64         `json:"rejected"`
}

// SyncResult is the outcome of one pull (all the batches the peer had).
type SyncResult struct {
	Peer       string `json:"peer"`
	Batches    int    `json:"batches"`
	Records    int    `json:"records"`
	Stored     int    `json:"stored"`
	Duplicates int    `json:"duplicates"`
	Older      int    `json:"older"`
	Tombstones int    `json:"tombstones"`
	Conflicts  int    `json:"conflicts"`
	// Provenance counts held versions that arrived by a new path (or from
	// another origin with the same content): recorded, not stored again.
	Provenance int            `json:"provenance"`
	Rejected   map[string]int `json:"rejected"`
	CaughtUp   bool           `json:"caught_up"`
	Seconds    float64        `json:"seconds"`
	Error      string         `json:"error,omitempty"`
	err        error
}

func newPuller(f *Federation, ps *peerState) *puller {
	p := &puller{f: f, name: ps.cfg.Name, fpr: ps.fpr, wake: make(chan struct{}, 1), syncs: make(chan chan SyncResult)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// poke wakes the pull loop (a push notice); it never blocks.
func (p *puller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// syncNow runs a pull and waits for its result.
func (p *puller) syncNow(ctx context.Context) (SyncResult, error) {
	reply := make(chan SyncResult, 1)
	select {
	case p.syncs <- reply:
	case <-ctx.Done():
		return SyncResult{}, ctx.Err()
	case <-p.ctx.Done():
		return SyncResult{}, errors.New("federation: peer removed")
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return SyncResult{}, ctx.Err()
	}
}

func (p *puller) status() PeerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

func (p *puller) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	go func() {
		select {
		case <-p.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var reply chan SyncResult
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.wake:
		case reply = <-p.syncs:
		}
		res := p.pull(ctx)
		if reply != nil {
			reply <- res
		}
		if ctx.Err() != nil {
			return
		}
		ps := p.f.set.Load().byName[p.name]
		interval := peers.DefaultInterval
		if ps != nil {
			interval = ps.cfg.Interval.D()
		}
		delay := interval
		if res.err != nil && !errors.Is(res.err, errPaused) {
			failures++
			delay = backoff(failures, p.f.opts.MaxBackoff)
		} else {
			failures = 0
		}
		p.mu.Lock()
		p.st.ConsecutiveFailures = failures
		p.st.NextPull = p.f.now().Add(delay)
		p.mu.Unlock()
		p.f.m.consecutiveKO.WithLabelValues(p.name).Set(float64(failures))
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(delay)
	}
}

// backoff is the wait after n failures in a row: exponential from one
// second up to maxWait, jittered over its upper half so peers that failed
// together do not retry together.
func backoff(n int, maxWait time.Duration) time.Duration {
	d := time.Second << min(n-1, 20)
	if d > maxWait || d <= 0 {
		d = maxWait
	}
	return d/2 + rand.N(d/2+1)
}

// pull fetches and stores batches until the peer has nothing more. The
// next batch is fetched and verified while the previous one is stored;
// the cursor is saved only after its batch is stored.
func (p *puller) pull(ctx context.Context) (res SyncResult) {
	start := time.Now()
	res = SyncResult{Peer: p.name, Rejected: map[string]int{}}
	defer func() {
		res.Seconds = time.Since(start).Seconds()
		p.finish(&res)
	}()
	ps := p.f.set.Load().byName[p.name]
	if ps == nil || ps.fpr != p.fpr {
		res.err = errors.New("federation: peer removed")
		return res
	}
	if ps.cfg.Paused {
		res.err = errPaused
		return res
	}
	state, err := p.f.cursors.load(p.name, p.fpr)
	if err != nil {
		res.err = err
		return res
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		b   *verifiedBatch
		err error
	}
	ch := make(chan fetched, 1)
	go func() {
		defer close(ch)
		cursor := state.Cursor
		for {
			b, err := p.fetch(fctx, ps, cursor)
			if err == nil && b.trailer.More && b.trailer.Next == cursor {
				// "More" without moving on would make the pull endless.
				err = fmt.Errorf("%w: the feed says more but its cursor does not move", errBadBatch)
			}
			select {
			case ch <- fetched{b, err}:
			case <-fctx.Done():
				return
			}
			if err != nil || !b.trailer.More {
				return
			}
			cursor = b.trailer.Next
		}
	}()
	for fb := range ch {
		if fb.err != nil {
			res.err = fb.err
			break
		}
		b := fb.b
		bstart := time.Now()
		if err := p.f.storeBatch(ctx, ps, b, &res); err != nil {
			res.err = err
			break
		}
		state.Cursor = b.trailer.Next
		state.Position += int64(b.trailer.Advanced)
		state.Updated = p.f.now().UTC()
		if !b.trailer.More {
			state.Position = max(state.Position, b.header.Versions)
		}
		if err := p.f.cursors.save(state); err != nil {
			res.err = err
			break
		}
		p.f.m.batchSeconds.WithLabelValues(p.name).Observe(time.Since(bstart).Seconds())
		res.Batches++
		p.lag(b, state)
		if !b.trailer.More {
			res.CaughtUp = true
		}
	}
	cancel()
	for range ch { // let the fetcher end
	}
	return res
}

func (p *puller) lag(b *verifiedBatch, state pullState) {
	objs, secs := int64(0), 0.0
	if b.trailer.More {
		objs = max(b.header.Versions-state.Position, 1)
		if !b.header.Head.IsZero() && !b.trailer.Reached.IsZero() {
			secs = max(b.header.Head.Sub(b.trailer.Reached).Seconds(), 0)
		}
	}
	p.f.m.lagObjects.WithLabelValues(p.name).Set(float64(objs))
	p.f.m.lagSeconds.WithLabelValues(p.name).Set(secs)
	p.mu.Lock()
	p.st.LagObjects, p.st.LagSeconds = objs, secs
	p.mu.Unlock()
}

// finish records the outcome of a pull in the status and metrics.
func (p *puller) finish(res *SyncResult) {
	now := p.f.now()
	ps := p.f.set.Load().byName[p.name]
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps != nil {
		p.st.Name, p.st.URL, p.st.Fingerprint = ps.cfg.Name, ps.cfg.URL, ps.fpr
		p.st.PolicyVersion, p.st.Policy, p.st.Interval = ps.cfg.Version, ps.cfg.Policy, ps.cfg.Interval.D().String()
	}
	p.st.LastAttempt = now
	p.st.Received += int64(res.Stored + res.Duplicates + res.Older)
	for _, n := range res.Rejected {
		p.st.Rejected += int64(n)
	}
	if errors.Is(res.err, errPaused) {
		res.Error = res.err.Error()
		p.st.Up, p.st.Paused, p.st.LastError = false, true, res.Error
		p.f.m.up.WithLabelValues(p.name).Set(0)
		return
	}
	p.st.Paused = false
	if res.err != nil {
		res.Error = res.err.Error()
		p.st.Up, p.st.LastError = false, res.Error
		p.f.m.up.WithLabelValues(p.name).Set(0)
		p.f.m.pullFailures.WithLabelValues(p.name, failureReason(res.err)).Inc()
		if !errors.Is(res.err, context.Canceled) {
			p.f.log.Warn("pull failed", "peer", p.name, "err", res.err)
		}
		return
	}
	p.st.Up, p.st.LastError, p.st.LastSuccess = true, "", now
	p.f.m.up.WithLabelValues(p.name).Set(1)
	p.f.m.lastSuccess.WithLabelValues(p.name).Set(float64(now.Unix()))
	if res.Records > 0 {
		p.f.log.Info("pulled", "peer", p.name, "batches", res.Batches, "stored", res.Stored, "duplicates", res.Duplicates,
			"tombstones", res.Tombstones, "rejected", len(res.Rejected), "seconds", res.Seconds)
	}
}

// failureReason is a bounded label for a pull failure.
func failureReason(err error) string {
	var pe *peerError
	switch {
	case errors.As(err, &pe) && pe.status == 401:
		return "refused"
	case errors.As(err, &pe):
		return "http_" + strconv.Itoa(pe.status/100) + "xx"
	case errors.Is(err, errOversized):
		return "oversized"
	case errors.Is(err, errStalled):
		return "stalled"
	case errors.Is(err, errBadBatch), errors.Is(err, wire.ErrBadBatch), isSealError(err):
		return "bad_batch"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, errStore):
		return "store"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "unreachable"
	}
	return "other"
}

func isSealError(err error) bool {
	for _, k := range []error{seal.ErrTampered, seal.ErrNotForUs, seal.ErrNotEncrypted, seal.ErrNotSigned, seal.ErrUnknownSigner, seal.ErrBadSignature} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

var (
	errPaused   = errors.New("federation: peer paused (kurier peer update NAME --paused=false)")
	errBadBatch = errors.New("federation: bad batch")
	errStore    = errors.New("federation: store")
)

func wrapStore(err error) error { return fmt.Errorf("%w: %w", errStore, err) }
