package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
)

// TestMisbehavingPeer: a pinned peer answering garbage, oversized or
// endless bodies, stalling, trickling or failing costs a bounded amount of
// memory and goroutines; each pull fails with a reason, the peer shows
// down, and nothing is stored.
func TestMisbehavingPeer(t *testing.T) {
	// Tight limits so each case ends quickly.
	b := startNodeWith(t, "b", func(o *Options) {
		o.MaxBatchBytes = 2 << 20
		o.IdleTimeout = 300 * time.Millisecond
		o.RequestTimeout = 2 * time.Second
	})
	bKey, _ := b.n.Identity.PublicEntity()
	fp := newFakePeer(t)

	endless := func(w http.ResponseWriter, write func([]byte) error) {
		chunk := make([]byte, 32<<10)
		_, _ = rand.Read(chunk)
		for i := 0; i < 1<<16; i++ { // up to 2 GiB if nobody stops it
			if write(chunk) != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok && i%8 == 0 {
				f.Flush()
			}
		}
	}
	cases := []struct {
		name   string
		reason string
		serve  func(w http.ResponseWriter, r *http.Request)
	}{
		{"garbage", "bad_batch", func(w http.ResponseWriter, r *http.Request) {
			b := make([]byte, 4096)
			_, _ = rand.Read(b)
			_, _ = w.Write(b)
		}},
		{"plaintext JSON instead of a sealed batch", "bad_batch", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"header":{"protocol":"kurier-federation-v1"}}` + "\n"))
		}},
		{"endless random bytes", "", func(w http.ResponseWriter, r *http.Request) {
			endless(w, func(p []byte) error { _, err := w.Write(p); return err })
		}},
		{"endless but validly sealed batch", "oversized", func(w http.ResponseWriter, r *http.Request) {
			wc, err := fp.sealer.SealTo(w, bKey)
			if err != nil {
				return
			}
			var hdr bytes.Buffer
			_ = wire.NewEncoder(&hdr).Encode(wire.Line{Header: &wire.Header{Protocol: wire.Protocol, Server: fp.fpr(), Peer: b.fpr(), Nonce: r.Header.Get(wire.HeaderNonce)}})
			_, _ = wc.Write(hdr.Bytes())
			endless(w, func(p []byte) error { _, err := wc.Write(p); return err })
		}},
		{"says more forever without moving", "bad_batch", func(w http.ResponseWriter, r *http.Request) {
			var plain bytes.Buffer
			enc := wire.NewEncoder(&plain)
			_ = enc.Encode(wire.Line{Header: &wire.Header{Protocol: wire.Protocol, Server: fp.fpr(), Peer: b.fpr(), Nonce: r.Header.Get(wire.HeaderNonce)}})
			_ = enc.Encode(wire.Line{Trailer: &wire.Trailer{Next: r.URL.Query().Get("cursor"), More: true}})
			wc, _ := fp.sealer.SealTo(w, bKey)
			_, _ = wc.Write(plain.Bytes())
			_ = wc.Close()
		}},
		{"oversized error answer", "http_5xx", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			endless(w, func(p []byte) error { _, err := w.Write(p); return err })
		}},
		{"stalls after the headers", "stalled", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte{0xc1})
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
		{"trickles a byte at a time", "", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 200; i++ {
				if _, err := w.Write([]byte{0xc1}); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}},
		{"never answers", "", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
	}
	empty := func(w http.ResponseWriter, r *http.Request) { fp.batch(w, r, bKey, nil) }
	fp.serve(empty)
	fp.pin(b, "f", policy.Policy{MaxTLP: "green"})
	b.sync("f")
	runtime.GC()
	baseG := runtime.NumGoroutine()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp.serve(tc.serve)
			peak := watchHeap(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			start := time.Now()
			res, err := b.f.SyncNow(ctx, "f")
			cancel()
			if err != nil || res.Error == "" {
				t.Fatalf("pull succeeded: %v %+v", err, res)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %s", d)
			}
			if tc.reason != "" && failureReason(errorsOf(res)) != tc.reason {
				t.Errorf("failure %q classified %q, want %q", res.Error, failureReason(errorsOf(res)), tc.reason)
			}
			if grew := peak() - int64(base.HeapInuse); grew > 48<<20 {
				t.Errorf("heap grew by %d MiB", grew>>20)
			}
			if b.metric(`kurier_federation_peer_up{peer="f"}`) != 0 {
				t.Error("peer still shown up")
			}
			t.Logf("%s: %s", tc.name, res.Error)
		})
	}
	fp.serve(empty)
	b.sync("f")
	waitFor(t, "goroutines to settle", 10*time.Second, func() bool { return runtime.NumGoroutine() <= baseG+5 })
	if b.metric(`kurier_federation_peer_up{peer="f"}`) != 1 {
		t.Error("peer not up again after a good pull")
	}
}

func errorsOf(res SyncResult) error { return res.err }

// watchHeap samples the heap until the returned function is called, which
// reports the peak.
func watchHeap(t *testing.T) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if v := int64(m.HeapInuse); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

func TestWatchedBody(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWatchedBody(nopCloser{strings.NewReader(strings.Repeat("x", 100))}, 100, time.Second, cancel)
	buf := new(bytes.Buffer)
	if _, err := buf.ReadFrom(w); err != nil || buf.Len() != 100 {
		t.Fatalf("exact limit: %v %d", err, buf.Len())
	}
	w = newWatchedBody(nopCloser{strings.NewReader(strings.Repeat("x", 101))}, 100, time.Second, cancel)
	if _, err := new(bytes.Buffer).ReadFrom(w); err != errOversized {
		t.Fatalf("over the limit: %v", err)
	}
	_ = ctx
	_ = fmt.Sprint()
}

type nopCloser struct{ r *strings.Reader }

func (n nopCloser) Read(p []byte) (int, error) { return n.r.Read(p) }
func (n nopCloser) Close() error               { return nil }
