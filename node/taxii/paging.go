package taxii

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/index"
)

// maxMatchValues bounds the values of one match[...] parameter.
const maxMatchValues = 1000

// maxScan bounds the index entries one request examines when filters
// (match[version] other than "last", match[spec_version]) drop entries:
// past it the page is returned short with more=true, which TAXII allows.
const maxScan = 20000

// filters are the TAXII URL parameters of a request.
type filters struct {
	addedAfter time.Time
	limit      int
	next       string
	ids        []string
	types      []string
	versions   versionMatch
	specs      map[string]bool // nil: no spec_version filter
}

// versionMatch is match[version]: last (the default), first, all, or
// version timestamps; several values are alternatives.
type versionMatch struct {
	all, first, last bool
	times            []time.Time
}

// onlyLast: the index's current versions answer the query directly.
func (v versionMatch) onlyLast() bool { return v.last && !v.first && !v.all && len(v.times) == 0 }

// parseFilters reads the parameters. withMatch is false for the versions
// endpoint, which takes only added_after, limit, next and
// match[spec_version].
func (s *Server) parseFilters(r *http.Request, withMatch bool) (filters, *problem.Problem) {
	qv := r.URL.Query()
	f := filters{limit: s.opts.DefaultLimit, versions: versionMatch{last: true}}
	bad := func(param, detail string) (filters, *problem.Problem) {
		return filters{}, problem.New(problem.BadRequest, http.StatusBadRequest, detail).With("parameter", param)
	}
	if v := qv.Get("added_after"); v != "" {
		t, err := parseTimestamp(v)
		if err != nil {
			return bad("added_after", fmt.Sprintf("added_after %q is not an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05.000000Z)", v))
		}
		f.addedAfter = t
	}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return bad("limit", fmt.Sprintf("limit %q must be a positive integer", v))
		}
		f.limit = min(n, s.opts.MaxLimit)
	}
	f.next = qv.Get("next")
	list := func(name string) ([]string, *problem.Problem) {
		var out []string
		for _, v := range qv[name] {
			for item := range strings.SplitSeq(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					out = append(out, item)
				}
			}
		}
		if len(out) > maxMatchValues {
			_, p := bad(name, fmt.Sprintf("%s has more than %d values", name, maxMatchValues))
			return nil, p
		}
		return out, nil
	}
	specs, p := list("match[spec_version]")
	if p != nil {
		return filters{}, p
	}
	if len(specs) > 0 {
		f.specs = map[string]bool{}
		for _, v := range specs {
			f.specs[v] = true
		}
	}
	if !withMatch {
		f.versions = versionMatch{all: true}
		return f, nil
	}
	if f.ids, p = list("match[id]"); p != nil {
		return filters{}, p
	}
	if f.types, p = list("match[type]"); p != nil {
		return filters{}, p
	}
	vers, p := list("match[version]")
	if p != nil {
		return filters{}, p
	}
	if len(vers) > 0 {
		f.versions = versionMatch{}
		for _, v := range vers {
			switch v {
			case "all":
				f.versions.all = true
			case "first":
				f.versions.first = true
			case "last":
				f.versions.last = true
			default:
				t, err := parseTimestamp(v)
				if err != nil {
					return bad("match[version]", fmt.Sprintf("match[version] value %q is not last, first, all or a timestamp", v))
				}
				f.versions.times = append(f.versions.times, t)
			}
		}
	}
	return f, nil
}

// query is the index query of a collection and filters.
func (f filters) query(c Collection) index.Query {
	return index.Query{
		Types: f.types, IDs: f.ids, TLPs: []string{c.TLP.Short()}, AddedAfter: f.addedAfter,
		IncludeRevoked: true, AllVersions: !f.versions.onlyLast(), Cursor: f.next,
	}
}

// rec is one object version as the paging sees it.
type rec struct {
	id       string
	modified time.Time // as indexed: modified, or created for unversioned objects
	added    time.Time
	spec     string
	raw      json.RawMessage // nil for manifests and versions
}

// version is the TAXII version of the record: its modified (or created)
// timestamp, or its date_added for objects that have neither (SCOs).
func (r rec) version() time.Time {
	if !r.modified.IsZero() {
		return r.modified
	}
	return r.added
}

