// Package api is the node's HTTP server: a chi router with request ids,
// panic recovery, structured access logs, problem+json errors, body limits,
// request timeouts, Prometheus metrics labelled by route pattern, bearer
// authentication with roles, and an audit trail of authenticated writes.
// Other parts (indicators, federation, evidence) mount their routes on it.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/audit"
	"github.com/kurier/kurier/node/auth"
)

// Authenticator checks bearer tokens (auth.Tokens in the node).
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (auth.Principal, error)
}

// Auditor appends audit events (audit.Log in the node).
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// Options are the server's dependencies and limits.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Ready reports whether the node can serve (object store reachable).
	Ready func(ctx context.Context) error
	Auth  Authenticator
	Audit Auditor
	// MaxBodyBytes limits request bodies (413 beyond it).
	MaxBodyBytes int64
	// RequestTimeout bounds each API request's context.
	RequestTimeout time.Duration
	// BodyTimeout bounds reading the body of a request on a normal
	// (non-streaming) route, from the moment its headers are read
	// (default: RequestTimeout). A context deadline cannot interrupt a
	// blocked read, so without it a client trickling a body holds a
	// goroutine and a connection for as long as it keeps trickling.
	BodyTimeout time.Duration
	// WriteTimeout bounds writing the response of a normal route, from
	// the start of the request (default: RequestTimeout plus 30 s), so a
	// client reading very slowly cannot hold the handler. Streaming
	// routes bound their responses by Stream instead.
	WriteTimeout time.Duration
	// Stream bounds the bodies, and the responses, of streaming routes by
	// progress instead (Streaming; defaults in DefaultStreamLimits).
	Stream StreamLimits
}

// StreamLimits bound the body of a streaming route, which may
// legitimately take hours: a client is cut off when it pauses for longer
// than Idle, or falls below MinRate bytes/s averaged since the request
// began (after a grace of Idle), so a trickle of a byte now and then
// cannot hold the connection. The response is bound the same way, by how
// fast the client reads it (streamWrites).
type StreamLimits struct {
	// MaxBody refuses larger bodies with 413 (0: no limit).
	MaxBody int64
	Idle    time.Duration
	MinRate int64
}

// DefaultStreamLimits: 30 s without a byte, or below 16 KiB/s on average
// (a 1 GiB package then may take up to 18 hours).
var DefaultStreamLimits = StreamLimits{Idle: 30 * time.Second, MinRate: 16 << 10}

func (l StreamLimits) withDefaults(d StreamLimits) StreamLimits {
	if l.Idle <= 0 {
		l.Idle = d.Idle
	}
	if l.MinRate <= 0 {
		l.MinRate = d.MinRate
	}
	return l
}

// Server is the node's router with its middleware.
type Server struct {
	opts     Options
	log      *slog.Logger
	router   chi.Router
	problems *problem.Writer
	m        *metrics
}

// New builds the router: public health and metrics endpoints, and an
// authenticated group for everything else.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil || opts.Gatherer == nil {
		return nil, errors.New("api: a prometheus registerer and gatherer are required")
	}
	if opts.Auth == nil || opts.Audit == nil {
		return nil, errors.New("api: an authenticator and an audit log are required")
	}
	if opts.Ready == nil {
		opts.Ready = func(context.Context) error { return nil }
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = time.Minute
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = opts.RequestTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = opts.RequestTimeout + writeMargin
	}
	opts.Stream = opts.Stream.withDefaults(DefaultStreamLimits)
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, m: m}
	s.problems = problem.NewWriter(func(p *problem.Problem) { m.problems.WithLabelValues(problemSlug(p.Type)).Inc() })

	r := chi.NewRouter()
	// The request id comes first, so everything after, the write
	// deadline's cut-off warning included, logs it.
	r.Use(requestID, s.writeDeadline, s.instrument, s.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.problems.Write(w, r, problem.New(problem.NotFound, http.StatusNotFound, "no such resource"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.problems.Write(w, r, problem.New(problem.MethodNotAllowed, http.StatusMethodNotAllowed, r.Method+" is not allowed here"))
	})
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	r.Get("/readyz", s.readyz)
	r.Handle("/metrics", promhttp.InstrumentMetricHandler(opts.Registerer, promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError),
	})))
	s.router = r
	return s, nil
}

// Handler is the whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.router }

// Problems is the writer every handler uses for errors, so problems are
// counted in one place.
func (s *Server) Problems() *problem.Writer { return s.problems }

