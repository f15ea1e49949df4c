package indicator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/stix"
)

// Problem types specific to indicators.
const (
	ProblemNotOrigin  = problem.NotOrigin
	ProblemNotCreator = problem.NotCreator
)

// VisibleTLPs is what a token may read on this node: analysts (and admin)
// every level up to AMBER+STRICT, and TLP:RED only if the token names its
// holder a recipient of RED (TLP 2.0: RED is for named recipients only);
// other roles only what may be shared widely.
func VisibleTLPs(p auth.Principal) []string {
	if !p.Role.Allowed(auth.Analyst) {
		return []string{"clear", "green"}
	}
	if p.TLPRed {
		return []string{"clear", "green", "amber", "amber+strict", "red"}
	}
	return []string{"clear", "green", "amber", "amber+strict"}
}

// Handlers serves /api/v1 for indicators.
type Handlers struct {
	svc *Service
	api *api.Server
}

// Mount adds the indicator routes to the node's API.
func (s *Service) Mount(a *api.Server) {
	h := &Handlers{svc: s, api: a}
	a.Authenticated(func(r chi.Router) {
		r.Get("/api/v1/search", h.search)
		r.Get("/api/v1/objects/{id}", h.versions)
		r.Get("/api/v1/export", h.export)
		r.Group(func(r chi.Router) {
			r.Use(a.Require(auth.Analyst))
			r.Post("/api/v1/bundles", h.importBundle)
			r.Post("/api/v1/indicators", h.quickAdd)
			r.Post("/api/v1/objects/{id}/revoke", h.revoke)
			r.Post("/api/v1/sightings", h.sighting)
		})
	})
}

func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	h.api.Problems().Write(w, r, p)
}

func (h *Handlers) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.svc.log.Error("indicator request failed", "err", err, "request_id", api.RequestID(r.Context()))
	h.fail(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "the node could not complete the request; retry (request id "+api.RequestID(r.Context())+")"))
}

func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

func (h *Handlers) search(w http.ResponseWriter, r *http.Request) {
	value := strings.TrimSpace(r.URL.Query().Get("value"))
	if value == "" {
		h.fail(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "give the value to look for: ?value=203.0.113.7").With("parameter", "value"))
		return
	}
	opts := index.SearchOptions{
		AllVersions: boolParam(r, "all_versions"), IncludeRevoked: boolParam(r, "include_revoked"),
		TLPs: VisibleTLPs(principal(r)),
	}
	if t := r.URL.Query().Get("type"); t != "" {
		opts.Types = strings.Split(t, ",")
	}
	res, err := h.svc.Search(r.Context(), value, opts)
	if err != nil {
		if errors.Is(err, index.ErrInvalidValue) {
			h.fail(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, err.Error()).With("parameter", "value"))
			return
		}
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handlers) versions(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	vs, err := h.svc.Versions(r.Context(), id)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	visible := map[string]bool{}
	for _, t := range VisibleTLPs(principal(r)) {
		visible[t] = true
	}
	out := []Stored{}
	for _, v := range vs {
		if visible[v.TLP] {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		h.fail(w, r, problem.New(problem.NotFound, http.StatusNotFound, "no object "+id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "versions": out})
}

// importBundle takes a STIX bundle (or one object). Objects are judged one
// by one, as TAXII does: if some fail, the rest are stored and the answer
// lists both; if nothing can be stored, it is a 422 problem naming the
// first bad object and property.
func (h *Handlers) importBundle(w http.ResponseWriter, r *http.Request) {
	if p := checkMedia(r, "application/json", "application/stix+json"); p != nil {
		h.svc.Rejected(ReasonMediaType, 1)
		h.fail(w, r, p)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		p := api.BodyProblem(err)
		reason := ReasonMalformed
		if p.Status == http.StatusRequestEntityTooLarge {
			reason = ReasonTooLarge
		}
		h.svc.Rejected(reason, 1)
		h.fail(w, r, p)
		return
	}
	b, err := DecodeInput(body)
	if err != nil {
		h.svc.Rejected(DecodeReason(err), 1)
		h.fail(w, r, DecodeProblem(err))
		return
	}
	res, err := h.svc.ImportBundle(r.Context(), b)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if len(res.Successes) == 0 && len(res.Failures) > 0 {
		f := res.Failures[0]
		h.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, f.Message).
			With("object", f.ID).With("property", f.Property).With("failures", res.Failures))
		return
	}
	writeJSON(w, http.StatusOK, summary(res))
}

