// Package taxii is Kurier's TAXII 2.1 server (OASIS TAXII Version 2.1):
// discovery, one API root, read collections per TLP level, a writable
// inbox, objects (with added_after, limit, next and match[id|type|version|
// spec_version]), manifest, versions and status.
//
// Collections are views of the node's indicator store: the collection of a
// TLP level serves every object version whose effective TLP (its TLP marking,
// or the node's default for unmarked objects) is that level. Which
// collections a token sees depends on its role and TLP:RED grant (see Visible); a collection
// the role may not see answers 404, as if it did not exist. Objects are
// served as their stored canonical JSON, unchanged. Revoked objects are
// served too: a TAXII consumer needs the revocation.
//
// Errors are RFC 9457 problems written by the node's problem writer, with
// the TAXII error-message members (title, description, http_status) added
// so TAXII clients reading those still work.
package taxii

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
)

// Media types.
const (
	// MediaType is the TAXII 2.1 media type of every response body.
	MediaType = "application/taxii+json;version=2.1"
	// STIXMediaType is the media type of the objects served.
	STIXMediaType = "application/stix+json;version=2.1"
	taxiiType     = "application/taxii+json"
)

// Paths, relative to the node's root.
const (
	DiscoveryPath = "/taxii2/"
	APIRootPath   = "/taxii2/api/"
)

// Indicators is what the TAXII server needs of the indicator service
// (*indicator.Service implements it).
type Indicators interface {
	// ImportBundle validates and stores a bundle, object by object.
	ImportBundle(ctx context.Context, b *stix.Bundle) (indicator.Result, error)
	// Query selects stored versions and reads them, ordered by date added.
	Query(ctx context.Context, q index.Query) (indicator.Page, error)
	// Entries selects index entries without reading the objects.
	Entries(q index.Query) (index.Page, error)
	// Rejected counts objects refused before ImportBundle saw them (an
	// unreadable or oversized envelope or object, a wrong media type).
	Rejected(reason string, n int)
}

// Options are the server's dependencies and settings.
type Options struct {
	// Indicators is the node's indicator service (required).
	Indicators Indicators
	// Statuses keeps the status resources of POSTed envelopes, under
	// taxii/status/<uuid>.json, so they survive a restart (required).
	Statuses   store.Bucket
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Title, Description and Contact describe the server in the discovery
	// and API root resources. Title defaults to "Kurier".
	Title       string
	Description string
	Contact     string
	// MaxContentLength is the largest request body accepted, advertised as
	// the API root's max_content_length: pass the node's HTTP body limit.
	// Default 16 MiB.
	MaxContentLength int64
	// BaseURL (e.g. "https://kurier.cert.example") makes the API root URLs
	// in the discovery resource absolute. Empty: derived from each request
	// (scheme and Host).
	BaseURL string
	// DefaultLimit and MaxLimit bound pages (default 100 and 1000).
	DefaultLimit, MaxLimit int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Server is the TAXII 2.1 server.
type Server struct {
	opts     Options
	ind      Indicators
	statuses store.Bucket
	log      *slog.Logger
	m        *metrics
	problems *problem.Writer
}

// New builds the server; Mount adds its routes to the node's API.
func New(opts Options) (*Server, error) {
	if opts.Indicators == nil || opts.Statuses == nil {
		return nil, errors.New("taxii: the indicator service and a status bucket are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Title == "" {
		opts.Title = "Kurier"
	}
	if opts.MaxContentLength <= 0 {
		opts.MaxContentLength = 16 << 20
	}
	if opts.MaxLimit <= 0 {
		opts.MaxLimit = 1000
	}
	if opts.DefaultLimit <= 0 {
		opts.DefaultLimit = 100
	}
	opts.DefaultLimit = min(opts.DefaultLimit, opts.MaxLimit)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, ind: opts.Indicators, statuses: opts.Statuses, log: opts.Logger, m: m}, nil
}

// Mount adds the TAXII routes under /taxii2/, behind the node's bearer
// authentication (401 without a valid token).
func (s *Server) Mount(a *api.Server) {
	s.problems = a.Problems()
	a.Authenticated(func(r chi.Router) {
		r.Route("/taxii2", func(r chi.Router) {
			r.Use(s.negotiate)
			r.NotFound(func(w http.ResponseWriter, r *http.Request) {
				s.fail(w, r, problem.NotFound, http.StatusNotFound, "no such TAXII resource")
			})
			r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
				s.fail(w, r, problem.MethodNotAllowed, http.StatusMethodNotAllowed, r.Method+" is not supported here")
			})
			r.Get("/", s.discovery)
			r.Get("/api/", s.apiRoot)
			r.Get("/api/collections/", s.collections)
			r.Get("/api/collections/{collection}/", s.collection)
			r.Get("/api/collections/{collection}/objects/", s.getObjects)
			r.Post("/api/collections/{collection}/objects/", s.addObjects)
			r.Get("/api/collections/{collection}/objects/{object}/", s.getObject)
			r.Delete("/api/collections/{collection}/objects/{object}/", s.deleteObject)
			r.Get("/api/collections/{collection}/objects/{object}/versions/", s.versions)
			r.Get("/api/collections/{collection}/manifest/", s.manifest)
			r.Get("/api/status/{status}/", s.status)
		})
	})
}

