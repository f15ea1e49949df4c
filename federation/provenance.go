package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
)

// A version this node already holds can arrive again: by another path
// (A -> C directly and A -> B -> C), from another origin with the same
// content, or with other content under the same id and modified. The
// first two are one object with several provenance records, kept beside
// the stored version under federation/provenance/; the stored record (and
// what the feed serves onward, with its path) stays the first one, so
// dedupe and loop prevention are unchanged. The third is a conflict: the
// other content is kept under federation/conflicts/, flagged and counted,
// never stored over the held version.

const (
	conflictsPrefix  = "federation/conflicts/"
	provenancePrefix = "federation/provenance/"
)

// MaxConflictsPage is the most conflicts one GET /api/v1/federation/conflicts
// answers; clients page with after=next.
const MaxConflictsPage = 1000

// Conflict is a version kept aside: it arrived with the id and modified
// of a stored version but other content.
type Conflict struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	// SHA256 is of the conflicting object's canonical bytes, StoredSHA256
	// of the held version's.
	SHA256       string `json:"sha256"`
	StoredSHA256 string `json:"stored_sha256,omitempty"`
	// Origin signed the conflicting object (its signature verified);
	// StoredOrigin the held one.
	Origin       string    `json:"origin"`
	StoredOrigin string    `json:"stored_origin"`
	Path         []string  `json:"path,omitempty"`
	ReceivedFrom string    `json:"received_from"`
	Peer         string    `json:"peer,omitempty"`
	ReceivedAt   time.Time `json:"received_at"`
	// Object and Sig are the conflicting version as received.
	Object json.RawMessage `json:"object,omitempty"`
	Sig    []byte          `json:"sig,omitempty"`
}

// Provenance is one way a held version reached this node.
type Provenance struct {
	Origin string   `json:"origin"`
	Path   []string `json:"path"`
	// Primary marks the record the version is stored (and served) with.
	Primary      bool      `json:"primary,omitempty"`
	ReceivedFrom string    `json:"received_from,omitempty"`
	Peer         string    `json:"peer,omitempty"`
	ReceivedAt   time.Time `json:"received_at"`
	// Sig is the origin's signature as received (with another origin, it
	// differs from the stored one).
	Sig []byte `json:"sig,omitempty"`
}

// reconcile compares a version the store reported as held with the held
// one: the same content with another origin or path is recorded as one
// more provenance, other content is kept as a conflict. It reports what
// it newly recorded.
func (f *Federation) reconcile(ctx context.Context, ps *peerState, sub *indicator.Submission) (conflict, path bool, err error) {
	vs, err := f.ind.Versions(ctx, sub.Object.ID)
	if err != nil {
		return false, false, err
	}
	want := versionTime(sub.Object)
	for _, v := range vs {
		if !v.Version.Equal(want) {
			continue
		}
		// Stored records are the canonical bytes their origin signed
		// (segment undoes its encoder's escaping).
		if bytes.Equal(v.Object, sub.Canonical) {
			if v.Origin == sub.Origin && slices.Equal(v.Path, sub.Path) {
				return false, false, nil
			}
			path, err = f.keepProvenance(ctx, ps, sub)
			return false, path, err
		}
		conflict, err = f.keepConflict(ctx, ps, sub, v)
		return conflict, false, err
	}
	return false, false, nil
}

func versionNanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// recordKey names a conflict or provenance record of version v of an
// object: <prefix><id>/<UnixNano>-<tag hex>.json.
func recordKey(prefix, id string, v time.Time, tag []byte) string {
	return prefix + id + "/" + versionNanos(v) + "-" + hex.EncodeToString(tag) + ".json"
}

// recordVersion is the version nanos of a record named by recordKey (the
// name after the object's prefix). The nanos are negative for a version
// before 1970, so the tag starts after the last '-', not the first.
func recordVersion(name string) (string, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", false
	}
	return name[:i], true
}

// putOnce stores v as a JSON document under key unless the key is taken
// (a record that came again, or by another path); it reports whether it
// stored it.
func (f *Federation) putOnce(ctx context.Context, key string, v any) (bool, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	_, err = f.opts.Objects.Put(ctx, key, bytes.NewReader(doc), store.PutOptions{IfAbsent: true, Size: int64(len(doc)), ContentType: "application/json"})
	if errors.Is(err, store.ErrExists) {
		return false, nil
	}
	return err == nil, err
}