// Public mounts routes that need no token (e.g. the federation identity
// document, or TAXII discovery when a component wants it public). Bodies
// are capped at MaxBodyBytes and must arrive within BodyTimeout.
func (s *Server) Public(fn func(r chi.Router)) {
	s.router.Group(func(r chi.Router) {
		r.Use(s.bodyDeadline, s.limitBody(s.opts.MaxBodyBytes))
		fn(r)
	})
}

// PublicStreaming mounts routes that need no bearer token and move large
// bodies (signed federation evidence transfers, which authenticate
// themselves). There is no request deadline; the body is bounded by l
// (zero fields: the server's Stream limits), by progress rather than by
// time.
func (s *Server) PublicStreaming(l StreamLimits, fn func(r chi.Router)) {
	l = l.withDefaults(s.opts.Stream)
	s.router.Group(func(r chi.Router) {
		r.Use(s.streamDeadline(l), s.limitBody(l.MaxBody))
		fn(r)
	})
}

// Authenticated mounts routes behind bearer authentication, the request
// timeout and the audit trail. Use Require inside for role checks. Bodies
// are capped at MaxBodyBytes and must arrive within BodyTimeout.
func (s *Server) Authenticated(fn func(r chi.Router)) {
	s.router.Group(func(r chi.Router) {
		r.Use(s.bodyDeadline, s.limitBody(s.opts.MaxBodyBytes), s.authenticate, s.timeout, s.audit)
		fn(r)
	})
}

// Streaming mounts authenticated routes that move large bodies (evidence
// items, exports) under the server's Stream limits instead of the node's
// body limit and request deadline, since a multi-GB stream legitimately
// takes long: the body is capped at Stream.MaxBody (0: none) and must keep
// arriving (idle pause, minimum rate).
func (s *Server) Streaming(fn func(r chi.Router)) {
	s.router.Group(func(r chi.Router) {
		r.Use(s.streamDeadline(s.opts.Stream), s.limitBody(s.opts.Stream.MaxBody), s.authenticate, s.audit)
		fn(r)
	})
}

// Require is middleware allowing only the given roles (admin always).
func (s *Server) Require(roles ...auth.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := auth.FromContext(r.Context())
			if !ok {
				s.m.authFailures.WithLabelValues("no_token").Inc()
				s.problems.Write(w, r, problem.New(problem.Unauthorized, http.StatusUnauthorized, "a bearer token is required"))
				return
			}
			if !p.Role.Allowed(roles...) {
				s.m.authFailures.WithLabelValues("forbidden").Inc()
				s.problems.Write(w, r, problem.New(problem.Forbidden, http.StatusForbidden,
					fmt.Sprintf("role %s may not do this (allowed: %v)", p.Role, roles)))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.opts.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		s.problems.Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "object store unreachable"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec) // the client went away; let net/http handle it
			}
			s.m.panics.Inc()
			s.log.Error("panic in handler", "panic", rec, "request_id", RequestID(r.Context()), "stack", string(debug.Stack()))
			s.problems.Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "internal error; request id "+RequestID(r.Context())))
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps bodies at max (0: no limit). A body over the limit fails
// its read with *http.MaxBytesError, which the route's handler answers
// (413) and counts as it counts every refused input; a body whose
// declared Content-Length is already over the limit fails on its first
// read, so none of it is read.
func (s *Server) limitBody(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if max > 0 && r.Body != nil && r.Body != http.NoBody {
				if r.ContentLength > max {
					r.Body = declaredTooLarge{ReadCloser: r.Body, limit: max}
				} else {
					r.Body = http.MaxBytesReader(w, r.Body, max)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// declaredTooLarge is a body whose declared length is over the limit: it
// fails at once, without waiting for a byte of it (net/http then closes the
// connection instead of draining an unread body that large).
type declaredTooLarge struct {
	io.ReadCloser
	limit int64
}

func (b declaredTooLarge) Read([]byte) (int, error) {
	return 0, &http.MaxBytesError{Limit: b.limit}
}

func (s *Server) timeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(ctx))
		// A handler that gave up on its deadline without answering gets a
		// 504 problem rather than an empty 200.
		if rec.code == 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.problems.Write(w, r, problem.New(problem.Timeout, http.StatusGatewayTimeout,
				fmt.Sprintf("the request took longer than %s", s.opts.RequestTimeout)))
		}
	})
}

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer := ""
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, cred, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "bearer") {
				s.m.authFailures.WithLabelValues("malformed").Inc()
				s.problems.Write(w, r, problem.New(problem.Unauthorized, http.StatusUnauthorized, "use an Authorization: Bearer token"))
				return
			}
			bearer = strings.TrimSpace(cred)
		}
		p, err := s.opts.Auth.Authenticate(r.Context(), bearer)
		if err != nil {
			reason := authReason(err)
			s.m.authFailures.WithLabelValues(reason).Inc()
			if reason == "error" {
				s.log.Error("authentication backend failed", "err", err, "request_id", RequestID(r.Context()))
				s.problems.Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "cannot check tokens right now"))
				return
			}
			detail := "a valid bearer token is required"
			if reason == "no_token" {
				detail = "a bearer token is required (create one with `kurier token create`)"
			}
			s.problems.Write(w, r, problem.New(problem.Unauthorized, http.StatusUnauthorized, detail))
			return
		}
		setPrincipal(r.Context(), p)
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

