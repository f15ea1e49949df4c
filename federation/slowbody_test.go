package federation

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/config"
)

// slowOutcome is what a trickling client saw.
type slowOutcome struct {
	status string        // the response's status line ("" if none came)
	closed time.Duration // from the end of the request head to the server closing
	sent   int           // body bytes the client got out
}

// trickle sends head (a request line and headers) over a raw connection,
// then burst at once, then one byte of filler every `every` until the
// server closes the connection (or 30 s pass). It reports the answer and
// when the connection closed.
func trickle(addr, head string, burst []byte, every time.Duration) slowOutcome {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return slowOutcome{status: "dial: " + err.Error()}
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		return slowOutcome{status: "write head: " + err.Error()}
	}
	start := time.Now()
	var out slowOutcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var sent int
	go func() {
		defer wg.Done()
		if len(burst) > 0 {
			n, err := conn.Write(burst)
			sent += n
			if err != nil {
				return
			}
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte{'x'}); err != nil {
					return
				}
				sent++
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	line, _ := br.ReadString('\n')
	out.status = strings.TrimSpace(line)
	_, _ = io.Copy(io.Discard, br) // to EOF (or a reset): the server closed
	out.closed = time.Since(start)
	close(stop)
	_ = conn.Close()
	wg.Wait()
	out.sent = sent
	return out
}