// peerName is the loaded name of the peer with fingerprint fpr, else
// known (the name a record was kept with: the peer may have gone since).
func (s *peerSet) peerName(fpr, known string) string {
	if ps := s.byFpr[fpr]; ps != nil {
		return ps.cfg.Name
	}
	return known
}

// keepConflict stores a conflicting version once (by content), and counts
// it when it is new.
func (f *Federation) keepConflict(ctx context.Context, ps *peerState, sub *indicator.Submission, held indicator.Stored) (bool, error) {
	want := versionTime(sub.Object)
	sum := sha256.Sum256(sub.Canonical)
	heldSum := sha256.Sum256(held.Object)
	key := recordKey(conflictsPrefix, sub.Object.ID, want, sum[:8])
	stored, err := f.putOnce(ctx, key, Conflict{
		ID: sub.Object.ID, Modified: want.UTC(), SHA256: hex.EncodeToString(sum[:]), StoredSHA256: hex.EncodeToString(heldSum[:]),
		Origin: sub.Origin, StoredOrigin: held.Origin, Path: sub.Path, ReceivedFrom: ps.fpr, Peer: ps.cfg.Name,
		ReceivedAt: f.now().UTC(), Object: json.RawMessage(sub.Canonical), Sig: sub.Sig,
	})
	if err != nil {
		return false, fmt.Errorf("federation: keep conflicting version of %s: %w", sub.Object.ID, err)
	}
	if !stored {
		return false, nil
	}
	f.m.conflicts.WithLabelValues(ps.cfg.Name).Inc()
	f.log.Warn("conflicting version kept aside", "peer", ps.cfg.Name, "id", sub.Object.ID,
		"modified", want.UTC().Format(time.RFC3339Nano), "origin", sub.Origin, "stored_origin", held.Origin, "key", key)
	return true, nil
}

// keepProvenance records one more origin and path of a held version, once.
func (f *Federation) keepProvenance(ctx context.Context, ps *peerState, sub *indicator.Submission) (bool, error) {
	want := versionTime(sub.Object)
	route := sha256.Sum256([]byte(sub.Origin + "\n" + strings.Join(sub.Path, "\n")))
	key := recordKey(provenancePrefix, sub.Object.ID, want, route[:8])
	stored, err := f.putOnce(ctx, key, Provenance{
		Origin: sub.Origin, Path: nonNil(sub.Path), ReceivedFrom: ps.fpr, Peer: ps.cfg.Name, ReceivedAt: f.now().UTC(), Sig: sub.Sig,
	})
	if err != nil {
		return false, fmt.Errorf("federation: record provenance of %s: %w", sub.Object.ID, err)
	}
	if !stored {
		return false, nil
	}
	f.m.provenance.WithLabelValues(ps.cfg.Name).Inc()
	return true, nil
}

func nonNil(p []string) []string {
	if p == nil {
		return []string{}
	}
	return p
}