func authReason(err error) string {
	switch {
	case errors.Is(err, auth.ErrNoToken):
		return "no_token"
	case errors.Is(err, auth.ErrMalformed):
		return "malformed"
	case errors.Is(err, auth.ErrUnknownToken):
		return "unknown"
	case errors.Is(err, auth.ErrRevoked):
		return "revoked"
	default:
		return "error"
	}
}

// audit records authenticated writes, and reads a handler marked with
// audit.Mark (every read of evidence). It runs after the handler so the
// outcome is recorded too.
func (s *Server) audit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, marker := audit.WithMarker(r.Context())
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(ctx))
		write := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		if !write && !marker.Marked() {
			return
		}
		p, _ := auth.FromContext(r.Context())
		e := audit.Event{
			Time: time.Now(), Actor: p.Name, TokenID: p.TokenID, Role: string(p.Role),
			Action: r.Method + " " + r.URL.Path, Route: routePattern(r), Target: r.URL.RequestURI(),
			Status: rec.status(), Remote: remoteIP(r), RequestID: RequestID(r.Context()),
		}
		// The request's own context may be cancelled by now; the record must
		// still be written.
		actx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if err := s.opts.Audit.Record(actx, e); err != nil {
			s.m.auditFailures.Inc()
			s.log.Error("audit write failed", "err", err, "request_id", e.RequestID)
		}
	})
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// ErrSlowBody is returned by a request body that did not arrive in time
// (BodyTimeout, or a stream's idle or minimum-rate bound); BodyProblem
// maps it to 408. The connection is closed after the answer.
var ErrSlowBody = errors.New("request body arrived too slowly")

// bodyDeadline bounds reading the request body by BodyTimeout.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) {
			rc := http.NewResponseController(w)
			// A writer without deadlines (a test recorder) has no
			// connection to hold either.
			if rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, slow: s.m.slowBodies.WithLabelValues("request")}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// streamDeadline bounds reading the request body, and writing the
// response, by progress (l.Idle, l.MinRate).
func (s *Server) streamDeadline(l StreamLimits) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			streamWrites(r, l)
			if hasBody(r) {
				rc := http.NewResponseController(w)
				now := time.Now()
				// Set at once, not at the first read: a handler that refuses
				// the request unread leaves net/http discarding the body,
				// which must be bounded too.
				if rc.SetReadDeadline(now.Add(l.Idle)) == nil {
					r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, slow: s.m.slowBodies.WithLabelValues("stream"),
						stream: l, start: now, set: now.Add(l.Idle)}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func hasBody(r *http.Request) bool { return r.Body != nil && r.Body != http.NoBody }

// deadlineBody keeps the connection's read deadline while a body is read,
// moves it on with progress on streaming routes, and clears it at the end
// of the body: the bound is for the body only, never for a handler still
// at work once it has read it.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	slow prometheus.Counter
	// stream is zero for a fixed deadline (set by bodyDeadline).
	stream StreamLimits
	start  time.Time
	read   int64
	set    time.Time // the deadline in force
	ended  bool
	timed  bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.stream.Idle > 0 && !b.ended {
		now := time.Now()
		// Allowed: Idle without a byte, and Idle of grace plus the time
		// MinRate needs for what has arrived.
		byRate := b.start.Add(b.stream.Idle + time.Duration(float64(b.read)/float64(b.stream.MinRate)*float64(time.Second)))
		d := now.Add(b.stream.Idle)
		if byRate.Before(d) {
			d = byRate
		}
		// Moving the deadline on every small read costs a timer update
		// each; a tenth of Idle (at most a second) of slack is immaterial.
		if d.Before(b.set) || d.Sub(b.set) > min(b.stream.Idle/10, time.Second) {
			_ = b.rc.SetReadDeadline(d)
			b.set = d
		}
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if !b.ended {
			b.ended = true
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case isTimeout(err):
		if !b.timed {
			b.timed = true
			b.slow.Inc()
		}
		err = fmt.Errorf("%w: %w", ErrSlowBody, err)
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
