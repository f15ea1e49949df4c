package indicator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/segment"
	"github.com/kurier/kurier/node/stix"
)

// Stored is one stored object version with its node-side metadata.
type Stored struct {
	Object    json.RawMessage `json:"object"`
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Version   time.Time       `json:"version"`
	Added     time.Time       `json:"date_added"`
	Origin    string          `json:"origin"`
	TLP       string          `json:"tlp"`
	Revoked   bool            `json:"revoked,omitempty"`
	Signature []byte          `json:"signature"`
	Path      []string        `json:"path,omitempty"`
}

// load reads the stored record behind an index entry and checks that it is
// what the index says (a stale index must not serve another object).
func (s *Service) load(ctx context.Context, e index.Entry) (Stored, error) {
	r, err := s.seg.Get(ctx, segment.Location{Segment: e.Loc.Segment, Offset: e.Loc.Offset, Length: e.Loc.Length})
	if err != nil {
		return Stored{}, fmt.Errorf("indicator: read %s: %w", e.ID, err)
	}
	// A cheap check that the record is the object the index names (the
	// canonical form has no spaces): a stale index must not serve another.
	if !bytes.Contains(r.Object, []byte(`"id":"`+e.ID+`"`)) {
		return Stored{}, fmt.Errorf("indicator: index points %s at a record of another object: reindex", e.ID)
	}
	return Stored{
		Object: r.Object, ID: e.ID, Type: e.Type, Version: e.Modified, Added: e.Added, Origin: r.Origin,
		TLP: r.TLP, Revoked: e.Revoked, Signature: r.Sig, Path: r.Path,
	}, nil
}

func (s *Service) loadAll(ctx context.Context, es []index.Entry) ([]Stored, error) {
	out := make([]Stored, 0, len(es))
	for _, e := range es {
		st, err := s.load(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Versions returns every stored version of an object, oldest first.
func (s *Service) Versions(ctx context.Context, id string) ([]Stored, error) {
	es, err := s.idx.Versions(id)
	if err != nil {
		return nil, fmt.Errorf("indicator: versions of %s: %w", id, err)
	}
	return s.loadAll(ctx, es)
}

// Current returns the current version of an object.
func (s *Service) Current(ctx context.Context, id string) (Stored, bool, error) {
	e, ok, err := s.idx.Current(id)
	if err != nil || !ok {
		return Stored{}, ok, err
	}
	st, err := s.load(ctx, e)
	return st, err == nil, err
}

// Page is a page of query results.
type Page struct {
	Objects []Stored
	Next    string
}

// Query selects stored versions (see index.Query) and reads them.
func (s *Service) Query(ctx context.Context, q index.Query) (Page, error) {
	p, err := s.idx.Query(q)
	if err != nil {
		return Page{}, err
	}
	objs, err := s.loadAll(ctx, p.Entries)
	if err != nil {
		return Page{}, err
	}
	return Page{Objects: objs, Next: p.Next}, nil
}

// Entries selects index entries without reading the objects (manifests).
func (s *Service) Entries(q index.Query) (index.Page, error) { return s.idx.Query(q) }

// Hit is one search answer.
type Hit struct {
	Stored
	Match string `json:"match"`
	Value string `json:"matched_value"`
}

// SearchResult answers "have we seen this value?".
type SearchResult struct {
	Query     string `json:"query"`
	Kind      string `json:"kind"`
	Hits      []Hit  `json:"hits"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Search finds objects by observable value.
func (s *Service) Search(ctx context.Context, value string, opts index.SearchOptions) (SearchResult, error) {
	start := time.Now()
	defer func() { s.m.searchSeconds.Observe(time.Since(start).Seconds()) }()
	r, err := s.idx.Search(value, opts)
	if err != nil {
		return SearchResult{}, err
	}
	out := SearchResult{Query: r.Query.Value, Kind: r.Query.Kind, Truncated: r.Truncated, Hits: []Hit{}}
	for _, h := range r.Hits {
		st, err := s.load(ctx, h.Entry)
		if err != nil {
			return SearchResult{}, err
		}
		out.Hits = append(out.Hits, Hit{Stored: st, Match: string(h.Match), Value: h.Value.Value})
	}
	return out, nil
}

// Objects decodes stored versions into STIX objects.
func Objects(st []Stored) ([]*stix.Object, error) {
	out := make([]*stix.Object, 0, len(st))
	for _, s := range st {
		o, err := stix.DecodeObject(s.Object)
		if err != nil {
			return nil, fmt.Errorf("indicator: decode %s: %w", s.ID, err)
		}
		out = append(out, o)
	}
	return out, nil
}