// readDoc decodes one small JSON document of the objects bucket.
func (f *Federation) readDoc(ctx context.Context, key string, v any) error {
	rc, _, err := f.opts.Objects.Get(ctx, key, "")
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 8<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Conflicts lists kept conflicts, in key order (by object id, then
// version) after the key `after`, at most limit; id narrows to one
// object. next is the key to continue after ("" at the end). Objects are
// left out unless withObjects.
func (f *Federation) Conflicts(ctx context.Context, id, after string, limit int, withObjects bool) (out []Conflict, next string, err error) {
	prefix := conflictsPrefix
	if id != "" {
		prefix += id + "/"
	}
	out = []Conflict{}
	for info, err := range f.opts.Objects.List(ctx, prefix, after) {
		if err != nil {
			return nil, "", fmt.Errorf("federation: list conflicts: %w", err)
		}
		if len(out) == limit {
			return out, next, nil
		}
		var c Conflict
		if err := f.readDoc(ctx, info.Key, &c); err != nil {
			return nil, "", fmt.Errorf("federation: read conflict %s: %w", info.Key, err)
		}
		if !withObjects {
			c.Object, c.Sig = nil, nil
		}
		out = append(out, c)
		next = info.Key
	}
	return out, "", nil
}

// ObjectProvenance lists every way the versions of an object reached this
// node: the stored record of each version, then the further records.
type ObjectProvenance struct {
	ID       string              `json:"id"`
	Versions []VersionProvenance `json:"versions"`
}

// VersionProvenance is the provenance of one held version.
type VersionProvenance struct {
	Modified time.Time    `json:"modified"`
	Records  []Provenance `json:"records"`
}

// Provenance returns the provenance records of an object's held versions
// (ok false when the object is not held).
func (f *Federation) Provenance(ctx context.Context, id string) (ObjectProvenance, bool, error) {
	vs, err := f.ind.Versions(ctx, id)
	if err != nil {
		return ObjectProvenance{}, false, err
	}
	if len(vs) == 0 {
		return ObjectProvenance{}, false, nil
	}
	op := ObjectProvenance{ID: id}
	byVersion := map[string]int{}
	set := f.set.Load()
	for _, v := range vs {
		byVersion[versionNanos(v.Version)] = len(op.Versions)
		from := receivedFrom(v)
		// Name the peer it came from, as for the further records, so an
		// operator reads one name per row rather than a fingerprint.
		prim := Provenance{Origin: v.Origin, Path: nonNil(v.Path), Primary: true, ReceivedFrom: from, Peer: set.peerName(from, ""), ReceivedAt: v.Added.UTC()}
		op.Versions = append(op.Versions, VersionProvenance{Modified: v.Version.UTC(), Records: []Provenance{prim}})
	}
	for info, err := range f.opts.Objects.List(ctx, provenancePrefix+id+"/", "") {
		if err != nil {
			return ObjectProvenance{}, false, fmt.Errorf("federation: list provenance of %s: %w", id, err)
		}
		name := strings.TrimPrefix(info.Key, provenancePrefix+id+"/")
		ns, ok := recordVersion(name)
		i, held := byVersion[ns]
		if !ok || !held {
			continue
		}
		var p Provenance
		if err := f.readDoc(ctx, info.Key, &p); err != nil {
			return ObjectProvenance{}, false, fmt.Errorf("federation: read provenance %s: %w", info.Key, err)
		}
		p.Peer = set.peerName(p.ReceivedFrom, p.Peer)
		op.Versions[i].Records = append(op.Versions[i].Records, p)
	}
	return op, true, nil
}

// receivedFrom is the node a stored version came from: the last hop of
// its path, or its origin (this node's own versions name it).
func receivedFrom(v indicator.Stored) string {
	if len(v.Path) > 0 {
		return v.Path[len(v.Path)-1]
	}
	return v.Origin
}

func (f *Federation) listConflicts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(param, msg string) {
		f.fail(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, msg).With("parameter", param))
	}
	limit, p := api.QueryLimit(q, "limit", 100, MaxConflictsPage)
	if p != nil {
		f.fail(w, r, p)
		return
	}
	id := q.Get("id")
	if id != "" {
		if _, _, err := stix.ParseID(id); err != nil {
			bad("id", "id must be a STIX identifier (type--UUID)")
			return
		}
	}
	after := q.Get("after")
	if after != "" && !strings.HasPrefix(after, conflictsPrefix) {
		bad("after", "after must be the next value of a previous answer")
		return
	}
	withObjects, _ := strconv.ParseBool(q.Get("objects"))
	cs, next, err := f.Conflicts(r.Context(), id, after, limit, withObjects)
	if err != nil {
		f.log.Error("list conflicts", "err", err, "request_id", api.RequestID(r.Context()))
		f.fail(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "the conflicts could not be listed; retry"))
		return
	}
	set := f.set.Load()
	for i := range cs {
		cs[i].Peer = set.peerName(cs[i].ReceivedFrom, cs[i].Peer)
	}
	writeJSON(w, http.StatusOK, map[string]any{"conflicts": cs, "next": next})
}

func (f *Federation) objectProvenance(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, _, err := stix.ParseID(id); err != nil {
		f.fail(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "id must be a STIX identifier (type--UUID)").With("parameter", "id"))
		return
	}
	op, ok, err := f.Provenance(r.Context(), id)
	if err != nil {
		f.log.Error("provenance", "id", id, "err", err, "request_id", api.RequestID(r.Context()))
		f.fail(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "the provenance could not be read; retry"))
		return
	}
	if !ok {
		f.fail(w, r, problem.New(problem.NotFound, http.StatusNotFound, "no object "+id))
		return
	}
	writeJSON(w, http.StatusOK, op)
}
