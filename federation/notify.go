package federation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/index"
)

// serveNotify answers POST /federation/v1/notify: the peer stored new
// versions; wake our pull of its feed. The notice carries nothing we
// trust beyond "look now".
func (f *Federation) serveNotify(w http.ResponseWriter, r *http.Request) {
	ps := peerFrom(r.Context())
	var n wire.Notice
	if p := api.DecodeJSON(r, &n); p != nil {
		f.opts.API.Problems().Write(w, r, p)
		return
	}
	if p := f.puller(ps.cfg.Name); p != nil {
		p.poke()
	}
	f.m.notices.WithLabelValues(ps.cfg.Name, "received", "ok").Inc()
	w.WriteHeader(http.StatusAccepted)
}

// notifier sends push notices to peers after local writes. Per peer, at
// most one notice is in flight; writes during it set a flag that sends
// one more afterwards, so a burst of writes costs a peer two requests,
// and a slow or dead peer holds one goroutine, never more.
type notifier struct {
	f *Federation

	mu    sync.Mutex
	state map[string]*noticeState
	wg    sync.WaitGroup
}

type noticeState struct {
	pending, inflight bool
}

func newNotifier(f *Federation) *notifier {
	return &notifier{f: f, state: map[string]*noticeState{}}
}

// observe is the indicator service's observer: it runs under the
// service's write lock, so it only flags peers and starts senders.
func (n *notifier) observe(entries []index.Entry) {
	n.f.mu.Lock()
	ctx := n.f.runCtx
	n.f.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	for _, ps := range n.f.set.Load().byName {
		if !ps.cfg.Paused && n.relevant(ps, entries) {
			n.kick(ctx, ps.cfg.Name)
		}
	}
}

// relevant: the peer may receive one of the versions, or one of them is a
// new version of an object (which may retract an earlier one).
func (n *notifier) relevant(ps *peerState, entries []index.Entry) bool {
	for _, e := range entries {
		if e.Modified.After(e.Created) {
			return true
		}
		if ps.cfg.Policy.Outbound(n.f.fpr, ps.fpr, objectOf(e)).Allow {
			return true
		}
	}
	return false
}

func (n *notifier) kick(ctx context.Context, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.state[name]
	if st == nil {
		st = &noticeState{}
		n.state[name] = st
	}
	st.pending = true
	if st.inflight {
		return
	}
	st.inflight = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			n.mu.Lock()
			if !st.pending || ctx.Err() != nil {
				st.inflight = false
				n.mu.Unlock()
				return
			}
			st.pending = false
			n.mu.Unlock()
			n.send(ctx, name)
		}
	}()
}

func (n *notifier) send(ctx context.Context, name string) {
	f := n.f
	ps := f.set.Load().byName[name]
	if ps == nil || ps.cfg.Paused {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, noticeTimeout)
	defer cancel()
	body, _ := json.Marshal(wire.Notice{Head: f.idx.LastAdded()})
	start := time.Now()
	resp, _, err := f.call(ctx, ps, http.MethodPost, wire.PathNotify, nil, body, 64<<10)
	result := "ok"
	if err != nil {
		result = "error"
		f.log.Debug("push notice failed", "peer", name, "err", err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	f.m.duration.WithLabelValues(name, "notify", result).Observe(time.Since(start).Seconds())
	f.m.notices.WithLabelValues(name, "sent", result).Inc()
}

func (n *notifier) wait() { n.wg.Wait() }
