package taxii

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/index"
)

// Versions lists the TAXII versions the API root speaks.
var Versions = []string{MediaType}

type discoveryResource struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots"`
}

type apiRootResource struct {
	Title            string   `json:"title"`
	Description      string   `json:"description,omitempty"`
	Versions         []string `json:"versions"`
	MaxContentLength int64    `json:"max_content_length"`
}

type collectionResource struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types"`
}

type collectionsResource struct {
	Collections []collectionResource `json:"collections,omitempty"`
}

type manifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type"`
}

// manifestResource carries "next" as well when more is true, so that
// clients paging with next (as they do objects) can page manifests too.
type manifestResource struct {
	More    bool             `json:"more"`
	Next    string           `json:"next,omitempty"`
	Objects []manifestRecord `json:"objects,omitempty"`
}

type versionsResource struct {
	More     bool     `json:"more"`
	Next     string   `json:"next,omitempty"`
	Versions []string `json:"versions,omitempty"`
}

func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

func (s *Server) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	root := s.baseURL(r) + APIRootPath
	writeTAXII(w, http.StatusOK, discoveryResource{
		Title: s.opts.Title, Description: s.opts.Description, Contact: s.opts.Contact,
		Default: root, APIRoots: []string{root},
	})
}

func (s *Server) apiRoot(w http.ResponseWriter, r *http.Request) {
	desc := s.opts.Description
	if desc == "" {
		desc = "STIX 2.1 indicators of this node: one read collection per TLP level, and an inbox."
	}
	writeTAXII(w, http.StatusOK, apiRootResource{
		Title: s.opts.Title, Description: desc, Versions: Versions, MaxContentLength: s.opts.MaxContentLength,
	})
}

func resourceOf(c Collection) collectionResource {
	return collectionResource{
		ID: c.ID, Title: c.Title, Description: c.Description, Alias: c.Alias,
		CanRead: !c.Inbox(), CanWrite: c.Inbox(), MediaTypes: []string{STIXMediaType},
	}
}

func (s *Server) collections(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var out collectionsResource
	for _, c := range Collections {
		if Visible(p, c) {
			out.Collections = append(out.Collections, resourceOf(c))
		}
	}
	writeTAXII(w, http.StatusOK, out)
}

// visible resolves the {collection} parameter; 404 for one that does not
// exist or that the token's role may not see.
func (s *Server) visible(w http.ResponseWriter, r *http.Request) (Collection, bool) {
	key := chi.URLParam(r, "collection")
	c, ok := lookup(key)
	if !ok || !Visible(principal(r), c) {
		s.fail(w, r, problem.NotFound, http.StatusNotFound, "no collection "+key)
		return Collection{}, false
	}
	return c, true
}

// readable is visible plus 403 for the write-only inbox.
func (s *Server) readable(w http.ResponseWriter, r *http.Request) (Collection, bool) {
	c, ok := s.visible(w, r)
	if ok && c.Inbox() {
		s.fail(w, r, problem.Forbidden, http.StatusForbidden,
			"the inbox collection is write-only (can_read false); read from the TLP collections")
		return Collection{}, false
	}
	return c, ok
}

func (s *Server) collection(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.visible(w, r); ok {
		writeTAXII(w, http.StatusOK, resourceOf(c))
	}
}

// pageError maps a paging error.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errBadCursor) {
		s.writeProblem(w, r, problem.New(problem.BadRequest, http.StatusBadRequest,
			"next is not a value this server returned").With("parameter", "next"))
		return
	}
	s.internal(w, r, err)
}

func (s *Server) getObjects(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readable(w, r)
	if !ok {
		return
	}
	f, p := s.parseFilters(r, true)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	s.serveObjects(w, r, c, f, f.query(c), "")
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readable(w, r)
	if !ok {
		return
	}
	f, p := s.parseFilters(r, true)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	id := chi.URLParam(r, "object")
	f.ids = []string{id}
	s.serveObjects(w, r, c, f, f.query(c), id)
}

func (s *Server) serveObjects(w http.ResponseWriter, r *http.Request, c Collection, f filters, q index.Query, objectID string) {
	recs, next, err := s.page(r.Context(), q, f, s.fetchObjects(r.Context(), f.specs != nil))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if objectID != "" && len(recs) == 0 && f.next == "" && !s.exists(w, r, c, objectID) {
		return
	}
	var env envelopeWriter
	for _, rc := range recs {
		env.add(rc.raw)
	}
	if len(recs) > 0 {
		dateAddedHeaders(w, recs[0].added, recs[len(recs)-1].added)
		s.m.served.WithLabelValues(c.Alias).Add(float64(len(recs)))
	}
	writeRaw(w, http.StatusOK, env.bytes(next != "", next))
}

// exists reports whether the collection holds any version of an object,
// answering 404 (or 503) when it does not.
func (s *Server) exists(w http.ResponseWriter, r *http.Request, c Collection, id string) bool {
	p, err := s.ind.Entries(index.Query{IDs: []string{id}, TLPs: []string{c.TLP.Short()}, AllVersions: true, IncludeRevoked: true, Limit: 1})
	if err != nil {
		s.internal(w, r, err)
		return false
	}
	if len(p.Entries) == 0 {
		s.fail(w, r, problem.NotFound, http.StatusNotFound, "no object "+id+" in collection "+c.ID)
		return false
	}
	return true
}

func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readable(w, r)
	if !ok {
		return
	}
	f, p := s.parseFilters(r, true)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	recs, next, err := s.page(r.Context(), f.query(c), f, s.fetchEntries)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	out := manifestResource{More: next != "", Next: next}
	for _, rc := range recs {
		out.Objects = append(out.Objects, manifestRecord{
			ID: rc.id, DateAdded: formatAdded(rc.added), Version: formatVersion(rc.version()), MediaType: STIXMediaType,
		})
	}
	if len(recs) > 0 {
		dateAddedHeaders(w, recs[0].added, recs[len(recs)-1].added)
	}
	writeTAXII(w, http.StatusOK, out)
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readable(w, r)
	if !ok {
		return
	}
	f, p := s.parseFilters(r, false)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	id := chi.URLParam(r, "object")
	q := index.Query{
		IDs: []string{id}, TLPs: []string{c.TLP.Short()}, AddedAfter: f.addedAfter,
		IncludeRevoked: true, AllVersions: true, Cursor: f.next,
	}
	recs, next, err := s.page(r.Context(), q, f, s.fetchEntries)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if len(recs) == 0 && f.next == "" && !s.exists(w, r, c, id) {
		return
	}
	out := versionsResource{More: next != "", Next: next}
	for _, rc := range recs {
		out.Versions = append(out.Versions, formatVersion(rc.version()))
	}
	if len(recs) > 0 {
		dateAddedHeaders(w, recs[0].added, recs[len(recs)-1].added)
	}
	writeTAXII(w, http.StatusOK, out)
}

// deleteObject: Kurier never deletes an object version (revoke it
// instead, through /api/v1); TAXII 2.1 lets a server refuse deletion.
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET")
	s.fail(w, r, problem.MethodNotAllowed, http.StatusMethodNotAllowed,
		"objects cannot be deleted over TAXII; revoke them with POST /api/v1/objects/{id}/revoke")
}
