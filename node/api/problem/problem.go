// Package problem writes RFC 9457 problem details (application/problem+json)
// with stable type URIs, so clients can branch on Type and never need to
// parse messages. What is logged (internal detail) and what the client sees
// (Detail) are kept apart: internal errors never reach a peer.
package problem

import (
	"encoding/json"
	"net/http"
)

// MediaType is the RFC 9457 media type.
const MediaType = "application/problem+json"

// TypeBase prefixes every problem type; docs/problems.md documents each.
const TypeBase = "https://kurier.dev/problems/"

// Stable problem types. Never rename one: clients match on them.
const (
	BadRequest       = TypeBase + "bad-request"
	Unauthorized     = TypeBase + "unauthorized"
	Forbidden        = TypeBase + "forbidden"
	NotFound         = TypeBase + "not-found"
	MethodNotAllowed = TypeBase + "method-not-allowed"
	NotAcceptable    = TypeBase + "not-acceptable"
	Conflict         = TypeBase + "conflict"
	TooLarge         = TypeBase + "payload-too-large"
	UnsupportedMedia = TypeBase + "unsupported-media-type"
	Validation       = TypeBase + "validation-failed"
	NotOrigin        = TypeBase + "not-origin"
	NotCreator       = TypeBase + "not-creator"
	Unavailable      = TypeBase + "unavailable"
	Timeout          = TypeBase + "timeout"
	Internal         = TypeBase + "internal"
)

// Problem is an RFC 9457 problem details object. Extension members go in
// Extra and are merged into the top level when encoded.
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Extra    map[string]any `json:"-"`
}

// New makes a problem with the title that goes with its type.
func New(typ string, status int, detail string) *Problem {
	return &Problem{Type: typ, Title: titles[typ], Status: status, Detail: detail}
}

// With adds an extension member (e.g. "object", "property", "errors").
func (p *Problem) With(key string, v any) *Problem {
	if p.Extra == nil {
		p.Extra = map[string]any{}
	}
	p.Extra[key] = v
	return p
}

// Error lets a Problem travel as an error inside the node.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Title + ": " + p.Detail
	}
	return p.Title
}

// MarshalJSON merges extension members into the object.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Extra)+5)
	for k, v := range p.Extra {
		m[k] = v
	}
	m["type"] = p.Type
	m["title"] = p.Title
	m["status"] = p.Status
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	if p.Instance != "" {
		m["instance"] = p.Instance
	}
	return json.Marshal(m)
}

var titles = map[string]string{
	BadRequest:       "Bad request",
	Unauthorized:     "Authentication required",
	Forbidden:        "Not allowed for this role",
	NotFound:         "Not found",
	MethodNotAllowed: "Method not allowed",
	NotAcceptable:    "Not acceptable",
	Conflict:         "Conflict",
	TooLarge:         "Request body too large",
	UnsupportedMedia: "Unsupported media type",
	Validation:       "Validation failed",
	NotOrigin:        "Only the origin node may version this object",
	NotCreator:       "Only the object's creator may version it",
	Unavailable:      "Service unavailable",
	Timeout:          "Request timed out",
	Internal:         "Internal error",
}

// Observer is told of every problem written (for metrics); nil is fine.
type Observer func(p *Problem)

// Writer writes problems and reports them to an observer.
type Writer struct {
	observe Observer
}

// NewWriter returns a Writer reporting to observe (may be nil).
func NewWriter(observe Observer) *Writer { return &Writer{observe: observe} }

// Write sends p as the response. The request path becomes the instance when
// none is set.
func (w *Writer) Write(rw http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	if w != nil && w.observe != nil {
		w.observe(p)
	}
	Write(rw, p)
}

// Write sends p without observing it.
func Write(rw http.ResponseWriter, p *Problem) {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"` + Internal + `","title":"Internal error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	if p.Status == http.StatusUnauthorized {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="kurier"`)
	}
	rw.Header().Set("Content-Type", MediaType)
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(p.Status)
	_, _ = rw.Write(append(body, '\n'))
}
