package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writeMargin is how long a normal route may still take to write its
// answer after its request deadline (RequestTimeout): the default
// WriteTimeout is RequestTimeout plus this.
const writeMargin = 30 * time.Second

type deadlineWriterKey struct{}

// writeDeadline bounds writing every response, so that a client reading
// a large answer very slowly (or not at all) cannot hold the handler's
// goroutine and its buffers. Normal routes get one deadline from the
// start of the request (WriteTimeout); Streaming routes switch to a
// progress bound (streamWrites). It runs for every route, outside the
// groups, so answers of routes mounted outside them (metrics, health,
// not found) are bounded too. net/http clears the deadline after each
// request, so it never carries over to the next one on the connection.
func (s *Server) writeDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// A writer without deadlines (a test recorder) has no connection
		// to hold.
		if rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)) != nil {
			next.ServeHTTP(w, r)
			return
		}
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, m: s.m.slowReads}
		dw.report = func(kind string) {
			s.log.Warn("response cut off: the client reads too slowly", "kind", kind, "route", routePattern(r),
				"remote", remoteIP(r), "request_id", RequestID(r.Context()))
		}
		next.ServeHTTP(dw, r.WithContext(context.WithValue(r.Context(), deadlineWriterKey{}, dw)))
		if dw.stream.Idle > 0 {
			// net/http flushes what is buffered after the handler returns.
			_ = rc.SetWriteDeadline(time.Now().Add(dw.stream.Idle))
		}
	})
}

// streamWrites moves a streaming route's response to the progress bound
// of l: no deadline while the handler has nothing to write (it may work
// for long before its first byte), then each write must be taken by the
// client within l.Idle, and the client must read at l.MinRate on average
// over the time writes wait for it (after a grace of l.Idle). Time the
// handler spends producing is not counted: a slow source is not a slow
// reader.
func streamWrites(r *http.Request, l StreamLimits) {
	dw, ok := r.Context().Value(deadlineWriterKey{}).(*deadlineWriter)
	if !ok {
		return
	}
	dw.stream = l
	_ = dw.rc.SetWriteDeadline(time.Time{})
}

// deadlineWriter applies the write bounds and counts, once, a client that
// was too slow. (net/http itself ends the request's context when a write
// fails, so the handler stops producing.)
type deadlineWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	m      *prometheus.CounterVec
	report func(kind string)
	// stream is zero on normal routes (one deadline, set at the start).
	stream  StreamLimits
	written int64
	waited  time.Duration // time spent in writes on a streaming route
	timed   bool
}

// piece is the most a streaming write hands to the connection under one
// deadline: a client reading at the minimum rate takes it in half the
// idle bound, so a large write is not cut for its size.
func (w *deadlineWriter) piece() int {
	p := int(float64(w.stream.MinRate) * w.stream.Idle.Seconds() / 2)
	return max(p, 512)
}

// arm sets the deadline for the next write on a streaming route.
func (w *deadlineWriter) arm(now time.Time) {
	budget := w.stream.Idle + time.Duration(float64(w.written)/float64(w.stream.MinRate)*float64(time.Second)) - w.waited
	_ = w.rc.SetWriteDeadline(now.Add(min(w.stream.Idle, budget)))
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.stream.Idle <= 0 {
		n, err := w.ResponseWriter.Write(p)
		w.check(err)
		return n, err
	}
	total := 0
	// Cleared after the write: on HTTP/2 a deadline that passes while the
	// handler is producing would reset the stream.
	defer func() { _ = w.rc.SetWriteDeadline(time.Time{}) }()
	for len(p) > 0 {
		k := min(len(p), w.piece())
		start := time.Now()
		w.arm(start)
		n, err := w.ResponseWriter.Write(p[:k])
		w.waited += time.Since(start)
		w.written += int64(n)
		total += n
		if err != nil {
			w.check(err)
			return total, err
		}
		p = p[k:]
	}
	return total, nil
}

// FlushError flushes under the same bounds (http.ResponseController
// finds it before unwrapping).
func (w *deadlineWriter) FlushError() error {
	if w.stream.Idle > 0 {
		start := time.Now()
		w.arm(start)
		defer func() {
			w.waited += time.Since(start)
			_ = w.rc.SetWriteDeadline(time.Time{})
		}()
	}
	err := w.rc.Flush()
	w.check(err)
	return err
}

// Flush is for handlers that use http.Flusher.
func (w *deadlineWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the real writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *deadlineWriter) check(err error) {
	if err == nil || w.timed || !isTimeout(err) {
		return
	}
	w.timed = true
	kind := "request"
	if w.stream.Idle > 0 {
		kind = "stream"
	}
	w.m.WithLabelValues(kind).Inc()
	w.report(kind)
}
