package api

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// TestBodyDeadlineOnlyBoundsTheBody: a body read in full in time
// releases its bound, so a handler that then works longer than the bound
// keeps its context and its connection, and answers; a stream arriving at
// a steady rate above the minimum is never cut, however long it takes.
func TestBodyDeadlineOnlyBoundsTheBody(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := New(Options{
		Registerer: reg, Gatherer: reg, Auth: fakeAuth{}, Audit: &fakeAudit{},
		BodyTimeout: 200 * time.Millisecond, Stream: StreamLimits{Idle: 300 * time.Millisecond, MinRate: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	work := func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			srv.Problems().Write(w, r, BodyProblem(err))
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "context cancelled after the body: "+r.Context().Err().Error(), http.StatusInternalServerError)
		case <-time.After(time.Second):
			_, _ = io.WriteString(w, strings.Repeat("k", int(n)))
		}
	}
	srv.Public(func(r chi.Router) { r.Post("/work", work) })
	srv.PublicStreaming(StreamLimits{}, func(r chi.Router) { r.Post("/stream", work) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Shutdown(context.Background()) })
	base := "http://" + ln.Addr().String()

	resp, err := http.Post(base+"/work", "text/plain", bytes.NewReader([]byte("abc")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "kkk" {
		t.Errorf("fixed deadline: %d %q", resp.StatusCode, b)
	}

	// 2000 bytes at 100 bytes per 50 ms (2000 bytes/s) for a second: well
	// past the idle bound in total, but never idle and above the rate.
	pr, pw := io.Pipe()
	go func() {
		for range 20 {
			time.Sleep(50 * time.Millisecond)
			if _, err := pw.Write(bytes.Repeat([]byte("s"), 100)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, err = http.Post(base+"/stream", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(b) != 2000 {
		t.Errorf("steady stream: %d %q", resp.StatusCode, b)
	}
}
