package taxii

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
)

// negotiate answers 406 unless the Accept header accepts
// application/taxii+json (version 2.1 or no version), application/* or */*.
// No Accept header accepts anything (RFC 9110).
func (s *Server) negotiate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if accept := r.Header.Values("Accept"); len(accept) > 0 && !acceptable(strings.Join(accept, ",")) {
			s.fail(w, r, problem.NotAcceptable, http.StatusNotAcceptable,
				fmt.Sprintf("Accept %q does not accept %s", strings.Join(accept, ", "), MediaType))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func acceptable(header string) bool {
	for rng := range strings.SplitSeq(header, ",") {
		rng = strings.TrimSpace(rng)
		if rng == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(rng)
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
				continue
			}
		}
		switch mt {
		case "*/*", "application/*":
			return true
		case taxiiType:
			if v, ok := params["version"]; !ok || v == "2.1" {
				return true
			}
		}
	}
	return false
}

// taxiiContent reports whether a request Content-Type is TAXII 2.1.
func taxiiContent(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != taxiiType {
		return false
	}
	v, ok := params["version"]
	return !ok || v == "2.1"
}

// fail writes a problem with the TAXII error-message members added.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, typ string, status int, detail string) {
	s.writeProblem(w, r, problem.New(typ, status, detail))
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	// TAXII 2.1 error message: title (already an RFC 9457 member),
	// description and http_status (a string).
	p.With("description", p.Detail).With("http_status", strconv.Itoa(p.Status))
	if s.problems != nil {
		s.problems.Write(w, r, p)
		return
	}
	problem.Write(w, p)
}

// internal logs err and answers 503 (retrying is safe: imports are
// idempotent and reads have no effect).
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("taxii request failed", "err", err, "path", r.URL.Path, "request_id", api.RequestID(r.Context()))
	s.fail(w, r, problem.Unavailable, http.StatusServiceUnavailable,
		"the node could not complete the request; retry (request id "+api.RequestID(r.Context())+")")
}

// writeTAXII writes a TAXII resource.
func writeTAXII(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode response", http.StatusInternalServerError)
		return
	}
	writeRaw(w, code, b)
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", MediaType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// dateAddedHeaders sets X-TAXII-Date-Added-First and -Last (nothing for an
// empty page).
func dateAddedHeaders(w http.ResponseWriter, first, last time.Time) {
	if first.IsZero() {
		return
	}
	w.Header().Set("X-TAXII-Date-Added-First", formatAdded(first))
	w.Header().Set("X-TAXII-Date-Added-Last", formatAdded(last))
}

// formatAdded writes a date_added with the precision the node stores it
// (microseconds), so a client passing it back as added_after is exact.
func formatAdded(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// formatVersion writes an object version (its modified timestamp) as a STIX
// timestamp: milliseconds at least, more digits only when it has them.
func formatVersion(t time.Time) string {
	t = t.UTC()
	switch {
	case t.Nanosecond()%int(time.Millisecond) == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case t.Nanosecond()%int(time.Microsecond) == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000000Z")
}

// parseTimestamp reads a TAXII timestamp parameter (RFC 3339; STIX
// timestamps are a subset).
func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// envelopeWriter assembles a TAXII envelope from raw objects without
// re-encoding them: they are written exactly as stored.
type envelopeWriter struct {
	buf bytes.Buffer
	n   int
}

func (e *envelopeWriter) add(raw []byte) {
	if e.n == 0 {
		e.buf.WriteString(`,"objects":[`)
	} else {
		e.buf.WriteByte(',')
	}
	e.buf.Write(raw)
	e.n++
}

func (e *envelopeWriter) bytes(more bool, next string) []byte {
	var out bytes.Buffer
	out.Grow(e.buf.Len() + 64 + len(next))
	out.WriteString(`{"more":`)
	out.WriteString(strconv.FormatBool(more))
	if more && next != "" {
		nb, _ := json.Marshal(next)
		out.WriteString(`,"next":`)
		out.Write(nb)
	}
	out.Write(e.buf.Bytes())
	if e.n > 0 {
		out.WriteByte(']')
	}
	out.WriteByte('}')
	return out.Bytes()
}