type fetcher func(q index.Query) ([]rec, string, error)

// fetchObjects reads object versions (with their JSON).
func (s *Server) fetchObjects(ctx context.Context, needSpec bool) fetcher {
	return func(q index.Query) ([]rec, string, error) {
		p, err := s.ind.Query(ctx, q)
		if err != nil {
			return nil, "", err
		}
		out := make([]rec, len(p.Objects))
		for i, st := range p.Objects {
			out[i] = rec{id: st.ID, modified: st.Version, added: st.Added, raw: st.Object}
			if needSpec {
				var head struct {
					SpecVersion string `json:"spec_version"`
				}
				_ = json.Unmarshal(st.Object, &head)
				out[i].spec = head.SpecVersion
			}
		}
		return out, p.Next, nil
	}
}

// fetchEntries reads index entries only (manifests, versions).
func (s *Server) fetchEntries(q index.Query) ([]rec, string, error) {
	p, err := s.ind.Entries(q)
	if err != nil {
		return nil, "", err
	}
	out := make([]rec, len(p.Entries))
	for i, e := range p.Entries {
		out[i] = rec{id: e.ID, modified: e.Modified, added: e.Added, spec: e.SpecVersion}
	}
	return out, p.Next, nil
}

// span is the first and last version of an object.
type span struct{ first, last time.Time }

// spans looks up the first and last version of each object of a page.
func (s *Server) spans(recs []rec) (map[string]span, error) {
	seen := map[string]bool{}
	var ids []string
	for _, r := range recs {
		if !seen[r.id] {
			seen[r.id] = true
			ids = append(ids, r.id)
		}
	}
	out := make(map[string]span, len(ids))
	q := index.Query{IDs: ids, AllVersions: true, IncludeRevoked: true, Limit: 10000}
	for {
		p, err := s.ind.Entries(q)
		if err != nil {
			return nil, err
		}
		for _, e := range p.Entries {
			sp, ok := out[e.ID]
			if !ok || e.Modified.Before(sp.first) {
				sp.first = e.Modified
			}
			if !ok || e.Modified.After(sp.last) {
				sp.last = e.Modified
			}
			out[e.ID] = sp
		}
		if p.Next == "" {
			return out, nil
		}
		q.Cursor = p.Next
	}
}

// keep applies the filters the index cannot: match[version] (first,
// timestamps, or last among all versions) and match[spec_version].
func (f filters) keep(r rec, allVersions bool, spans map[string]span) bool {
	if f.specs != nil {
		spec := r.spec
		if spec == "" {
			spec = "2.1" // STIX 2.1 SCOs may omit spec_version
		}
		if !f.specs[spec] {
			return false
		}
	}
	v := f.versions
	if !allVersions || v.all {
		return true
	}
	sp := spans[r.id]
	if v.first && r.modified.Equal(sp.first) || v.last && r.modified.Equal(sp.last) {
		return true
	}
	ver := r.version()
	for _, t := range v.times {
		if ver.Equal(t) {
			return true
		}
	}
	return false
}

// errBadCursor marks a next value the index did not make.
var errBadCursor = errors.New("taxii: bad next")

// page selects up to f.limit records in date_added order, and the next
// cursor when more may follow. Filters the index cannot apply are applied
// here; the index is then asked for exactly the records still needed, so
// that its cursor always points just after the last record examined.
func (s *Server) page(ctx context.Context, q index.Query, f filters, fetch fetcher) ([]rec, string, error) {
	var out []rec
	scanned := 0
	needSpans := q.AllVersions && !f.versions.all && (f.versions.first || f.versions.last)
	for {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		q.Limit = f.limit - len(out)
		recs, next, err := fetch(q)
		if errors.Is(err, index.ErrBadCursor) {
			return nil, "", errBadCursor
		}
		if err != nil {
			return nil, "", err
		}
		scanned += len(recs)
		var sp map[string]span
		if needSpans && len(recs) > 0 {
			if sp, err = s.spans(recs); err != nil {
				return nil, "", err
			}
		}
		for _, r := range recs {
			if f.keep(r, q.AllVersions, sp) {
				out = append(out, r)
			}
		}
		if next == "" || len(out) >= f.limit || scanned >= maxScan {
			return out, next, nil
		}
		q.Cursor = next
	}
}