// Collection is one TAXII collection of this node.
type Collection struct {
	ID          string
	Alias       string
	Title       string
	Description string
	// TLP is the level a read collection serves; TLPNone for the inbox.
	TLP stix.TLP
}

// Inbox reports whether c is the writable inbox.
func (c Collection) Inbox() bool { return c.TLP == stix.TLPNone }

// CollectionNamespace is the UUID namespace of the collection ids:
// UUIDv5(NameSpaceURL, "https://kurier.dev/taxii/collections").
const CollectionNamespace = "692a9e67-5391-5d13-a9d0-813a8afb0782"

// The collection ids: UUIDv5(CollectionNamespace, name) for the names
// "tlp:clear", "tlp:green", "tlp:amber", "tlp:amber+strict", "tlp:red" and
// "inbox". They are the same on every Kurier node.
const (
	CollectionClear       = "58d38e7f-e140-55ae-ae72-a751d8789866"
	CollectionGreen       = "004ba217-5bd9-55dc-9dab-cd64c319654f"
	CollectionAmber       = "f6188a13-86c8-5afd-b7f0-7994119fd1b8"
	CollectionAmberStrict = "083f0ed7-3aae-561e-b280-37232c3c0140"
	CollectionRed         = "5d7a7957-e2a9-5f23-955d-fb0261260b06"
	CollectionInbox       = "98832a0b-4b2c-585d-aded-171758cb1223"
)

// Collections lists every collection in a fixed order: the five TLP levels
// from least to most restrictive, then the inbox.
var Collections = []Collection{
	tlpCollection(CollectionClear, stix.TLPClear),
	tlpCollection(CollectionGreen, stix.TLPGreen),
	tlpCollection(CollectionAmber, stix.TLPAmber),
	tlpCollection(CollectionAmberStrict, stix.TLPAmberStrict),
	tlpCollection(CollectionRed, stix.TLPRed),
	{
		ID: CollectionInbox, Alias: "inbox", Title: "Inbox",
		Description: "Add objects here (POST). Each lands in the read collection of its TLP marking, or of the node's default TLP when it has none.",
	},
}

func tlpCollection(id string, t stix.TLP) Collection {
	return Collection{
		ID: id, Alias: "tlp-" + aliasOf(t), Title: t.String() + " indicators", TLP: t,
		Description: fmt.Sprintf("Every object version whose effective handling is %s (its TLP marking, or the node's default TLP when unmarked). Revoked objects are included.", t),
	}
}

func aliasOf(t stix.TLP) string {
	if t == stix.TLPAmberStrict {
		return "amber-strict"
	}
	return t.Short()
}

// Visible reports whether a token may see a collection: analysts and
// admins see the TLP collections up to AMBER+STRICT and the inbox, and the
// TLP:RED collection only with a token that names them a recipient of RED;
// operators and liaisons see TLP:CLEAR and TLP:GREEN only, and no inbox.
func Visible(p auth.Principal, c Collection) bool {
	if c.ID == CollectionInbox {
		return p.Role.Allowed(auth.Analyst)
	}
	return slices.Contains(indicator.VisibleTLPs(p), c.TLP.Short())
}

// lookup finds a collection by id or alias.
func lookup(key string) (Collection, bool) {
	for _, c := range Collections {
		if c.ID == key || c.Alias == key {
			return c, true
		}
	}
	return Collection{}, false
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
