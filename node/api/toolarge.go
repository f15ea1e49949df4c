package api

import (
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
)

// tooLargeHooks are the callbacks OnTooLarge registers. The body limit runs
// before the route's handler (and, under a mounted subrouter, before the
// final route is even known), so the hooks keep their own routing table,
// matched against the request when the limit refuses it.
type tooLargeHooks struct {
	mu  sync.RWMutex
	mux *chi.Mux
	fns map[string][]func(*http.Request) // by method and pattern
}

// OnTooLarge registers fn to run when the node's body limit refuses a
// request for method and pattern (chi syntax, the full path as the route
// is served) because its declared Content-Length is over the limit. Such a
// request never reaches the route, so a component that counts refused
// input (kurier_indicators_rejected_total) learns of it only here. fn runs
// before the 413 is written, in the request's goroutine; it must not write
// to the response. A body that goes over the limit while being read
// reaches the handler as usual (http.MaxBytesError), not fn.
func (s *Server) OnTooLarge(method, pattern string, fn func(r *http.Request)) {
	h := &s.tooLarge
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mux == nil {
		h.mux = chi.NewRouter()
		h.fns = map[string][]func(*http.Request){}
	}
	key := method + " " + pattern
	if _, ok := h.fns[key]; !ok {
		// The handler is never run: the mux only matches.
		h.mux.Method(method, pattern, http.NotFoundHandler())
	}
	h.fns[key] = append(h.fns[key], fn)
}

// refused runs the hooks registered for r's route.
func (h *tooLargeHooks) refused(r *http.Request) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.mux == nil {
		return
	}
	pattern := h.mux.Find(chi.NewRouteContext(), r.Method, r.URL.Path)
	if pattern == "" {
		return
	}
	for _, fn := range h.fns[r.Method+" "+pattern] {
		fn(r)
	}
}
