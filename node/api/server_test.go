package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/audit"
	"github.com/kurier/kurier/node/auth"
)

type fakeAuth map[string]auth.Principal

func (f fakeAuth) Authenticate(_ context.Context, bearer string) (auth.Principal, error) {
	if bearer == "" {
		return auth.Principal{}, auth.ErrNoToken
	}
	if bearer == "broken" {
		return auth.Principal{}, errors.New("store down")
	}
	p, ok := f[bearer]
	if !ok {
		return auth.Principal{}, auth.ErrUnknownToken
	}
	return p, nil
}

type fakeAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (f *fakeAudit) Record(_ context.Context, e audit.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return nil
}

func (f *fakeAudit) all() []audit.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]audit.Event(nil), f.events...)
}

type fixture struct {
	srv   *Server
	reg   *prometheus.Registry
	audit *fakeAudit
	ready error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), audit: &fakeAudit{}}
	srv, err := New(Options{
		Registerer: f.reg, Gatherer: f.reg,
		Auth: fakeAuth{
			"analyst-token": {TokenID: "a1", Name: "ana", Role: auth.Analyst},
			"admin-token":   {TokenID: "b2", Name: "root", Role: auth.Admin},
		},
		Audit:          f.audit,
		Ready:          func(context.Context) error { return f.ready },
		MaxBodyBytes:   1024,
		RequestTimeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Authenticated(func(r chi.Router) {
		r.Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(chi.URLParam(r, "id"))) })
		r.Get("/secret/{id}", func(w http.ResponseWriter, r *http.Request) { audit.Mark(r.Context()) })
		r.Post("/things", func(w http.ResponseWriter, r *http.Request) {
			var v map[string]any
			if p := DecodeJSON(r, &v); p != nil {
				srv.Problems().Write(w, r, p)
				return
			}
			w.WriteHeader(http.StatusCreated)
		})
		r.With(srv.Require(auth.Operator)).Delete("/things/{id}", func(w http.ResponseWriter, r *http.Request) {})
		r.Get("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	})
	srv.Streaming(func(r chi.Router) {
		r.Put("/big", func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				srv.Problems().Write(w, r, BodyProblem(err))
				return
			}
			_, _ = fmt.Fprint(w, n)
		})
	})
	f.srv = srv
	return f
}

