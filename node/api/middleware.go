package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kurier/kurier/node/auth"
)

type requestIDKey struct{}

// RequestID returns the request's id (from X-Request-ID or generated).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// validRequestID accepts a caller's id only if it cannot pollute logs.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// principalSlot lets the access log, which runs outside the authenticated
// group, learn who made the request.
type principalSlot struct {
	mu sync.Mutex
	p  auth.Principal
}

type principalSlotKey struct{}

func setPrincipal(ctx context.Context, p auth.Principal) {
	if s, ok := ctx.Value(principalSlotKey{}).(*principalSlot); ok {
		s.mu.Lock()
		s.p = p
		s.mu.Unlock()
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the real writer (flush,
// deadlines for long streams).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes streaming flushes through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// instrument wraps every handler (inside the request id and the write
// deadline): metrics by route pattern and the structured access log.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.m.inFlight.Inc()
		defer s.m.inFlight.Dec()
		slot := &principalSlot{}
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), principalSlotKey{}, slot))
		defer func() {
			route := routePattern(r)
			code := rec.status()
			elapsed := time.Since(start)
			s.m.requests.WithLabelValues(r.Method, route, strconv.Itoa(code)).Inc()
			s.m.duration.WithLabelValues(r.Method, route).Observe(elapsed.Seconds())
			slot.mu.Lock()
			actor := slot.p.Name
			slot.mu.Unlock()
			level := slog.LevelInfo
			if code >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", code), slog.Int64("bytes", rec.bytes), slog.Duration("duration", elapsed),
				slog.String("remote", remoteIP(r)), slog.String("request_id", RequestID(r.Context())),
				slog.String("actor", actor))
		}()
		next.ServeHTTP(rec, r)
	})
}

func problemSlug(typ string) string {
	if i := strings.LastIndexByte(typ, '/'); i >= 0 {
		return typ[i+1:]
	}
	return typ
}
