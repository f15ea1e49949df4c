package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kurier/kurier/node/auth"
)

// handlerEnd is how a handler writing a large answer ended.
type handlerEnd struct {
	route   string
	elapsed time.Duration
	err     error // of the write that failed
	ctxErr  error // of the request's context
}

// smallWindowDial connects with a 4 KiB receive buffer, so a client that
// does not read makes the server's writes block after a few KiB instead
// of after the kernel's autotuned megabytes.
func smallWindowDial(addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	return d.Dial("tcp", addr)
}

func settled() int {
	high := 0
	for range 10 {
		high = max(high, runtime.NumGoroutine())
		time.Sleep(20 * time.Millisecond)
	}
	return high
}

// TestSlowReadersCut: clients reading large answers at a byte per 100 ms
// from a real server on loopback are cut off — on normal routes at the
// write deadline, on streaming routes when the client stops taking what
// is written — the handlers' writes fail and their contexts end, each
// cut is counted, and every server goroutine is released while the
// clients still hold their connections. A streaming answer from a slow
// source and a fast download of the same large stream are not affected.
func TestSlowReadersCut(t *testing.T) {
	const (
		writeTimeout = 500 * time.Millisecond
		idle         = 300 * time.Millisecond
		size         = 16 << 20
	)
	reg := prometheus.NewRegistry()
	srv, err := New(Options{
		Registerer: reg, Gatherer: reg, Auth: fakeAuth{"tok": {Name: "ops", Role: auth.Admin}}, Audit: &fakeAudit{},
		RequestTimeout: 200 * time.Millisecond, WriteTimeout: writeTimeout, Stream: StreamLimits{Idle: idle, MinRate: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	ends := make(chan handlerEnd, 16)
	large := func(chunk int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			buf := bytes.Repeat([]byte("k"), chunk)
			var werr error
			for n := 0; n < size && werr == nil; n += chunk {
				_, werr = w.Write(buf)
			}
			ends <- handlerEnd{route: routePattern(r), elapsed: time.Since(start), err: werr, ctxErr: r.Context().Err()}
		}
	}
	srv.Public(func(r chi.Router) {
		r.Get("/page", large(32<<10))
		r.Get("/small", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "small") })
	})
	srv.Streaming(func(r chi.Router) {
		r.Get("/export", large(1<<20)) // larger than a streaming piece
		// 40 bytes every 100 ms for 1.2 s: slower than the minimum rate
		// and longer than the idle bound, by the source's doing.
		r.Get("/trickle", func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			for range 12 {
				time.Sleep(100 * time.Millisecond)
				if _, err := w.Write(bytes.Repeat([]byte("t"), 40)); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			}
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	addr := ln.Addr().String()

	base := settled()
	var conns []net.Conn
	for i := range 8 {
		c, err := smallWindowDial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		path := "/page"
		if i%2 == 1 {
			path = "/export"
		}
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Read a byte per 100 ms from each until every handler has ended.
	var got []handlerEnd
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(conns) && time.Now().Before(deadline) {
		for _, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			_, _ = c.Read(make([]byte, 1))
		}
		select {
		case e := <-ends:
			got = append(got, e)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(got) < len(conns) {
		t.Fatalf("%d of %d handlers ended while their clients read slowly", len(got), len(conns))
	}
	for _, e := range got {
		// The page's deadline runs from the start of the request; the
		// stream's once the client stops taking what is written.
		maxT := writeTimeout + time.Second
		if e.route == "/export" {
			maxT = idle + time.Second
		}
		if !isTimeout(e.err) || e.ctxErr == nil || e.elapsed > maxT {
			t.Errorf("%s: handler ended after %s (at most %s), write error %v, context %v", e.route, e.elapsed, maxT, e.err, e.ctxErr)
		}
	}
	// The clients still hold their connections; the server holds nothing.
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, baseline %d", runtime.NumGoroutine(), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for kind, want := range map[string]float64{"request": 4, "stream": 4} {
		if n := testutil.ToFloat64(srv.m.slowReads.WithLabelValues(kind)); n != want {
			t.Errorf("slow reads of kind %s: %v, want %v", kind, n, want)
		}
	}

	// A source slower than the minimum rate is not the client's fault.
	client := &http.Client{}
	get := func(path string) (int, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	if code, b, err := get("/trickle"); err != nil || code != http.StatusOK || len(b) != 480 {
		t.Errorf("slow source: %d, %d bytes, %v", code, len(b), err)
	}
	// A client reading at full speed gets the whole stream.
	if code, b, err := get("/export"); err != nil || code != http.StatusOK || len(b) != size {
		t.Errorf("fast download: %d, %d bytes, %v", code, len(b), err)
	}
	<-ends
}