func (f *fixture) do(method, path, token, body string, hdr ...string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		token       string
		body        string
		hdr         []string
		wantCode    int
		wantProblem string
	}{
		{"health is public", "GET", "/healthz", "", "", nil, 200, ""},
		{"unknown route", "GET", "/nope", "", "", nil, 404, problem.NotFound},
		{"method not allowed", "PUT", "/healthz", "", "", nil, 405, problem.MethodNotAllowed},
		{"no token", "GET", "/things/1", "", "", nil, 401, problem.Unauthorized},
		{"basic auth refused", "GET", "/things/1", "Basic YTpi", "", nil, 401, problem.Unauthorized},
		{"unknown token", "GET", "/things/1", "Bearer nope", "", nil, 401, problem.Unauthorized},
		{"auth backend down", "GET", "/things/1", "Bearer broken", "", nil, 503, problem.Unavailable},
		{"good token", "GET", "/things/1", "Bearer analyst-token", "", nil, 200, ""},
		{"scheme is case-insensitive", "GET", "/things/1", "bearer analyst-token", "", nil, 200, ""},
		{"role forbidden", "DELETE", "/things/1", "Bearer analyst-token", "", nil, 403, problem.Forbidden},
		{"admin allowed everywhere", "DELETE", "/things/1", "Bearer admin-token", "", nil, 200, ""},
		{"malformed json", "POST", "/things", "Bearer analyst-token", `{"a":`, nil, 400, problem.BadRequest},
		{"wrong media type", "POST", "/things", "Bearer analyst-token", `{}`, []string{"Content-Type", "text/plain"}, 415, problem.UnsupportedMedia},
		{"body too large", "POST", "/things", "Bearer analyst-token", `{"a":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, problem.TooLarge},
		{"good body", "POST", "/things", "Bearer analyst-token", `{"a":1}`, []string{"Content-Type", "application/json"}, 201, ""},
		{"deadline exceeded", "GET", "/slow", "Bearer analyst-token", "", nil, 504, problem.Timeout},
		{"streaming route takes large bodies", "PUT", "/big", "Bearer analyst-token", strings.Repeat("x", 5000), nil, 200, ""},
		{"streaming route needs a token", "PUT", "/big", "", "x", nil, 401, problem.Unauthorized},
		{"panic recovered", "GET", "/panic", "Bearer analyst-token", "", nil, 500, problem.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rec := f.do(tt.method, tt.path, tt.token, tt.body, tt.hdr...)
			if rec.Code != tt.wantCode {
				t.Fatalf("code = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if rec.Header().Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
			if tt.wantProblem == "" {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != problem.MediaType {
				t.Fatalf("content type %q, want %s", ct, problem.MediaType)
			}
			var p map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p["type"] != tt.wantProblem || int(p["status"].(float64)) != tt.wantCode || p["title"] == "" {
				t.Fatalf("problem = %v", p)
			}
			if strings.Contains(rec.Body.String(), "boom") || strings.Contains(rec.Body.String(), "store down") {
				t.Fatalf("internal detail leaked: %s", rec.Body)
			}
			if tt.wantCode == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestMetricsByRoutePattern(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"1", "2", "3"} {
		f.do("GET", "/things/"+id, "Bearer analyst-token", "")
	}
	f.do("GET", "/things/1", "", "")
	f.do("DELETE", "/things/1", "Bearer analyst-token", "")
	if got := testutil.ToFloat64(f.srv.m.requests.WithLabelValues("GET", "/things/{id}", "200")); got != 3 {
		t.Errorf("requests{route=/things/{id},code=200} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.srv.m.authFailures.WithLabelValues("no_token")); got != 1 {
		t.Errorf("auth failures no_token = %v", got)
	}
	if got := testutil.ToFloat64(f.srv.m.authFailures.WithLabelValues("forbidden")); got != 1 {
		t.Errorf("auth failures forbidden = %v", got)
	}
	if got := testutil.ToFloat64(f.srv.m.problems.WithLabelValues("forbidden")); got != 1 {
		t.Errorf("problems forbidden = %v", got)
	}
	rec := f.do("GET", "/metrics", "", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `kurier_http_requests_total{code="200",method="GET",route="/things/{id}"} 3`) {
		t.Fatalf("metrics page lacks route-labelled counter:\n%s", rec.Body)
	}
	// Labels must stay bounded: ids never become label values.
	if strings.Contains(rec.Body.String(), `route="/things/1"`) {
		t.Fatal("raw path used as label")
	}
}

func TestAuditTrail(t *testing.T) {
	f := newFixture(t)
	f.do("GET", "/things/1", "Bearer analyst-token", "")                           // read: not audited
	f.do("POST", "/things", "Bearer analyst-token", `{"a":1}`)                     // write: audited
	f.do("GET", "/secret/9", "Bearer admin-token", "")                             // marked read: audited
	f.do("POST", "/things", "", `{"a":1}`)                                         // unauthenticated: refused, nothing to audit
	f.do("POST", "/things", "Bearer analyst-token", `{`, "X-Request-ID", "req-42") // failed write: audited with status
	ev := f.audit.all()
	if len(ev) != 3 {
		t.Fatalf("got %d audit events, want 3: %+v", len(ev), ev)
	}
	if ev[0].Actor != "ana" || ev[0].Action != "POST /things" || ev[0].Status != 201 || ev[0].Remote == "" || ev[0].Route != "/things" {
		t.Errorf("write event = %+v", ev[0])
	}
	if ev[1].Actor != "root" || ev[1].Target != "/secret/9" || ev[1].Route != "/secret/{id}" {
		t.Errorf("marked read event = %+v", ev[1])
	}
	if ev[2].Status != 400 || ev[2].RequestID != "req-42" {
		t.Errorf("failed write event = %+v", ev[2])
	}
}

func TestReadyz(t *testing.T) {
	f := newFixture(t)
	if rec := f.do("GET", "/readyz", "", ""); rec.Code != 200 {
		t.Fatalf("ready: %d", rec.Code)
	}
	f.ready = errors.New("dial tcp 10.0.0.1:9000: connection refused")
	rec := f.do("GET", "/readyz", "", "")
	if rec.Code != 503 || strings.Contains(rec.Body.String(), "10.0.0.1") {
		t.Fatalf("not ready: %d %s", rec.Code, rec.Body)
	}
}

func TestRequestIDSanitised(t *testing.T) {
	f := newFixture(t)
	if got := f.do("GET", "/healthz", "", "", "X-Request-ID", "abc-123").Header().Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("kept id = %q", got)
	}
	if got := f.do("GET", "/healthz", "", "", "X-Request-ID", "evil\nlog line").Header().Get("X-Request-ID"); got == "evil\nlog line" || got == "" {
		t.Errorf("unsafe id not replaced: %q", got)
	}
}
