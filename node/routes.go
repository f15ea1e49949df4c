package node

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/auth"
)

// Status is what `kurier status` shows.
type Status struct {
	Name        string    `json:"name"`
	Country     string    `json:"country,omitempty"`
	Version     string    `json:"version"`
	Fingerprint string    `json:"fingerprint"`
	KeyProfile  string    `json:"key_profile"`
	StoreDriver string    `json:"store_driver"`
	StoreOK     bool      `json:"store_ok"`
	StartedAt   time.Time `json:"started_at"`
	Uptime      string    `json:"uptime"`
	You         string    `json:"you"`
	Role        string    `json:"role"`
}

func (n *Node) mountRoutes() {
	n.API.Authenticated(func(r chi.Router) {
		r.Get("/api/v1/status", n.status)
		r.With(n.API.Require(auth.Operator)).Get("/api/v1/audit", n.auditLog)
	})
}

func (n *Node) status(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	st := Status{
		Name: n.Config.Node.Name, Country: n.Config.Node.Country, Version: n.version,
		Fingerprint: n.Identity.Fingerprint(), KeyProfile: string(n.Identity.Profile()),
		StoreDriver: n.Store.Driver(), StoreOK: n.Store.Ping(r.Context()) == nil,
		StartedAt: n.started.UTC(), Uptime: time.Since(n.started).Round(time.Second).String(),
		You: p.Name, Role: string(p.Role),
	}
	writeJSON(w, http.StatusOK, st)
}

// auditLog lists audit entries since ?since= (RFC 3339), at most ?limit=.
func (n *Node) auditLog(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			n.API.Problems().Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "since must be an RFC 3339 time, e.g. 2026-11-25T00:00:00Z").With("parameter", "since"))
			return
		}
		since = t
	}
	limit, p := api.QueryLimit(r.URL.Query(), "limit", 1000, 10000)
	if p != nil {
		n.API.Problems().Write(w, r, p)
		return
	}
	events := []any{}
	for e, err := range n.Audit.Events(r.Context(), since) {
		if err != nil {
			n.Log.Error("read audit log", "err", err)
			n.API.Problems().Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "audit log unreadable"))
			return
		}
		if e.Time.Before(since) {
			continue
		}
		events = append(events, e)
		if len(events) >= limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