// signedHead is the head of a signed federation request from `from` to
// `to` for a body of the given bytes.
func signedHead(t *testing.T, from, to *testNode, method, path string, body []byte, extra ...string) string {
	t.Helper()
	req, err := http.NewRequest(method, to.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.SignHashed(req, from.n.Sealer, to.fpr(), sha256.Sum256(body), time.Now()); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, req.URL.RequestURI(), req.URL.Host, len(body))
	for _, k := range []string{wire.HeaderNode, wire.HeaderDate, wire.HeaderNonce, wire.HeaderSignature} {
		fmt.Fprintf(&b, "%s: %s\r\n", k, req.Header.Get(k))
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// settledGoroutines samples the goroutine count for a while and returns
// the highest value (background loops come and go).
func settledGoroutines() int {
	high := 0
	for range 10 {
		high = max(high, runtime.NumGoroutine())
		time.Sleep(30 * time.Millisecond)
	}
	return high
}

// TestSlowBodiesCut: clients trickling request bodies at a real node on
// loopback are cut off at the route's bound — a fixed deadline for the
// notify and API routes, an idle pause and a minimum rate for the evidence
// streams — answered 408, disconnected, and every goroutine they held is
// released. An oversized upload chunk is refused.
func TestSlowBodiesCut(t *testing.T) {
	const bodyTimeout = time.Second
	a := startNodeWith(t, "a", func(o *Options) {
		o.EvidenceIdleTimeout = time.Second
		o.EvidenceMinRate = 1000 // bytes/s
	}, func(c *config.Config) { c.HTTP.RequestTimeout = config.Duration(bodyTimeout) })
	b := startNode(t, "b")
	a.peer(b, policy.Policy{MaxTLP: "green"})
	a.f.SetEvidenceReceiver(refusingReceiver{})
	addr := strings.TrimPrefix(a.url, "http://")

	notify := bytes.Repeat([]byte("x"), 200)
	evidence := bytes.Repeat([]byte("x"), 4000)
	sum := sha256.Sum256(evidence)
	uploadPath := wire.BasePath + wire.PathEvidenceUploads + hex.EncodeToString(sum[:]) +
		"?" + url.Values{wire.UploadOffset: {"0"}, wire.UploadLength: {fmt.Sprint(len(evidence))}}.Encode()

	type client struct {
		name       string
		head       string
		burst      []byte
		every      time.Duration
		minT, maxT time.Duration // when the server must have closed
	}
	var clients []client
	for i := range 5 {
		clients = append(clients,
			// Fixed deadline: the body of 200 bytes would take 20 s.
			client{name: fmt.Sprint("notify-", i), head: signedHead(t, b, a, http.MethodPost, wire.BasePath+wire.PathNotify, notify, "Content-Type: application/json"),
				every: 100 * time.Millisecond, minT: bodyTimeout - 100*time.Millisecond, maxT: bodyTimeout + 2*time.Second},
			client{name: fmt.Sprint("api-", i), head: fmt.Sprintf("POST /api/v1/indicators HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n", addr, a.token),
				burst: []byte(`{"value":"`), every: 100 * time.Millisecond, minT: bodyTimeout - 100*time.Millisecond, maxT: bodyTimeout + 2*time.Second},
			// Minimum rate: a byte every 100 ms never pauses for the idle
			// second, but 10 bytes/s is far below 1000: cut after the grace
			// (1 s) plus what it sent at 1000 bytes/s.
			client{name: fmt.Sprint("upload-", i), head: signedHead(t, b, a, http.MethodPut, uploadPath, evidence, "Content-Type: "+wire.EvidenceMediaType),
				every: 100 * time.Millisecond, minT: 900 * time.Millisecond, maxT: 3 * time.Second},
			// Idle: 2000 bytes at once earn 2 s at the minimum rate, then
			// nothing: cut one idle second after the burst.
			client{name: fmt.Sprint("post-", i), head: signedHead(t, b, a, http.MethodPost, wire.BasePath+wire.PathEvidence, evidence, "Content-Type: "+wire.EvidenceMediaType),
				burst: evidence[:2000], every: time.Hour, minT: 900 * time.Millisecond, maxT: 3 * time.Second},
		)
	}

	base := settledGoroutines()
	outcomes := make([]slowOutcome, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i] = trickle(addr, c.head, c.burst, c.every)
		}()
	}
	// While they trickle, the server holds a goroutine per connection.
	time.Sleep(500 * time.Millisecond)
	if held := runtime.NumGoroutine(); held < base+len(clients) {
		t.Errorf("while %d clients trickle: %d goroutines, baseline %d", len(clients), held, base)
	}
	wg.Wait()
	for i, c := range clients {
		o := outcomes[i]
		if !strings.HasPrefix(o.status, "HTTP/1.1 408") {
			t.Errorf("%s: answer %q, want 408", c.name, o.status)
		}
		if o.closed < c.minT || o.closed > c.maxT {
			t.Errorf("%s: server closed after %s, want between %s and %s (sent %d bytes)", c.name, o.closed, c.minT, c.maxT, o.sent)
		}
	}
	waitFor(t, "goroutines back to the baseline", 10*time.Second, func() bool { return runtime.NumGoroutine() <= base })
	if got := a.metric(`kurier_http_slow_bodies_total{kind="request"}`); got != 10 {
		t.Errorf("slow request bodies counted: %v, want 10", got)
	}
	if got := a.metric(`kurier_http_slow_bodies_total{kind="stream"}`); got != 10 {
		t.Errorf("slow stream bodies counted: %v, want 10", got)
	}
	if got := a.metric(`kurier_http_problems_total{type="timeout"}`); got != 20 {
		t.Errorf("timeout problems counted: %v, want 20", got)
	}

	// The node still serves: a notice sent at normal speed is accepted.
	req, err := http.NewRequest(http.MethodPost, a.url+wire.BasePath+wire.PathNotify, bytes.NewReader([]byte(`{"head":"2026-01-01T00:00:00Z"}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if _, err := wire.Sign(req, b.n.Sealer, a.fpr(), []byte(`{"head":"2026-01-01T00:00:00Z"}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := send(t, req); code/100 != 2 {
		t.Errorf("notice at normal speed: %d", code)
	}

	// An upload chunk above the chunk bound is refused: declared, at once;
	// chunked, once the bound is read (its signature cannot be checked
	// before).
	big := int64(maxEvidenceChunk + 1)
	bigPath := wire.BasePath + wire.PathEvidenceUploads + hex.EncodeToString(sum[:]) +
		"?" + url.Values{wire.UploadOffset: {"0"}, wire.UploadLength: {fmt.Sprint(big)}}.Encode()
	for _, declared := range []bool{true, false} {
		body := io.LimitReader(zeros{}, big)
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, a.url+bigPath, body)
		if err != nil {
			t.Fatal(err)
		}
		if declared {
			req.ContentLength = big
		} else {
			req.ContentLength = -1 // chunked
		}
		if _, err := wire.SignHashed(req, b.n.Sealer, a.fpr(), sha256.Sum256(nil), time.Now()); err != nil {
			t.Fatal(err)
		}
		if code := send(t, req); code != http.StatusRequestEntityTooLarge {
			t.Errorf("chunk of %d bytes (declared %v): %d, want 413", big, declared, code)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// refusingReceiver is an evidence service that must not be reached: the
// transfers in these tests never complete.
type refusingReceiver struct{}

func (refusingReceiver) ReceiveEvidence(context.Context, string, io.Reader) ([]byte, error) {
	return nil, fmt.Errorf("test: no transfer should complete")
}