// ImportSummary is the answer to an import.
type ImportSummary struct {
	Total     int      `json:"total_count"`
	Stored    int      `json:"stored_count"`
	Unchanged int      `json:"unchanged_count"`
	Failed    int      `json:"failure_count"`
	Successes []Status `json:"successes"`
	Failures  []Status `json:"failures"`
}

func summary(res Result) ImportSummary {
	s := ImportSummary{Successes: res.Successes, Failures: res.Failures, Failed: len(res.Failures)}
	if s.Successes == nil {
		s.Successes = []Status{}
	}
	if s.Failures == nil {
		s.Failures = []Status{}
	}
	for _, st := range res.Successes {
		if st.Outcome == "stored" {
			s.Stored++
		} else {
			s.Unchanged++
		}
	}
	s.Total = len(res.Successes) + len(res.Failures)
	return s
}

// DecodeProblem is the answer to input that cannot be decoded: 400 (413
// for an oversized object or bundle), naming the object by index and id
// and the property where known.
func DecodeProblem(err error) *problem.Problem {
	p := problem.New(problem.BadRequest, http.StatusBadRequest, err.Error())
	if errors.Is(err, stix.ErrTooLarge) {
		p = problem.New(problem.TooLarge, http.StatusRequestEntityTooLarge, err.Error())
	}
	var de *stix.DecodeError
	if errors.As(err, &de) {
		if de.Offset >= 0 {
			p.With("offset", de.Offset)
		}
		if de.Index >= 0 {
			p.With("object_index", de.Index)
		}
		if de.ID != "" {
			p.With("object", de.ID)
		}
		if de.Property != "" {
			p.With("property", de.Property)
		}
	}
	return p
}

func checkMedia(r *http.Request, allowed ...string) *problem.Problem {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, a := range allowed {
			if mt == a {
				return nil
			}
		}
	}
	return problem.New(problem.UnsupportedMedia, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported; use %s", ct, strings.Join(allowed, " or ")))
}

