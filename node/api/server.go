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
	"log/slog"
	"net"
	"net/http"
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
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, m: m}
	s.problems = problem.NewWriter(func(p *problem.Problem) { m.problems.WithLabelValues(problemSlug(p.Type)).Inc() })

	r := chi.NewRouter()
	r.Use(requestID, s.instrument, s.recoverer)
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
// document, or TAXII discovery when a component wants it public).
func (s *Server) Public(fn func(r chi.Router)) {
	s.router.Group(func(r chi.Router) {
		r.Use(s.limitBody(s.opts.MaxBodyBytes))
		fn(r)
	})
}

// PublicStreaming mounts routes that need no bearer token and move large
// bodies (signed federation evidence transfers, which authenticate
// themselves): the body limit is maxBody (0: none) and there is no request
// deadline; the server's idle and header timeouts still bound a stalled
// client.
func (s *Server) PublicStreaming(maxBody int64, fn func(r chi.Router)) {
	s.router.Group(func(r chi.Router) {
		r.Use(s.limitBody(maxBody))
		fn(r)
	})
}

// Authenticated mounts routes behind bearer authentication, the request
// timeout and the audit trail. Use Require inside for role checks.
func (s *Server) Authenticated(fn func(r chi.Router)) {
	s.router.Group(func(r chi.Router) {
		r.Use(s.limitBody(s.opts.MaxBodyBytes), s.authenticate, s.timeout, s.audit)
		fn(r)
	})
}

// Streaming mounts authenticated routes that move large bodies (evidence
// items, exports): the body limit is maxBody (0: none) instead of the
// node's default, and there is no request deadline, since a multi-GB
// stream legitimately takes long; the server's idle and header timeouts
// still bound a stalled client.
func (s *Server) Streaming(maxBody int64, fn func(r chi.Router)) {
	s.router.Group(func(r chi.Router) {
		r.Use(s.limitBody(maxBody), s.authenticate, s.audit)
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

// limitBody refuses bodies over max (0: no limit) with 413.
func (s *Server) limitBody(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if max <= 0 {
				next.ServeHTTP(w, r)
				return
			}
			if r.ContentLength > max {
				s.problems.Write(w, r, problem.New(problem.TooLarge, http.StatusRequestEntityTooLarge,
					fmt.Sprintf("body of %d bytes exceeds the limit of %d bytes", r.ContentLength, max)))
				return
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
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
