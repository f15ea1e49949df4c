package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/auth"
)

// sendDeclared sends a request that declares a Content-Length of n and
// then sends body (which may be shorter: a limit that judges the header
// does not wait for the body). It returns the status and the problem type.
func sendDeclared(t *testing.T, base, method, path, token string, n int64, body string) (int, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, path, u.Host, token, n, body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	typ := ""
	if resp.Header.Get("Content-Type") == problem.MediaType {
		var p struct{ Type string }
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("problem %s: %v", b, err)
		}
		typ = p.Type
	}
	return resp.StatusCode, typ
}

// TestOnTooLarge: a route's hook runs when the body limit refuses a
// declared Content-Length for that route (also under a mounted subrouter),
// and for no other route or request.
func TestOnTooLarge(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := New(Options{
		Registerer: reg, Gatherer: reg,
		Auth:  fakeAuth{"analyst-token": {TokenID: "a1", Name: "ana", Role: auth.Analyst}},
		Audit: &fakeAudit{}, MaxBodyBytes: 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	ran := map[string]int{}
	handler := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			ran[name]++
			mu.Unlock()
			_, _ = io.Copy(io.Discard, r.Body)
		}
	}
	srv.Authenticated(func(r chi.Router) {
		r.Post("/things/{id}", handler("things"))
		r.Post("/other", handler("other"))
		r.Route("/sub", func(r chi.Router) {
			r.Post("/items/{x}/", handler("items"))
		})
	})
	hook := func(name string) func(*http.Request) {
		return func(r *http.Request) {
			mu.Lock()
			calls[name+" "+r.URL.Path]++
			mu.Unlock()
		}
	}
	srv.OnTooLarge(http.MethodPost, "/things/{id}", hook("things"))
	srv.OnTooLarge(http.MethodPost, "/sub/items/{x}/", hook("items"))
	srv.OnTooLarge(http.MethodPost, "/sub/items/{x}/", hook("items-again"))
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	cases := []struct {
		path string
		n    int64
		body string
		code int
		want map[string]int // hook calls after this request, cumulative
	}{
		{"/things/7", 4096, "", 413, map[string]int{"things /things/7": 1}},
		{"/sub/items/a/", 1025, "", 413, map[string]int{"things /things/7": 1, "items /sub/items/a/": 1, "items-again /sub/items/a/": 1}},
		{"/other", 4096, "", 413, map[string]int{"things /things/7": 1, "items /sub/items/a/": 1, "items-again /sub/items/a/": 1}},
		{"/things/8", 2, "{}", 200, map[string]int{"things /things/7": 1, "items /sub/items/a/": 1, "items-again /sub/items/a/": 1}},
	}
	for _, c := range cases {
		code, typ := sendDeclared(t, ts.URL, http.MethodPost, c.path, "analyst-token", c.n, c.body)
		if code != c.code {
			t.Fatalf("POST %s (Content-Length %d): %d, want %d", c.path, c.n, code, c.code)
		}
		if code == 413 && typ != problem.TooLarge {
			t.Errorf("POST %s: problem type %q, want %q", c.path, typ, problem.TooLarge)
		}
		mu.Lock()
		if fmt.Sprint(calls) != fmt.Sprint(c.want) {
			t.Errorf("after POST %s: hook calls %v, want %v", c.path, calls, c.want)
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	// Refused requests never reached their handlers.
	if want := map[string]int{"things": 1}; fmt.Sprint(ran) != fmt.Sprint(want) {
		t.Errorf("handlers ran %v, want %v", ran, want)
	}
	if strings.Contains(fmt.Sprint(calls), "other") {
		t.Errorf("a route without a hook called one: %v", calls)
	}
}