// QuickAdd is the body of POST /api/v1/indicators.
type QuickAdd struct {
	Kind        string   `json:"kind"` // ipv4-addr, domain-name, ... or empty to detect
	Value       string   `json:"value"`
	TLP         string   `json:"tlp"`
	Labels      []string `json:"labels"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	ValidUntil  string   `json:"valid_until"`
}

func (h *Handlers) quickAdd(w http.ResponseWriter, r *http.Request) {
	var req QuickAdd
	if p := api.DecodeJSON(r, &req); p != nil {
		h.fail(w, r, p)
		return
	}
	v, p := valueOf(req.Kind, req.Value)
	if p != nil {
		h.fail(w, r, p)
		return
	}
	spec := stix.QuickIndicatorSpec{Value: v, Labels: req.Labels, Name: req.Name, Description: req.Description}
	if req.TLP != "" {
		t, err := stix.ParseTLP(req.TLP)
		if err != nil {
			h.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, err.Error()).With("property", "tlp"))
			return
		}
		spec.TLP = t
	}
	if req.ValidUntil != "" {
		t, err := time.Parse(time.RFC3339, req.ValidUntil)
		if err != nil {
			h.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, "valid_until must be an RFC 3339 time").With("property", "valid_until"))
			return
		}
		spec.ValidUntil = t
	}
	objs, err := stix.QuickIndicator(spec)
	if err != nil {
		h.fail(w, r, validationProblem(err))
		return
	}
	if _, err := h.svc.Add(r.Context(), objs...); err != nil {
		h.writeAddError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, stix.NewBundle(objs...))
}

// valueOf reads a kind (STIX SCO type or short name) and value.
func valueOf(kind, value string) (stix.Value, *problem.Problem) {
	value = strings.TrimSpace(value)
	if value == "" {
		return stix.Value{}, problem.New(problem.Validation, http.StatusUnprocessableEntity, "value must not be empty").With("property", "value")
	}
	if kind == "" {
		v, ok := stix.ClassifyValue(value)
		if !ok {
			return stix.Value{}, problem.New(problem.Validation, http.StatusUnprocessableEntity,
				fmt.Sprintf("cannot tell what kind of value %q is; give kind (ipv4-addr, ipv6-addr, domain-name, url, email-addr, file)", value)).With("property", "value")
		}
		return v, nil
	}
	k, ok := kindOf(kind)
	if !ok {
		return stix.Value{}, problem.New(problem.Validation, http.StatusUnprocessableEntity,
			fmt.Sprintf("unknown kind %q (use ipv4-addr, ipv6-addr, domain-name, url, email-addr, file)", kind)).With("property", "kind")
	}
	v, ok := stix.NormalizeValue(k, value)
	if !ok {
		return stix.Value{}, problem.New(problem.Validation, http.StatusUnprocessableEntity,
			fmt.Sprintf("%q is not a valid %s value", value, kind)).With("property", "value")
	}
	return v, nil
}

func kindOf(s string) (stix.ValueKind, bool) {
	switch strings.ToLower(s) {
	case "ipv4-addr", "ipv4", "ip":
		return stix.KindIPv4, true
	case "ipv6-addr", "ipv6":
		return stix.KindIPv6, true
	case "domain-name", "domain":
		return stix.KindDomain, true
	case "url":
		return stix.KindURL, true
	case "email-addr", "email":
		return stix.KindEmail, true
	case "file", "hash":
		return stix.KindHash, true
	}
	return "", false
}

func validationProblem(err error) *problem.Problem {
	var ve *stix.ValidationError
	p := problem.New(problem.Validation, http.StatusUnprocessableEntity, err.Error())
	if errors.As(err, &ve) {
		p.With("object", ve.ObjectID).With("property", ve.Property)
	}
	return p
}

// withObject names the object of an /objects/{id}/... route.
func withObject(r *http.Request, p *problem.Problem) *problem.Problem {
	if id := chi.URLParam(r, "id"); id != "" {
		p.With("object", id)
	}
	return p
}

func (h *Handlers) writeAddError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrRejected):
		h.fail(w, r, validationProblem(err))
	case errors.Is(err, ErrNotFound):
		h.fail(w, r, problem.New(problem.NotFound, http.StatusNotFound, err.Error()))
	case errors.Is(err, ErrNotCreator):
		h.fail(w, r, withObject(r, problem.New(ProblemNotCreator, http.StatusConflict, err.Error())).With("property", "created_by_ref"))
	case errors.Is(err, ErrNotOrigin):
		h.fail(w, r, withObject(r, problem.New(ProblemNotOrigin, http.StatusConflict, err.Error())))
	default:
		h.internal(w, r, err)
	}
}

func (h *Handlers) revoke(w http.ResponseWriter, r *http.Request) {
	o, err := h.svc.Revoke(r.Context(), chi.URLParam(r, "id"), time.Now())
	if err != nil {
		h.writeAddError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// SightingRequest is the body of POST /api/v1/sightings.
type SightingRequest struct {
	SightingOfRef    string   `json:"sighting_of_ref"`
	Count            int      `json:"count"`
	FirstSeen        string   `json:"first_seen"`
	LastSeen         string   `json:"last_seen"`
	WhereSightedRefs []string `json:"where_sighted_refs"`
	Description      string   `json:"description"`
	TLP              string   `json:"tlp"`
}

func (h *Handlers) sighting(w http.ResponseWriter, r *http.Request) {
	var req SightingRequest
	if p := api.DecodeJSON(r, &req); p != nil {
		h.fail(w, r, p)
		return
	}
	spec := stix.SightingSpec{SightingOfRef: req.SightingOfRef, Count: req.Count, WhereSightedRefs: req.WhereSightedRefs, Description: req.Description}
	for name, dst := range map[string]*time.Time{"first_seen": &spec.FirstSeen, "last_seen": &spec.LastSeen} {
		v := map[string]string{"first_seen": req.FirstSeen, "last_seen": req.LastSeen}[name]
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			h.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, name+" must be an RFC 3339 time with a time zone").With("property", name))
			return
		}
		*dst = t
	}
	if req.TLP != "" {
		t, err := stix.ParseTLP(req.TLP)
		if err != nil {
			h.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, err.Error()).With("property", "tlp"))
			return
		}
		spec.TLP = t
	}
	if _, ok, err := h.svc.idx.Current(req.SightingOfRef); err != nil {
		h.internal(w, r, err)
		return
	} else if !ok {
		h.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, "sighting_of_ref names no object this node holds").With("property", "sighting_of_ref"))
		return
	}
	o, err := stix.NewSighting(spec)
	if err != nil {
		h.fail(w, r, validationProblem(err))
		return
	}
	if _, err := h.svc.Add(r.Context(), o); err != nil {
		h.writeAddError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

// export streams a STIX bundle of the objects a query selects, page by
// page, so memory does not grow with the result.
func (h *Handlers) export(w http.ResponseWriter, r *http.Request) {
	q, p := queryFrom(r)
	if p != nil {
		h.fail(w, r, p)
		return
	}
	first, err := h.svc.Query(r.Context(), q)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/stix+json;version=2.1")
	bundleID, _ := json.Marshal(stix.NewID("bundle"))
	_, _ = io.WriteString(w, `{"type":"bundle","id":`+string(bundleID)+`,"objects":[`)
	n := 0
	page := first
	for {
		for _, o := range page.Objects {
			if n > 0 {
				_, _ = io.WriteString(w, ",")
			}
			_, _ = w.Write(o.Object)
			n++
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
		page, err = h.svc.Query(r.Context(), q)
		if err != nil {
			// Headers are gone: end the body so the client sees broken JSON.
			h.svc.log.Error("export failed mid-stream", "err", err)
			return
		}
	}
	_, _ = io.WriteString(w, "]}\n")
}

// queryFrom reads export filters: type, tlp, label, origin, added_after,
// include_revoked, all_versions. The caller's role narrows the TLPs.
func queryFrom(r *http.Request) (index.Query, *problem.Problem) {
	qs := r.URL.Query()
	q := index.Query{
		Label: qs.Get("label"), Origin: qs.Get("origin"),
		IncludeRevoked: boolParam(r, "include_revoked"), AllVersions: boolParam(r, "all_versions"), Limit: 1000,
	}
	if t := qs.Get("type"); t != "" {
		q.Types = strings.Split(t, ",")
	}
	if id := qs.Get("id"); id != "" {
		q.IDs = strings.Split(id, ",")
	}
	visible := VisibleTLPs(principal(r))
	q.TLPs = visible
	if t := qs.Get("tlp"); t != "" {
		q.TLPs = nil
		for _, s := range strings.Split(t, ",") {
			lvl, err := stix.ParseTLP(s)
			if err != nil {
				return q, problem.New(problem.BadRequest, http.StatusBadRequest, err.Error()).With("parameter", "tlp")
			}
			for _, v := range visible {
				if v == lvl.Short() {
					q.TLPs = append(q.TLPs, v)
				}
			}
		}
		if len(q.TLPs) == 0 {
			return q, problem.New(problem.Forbidden, http.StatusForbidden, "your role may not read that TLP level")
		}
	}
	if a := qs.Get("added_after"); a != "" {
		t, err := time.Parse(time.RFC3339Nano, a)
		if err != nil {
			return q, problem.New(problem.BadRequest, http.StatusBadRequest, "added_after must be an RFC 3339 time").With("parameter", "added_after")
		}
		q.AddedAfter = t
	}
	return q, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
