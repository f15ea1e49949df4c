package indicator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/segment"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
	fsstore "github.com/kurier/kurier/node/store/fs"
)

type env struct {
	// creators are the STIX identities the service authors as (Options.CreatorRefs).
	creators []string
	dir      string
	bucket   store.Bucket
	id       *identity.Identity
	svc      *Service
	idx      *index.Index
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith starts a service that authors as the given STIX identities.
func newEnvWith(t *testing.T, creators []string) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(context.Background(), "objects", false); err != nil {
		t.Fatal(err)
	}
	id, err := identity.Generate("test", "", identity.ProfileDefault, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, bucket: st.Bucket("objects"), id: id, creators: creators}
	e.open(t)
	return e
}

// open (re)starts the service on the same store and index directory.
func (e *env) open(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	sealer := seal.New(e.id, nil)
	seg, err := segment.Open(ctx, e.bucket, sealer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.dir, "index"), 0o700); err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(filepath.Join(e.dir, "index", "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	svc, err := New(ctx, Options{Identity: e.id, Sealer: sealer, Segments: seg, Index: idx, StatePath: StatePath(e.dir), CreatorRefs: e.creators})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.idx = svc, idx
}

func (e *env) close() { e.idx.Close() }

func loadBundle(t *testing.T, name string) (*stix.Bundle, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeInput(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b, raw
}

func asValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestExamplesRoundTrip: every OASIS example bundle imports, and every
// object reads back equal (as a JSON value) to what was imported.
func TestExamplesRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 5 {
		t.Fatal("examples missing")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			b, raw := loadBundle(t, filepath.Base(f))
			if filepath.Base(f) == "interop-objectmarking-test.json" {
				// This example is a lone object whose second marking
				// reference names no definition: rejected as unknown,
				// until the node holds that marking definition.
				res, err := e.svc.ImportBundle(ctx, b)
				if err != nil || len(res.Failures) != 1 || res.Failures[0].Reason != ReasonMarking ||
					!strings.Contains(res.Failures[0].Message, "5e57c739-391a-4eb3-b6be-7d15ca92d5ec") {
					t.Fatalf("unknown marking not rejected: %+v %v", res, err)
				}
				md, err := stix.DecodeObject([]byte(`{"type":"marking-definition","spec_version":"2.1",
					"id":"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec","created":"2016-05-12T08:17:27.000Z",
					"definition_type":"statement","definition":{"statement":"Interop test marking"}}`))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.Add(ctx, md); err != nil {
					t.Fatal(err)
				}
			}
			res, err := e.svc.ImportBundle(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failures) > 0 {
				t.Fatalf("failures: %+v", res.Failures)
			}
			var in struct {
				Type    string
				Objects []json.RawMessage
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Fatal(err)
			}
			if in.Type != "bundle" {
				in.Objects = []json.RawMessage{raw}
			}
			if len(res.Successes) != len(in.Objects) {
				t.Fatalf("%d successes for %d objects", len(res.Successes), len(in.Objects))
			}
			for _, o := range in.Objects {
				var head struct{ ID string }
				_ = json.Unmarshal(o, &head)
				st, ok, err := e.svc.Current(ctx, head.ID)
				if err != nil || !ok {
					t.Fatalf("%s not stored: %v", head.ID, err)
				}
				if !reflect.DeepEqual(asValue(t, st.Object), asValue(t, o)) {
					t.Fatalf("%s differs after storage:\n in %s\nout %s", head.ID, o, st.Object)
				}
				if _, err := e.svc.sealer.VerifyJSON(st.Object, st.Signature); err != nil {
					t.Fatalf("%s: origin signature does not verify: %v", head.ID, err)
				}
			}
		})
	}
}

func TestSearchRevokeAndReindex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{
		Value: stix.Value{Kind: stix.KindIPv4, Value: "203.0.113.7"}, TLP: stix.TLPGreen, Labels: []string{"c2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Add(ctx, objs...); err != nil {
		t.Fatal(err)
	}
	cidr, err := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindIPv4, Value: "198.51.100.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Add(ctx, cidr...); err != nil {
		t.Fatal(err)
	}

	search := func(v string) []string {
		t.Helper()
		r, err := e.svc.Search(ctx, v, index.SearchOptions{Types: []string{"indicator"}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range r.Hits {
			ids = append(ids, h.ID+" "+h.Match+" "+h.TLP)
		}
		return ids
	}
	var indID string
	for _, o := range objs {
		if o.Type == "indicator" {
			indID = o.ID
		}
	}
	if got := search("203.0.113.7"); len(got) != 1 || got[0] != indID+" exact green" {
		t.Fatalf("search = %v", got)
	}
	if got := search("198.51.100.9"); len(got) != 1 || !strings.Contains(got[0], "contains amber") {
		t.Fatalf("CIDR containment (unmarked gets node default amber) = %v", got)
	}

	before, err := e.svc.Search(ctx, "198.51.100.9", index.SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(ctx, indID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := search("203.0.113.7"); len(got) != 0 {
		t.Fatalf("revoked indicator still found: %v", got)
	}
	vs, err := e.svc.Versions(ctx, indID)
	if err != nil || len(vs) != 2 || !vs[1].Revoked {
		t.Fatalf("versions after revoke: %d %v", len(vs), err)
	}

	// The index is derived: wipe and rebuild, same answers.
	n, err := e.svc.Reindex(ctx)
	if err != nil || n != len(objs)+len(cidr)+1 {
		t.Fatalf("reindex = %d, %v", n, err)
	}
	after, err := e.svc.Search(ctx, "198.51.100.9", index.SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("reindex changed answers:\n%+v\n%+v", before, after)
	}
	if got := search("203.0.113.7"); len(got) != 0 {
		t.Fatalf("revoked indicator found after reindex: %v", got)
	}
}

func TestVersionsAndOrigin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mk := func(mod string) *stix.Object {
		o, err := stix.DecodeObject([]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
			"created":"2026-01-01T00:00:00.000Z","modified":"` + mod + `","pattern":"[domain-name:value = 'evil.example']",
			"pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	store := func(o *stix.Object, origin string) Status {
		t.Helper()
		sub := Submission{Object: o}
		if origin != "" {
			raw, _ := json.Marshal(o)
			c, _ := seal.Canonicalize(raw)
			sub.Canonical, sub.Sig, sub.Origin = c, []byte("sig"), origin
		}
		res, err := e.svc.Store(ctx, []Submission{sub})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failures) > 0 {
			return res.Failures[0]
		}
		return res.Successes[0]
	}
	if st := store(mk("2026-01-02T00:00:00.000Z"), ""); st.Outcome != "stored" {
		t.Fatalf("first version: %+v", st)
	}
	if st := store(mk("2026-01-02T00:00:00.000Z"), ""); st.Outcome != "duplicate" {
		t.Fatalf("same version again: %+v", st)
	}
	if st := store(mk("2026-01-01T12:00:00.000Z"), ""); st.Outcome != "older" {
		t.Fatalf("older version: %+v", st)
	}
	if st := store(mk("2026-01-03T00:00:00.000Z"), "0000OTHERNODE"); st.Reason != ReasonNotOrigin {
		t.Fatalf("new version from another node: %+v", st)
	}
	if st := store(mk("2026-01-03T00:00:00.000Z"), ""); st.Outcome != "stored" {
		t.Fatalf("newer version from origin: %+v", st)
	}
	cur, _, _ := e.svc.Current(ctx, "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
	if !strings.Contains(string(cur.Object), "2026-01-03") {
		t.Fatalf("current = %s", cur.Object)
	}
}

func TestBadObjectsRejectedNothingStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	raw := `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
	  {"type":"indicator","spec_version":"2.0","id":"indicator--a1a1a1a1-0000-4000-8000-000000000001","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '1.2.3.4']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z"},
	  {"type":"indicator","spec_version":"2.1","id":"indicator--a1a1a1a1-0000-4000-8000-000000000002","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '1.2.3.5'","pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z"},
	  {"type":"indicator","spec_version":"2.1","id":"indicator--a1a1a1a1-0000-4000-8000-000000000003","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '1.2.3.6']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z","object_marking_refs":["marking-definition--00000000-0000-4000-8000-000000000000"]},
	  {"type":"indicator","spec_version":"2.1","id":"indicator--a1a1a1a1-0000-4000-8000-000000000004","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '1.2.3.7']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z"}
	]}`
	b, err := stix.DecodeBundle(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.ImportBundle(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Successes) != 1 || len(res.Failures) != 3 {
		t.Fatalf("result = %+v", res)
	}
	want := map[string]string{"0001": ReasonSpecVersion, "0002": ReasonPattern, "0003": ReasonMarking}
	for _, f := range res.Failures {
		if want[f.ID[len(f.ID)-4:]] != f.Reason || f.Property == "" {
			t.Errorf("failure %+v", f)
		}
	}
	for _, v := range []string{"1.2.3.4", "1.2.3.5", "1.2.3.6"} {
		r, err := e.svc.Search(ctx, v, index.SearchOptions{})
		if err != nil || len(r.Hits) != 0 {
			t.Errorf("rejected object searchable by %s: %+v %v", v, r.Hits, err)
		}
	}
}

// TestCrashBetweenSegmentAndIndex: a segment stored but not indexed (a crash
// after the PUT) is indexed on the next start.
func TestCrashBetweenSegmentAndIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindDomain, Value: "crash.example"}})
	if err != nil {
		t.Fatal(err)
	}
	// Write the segment the way commit does, but "crash" before indexing.
	raw, _ := json.Marshal(objs[0])
	c, sig, err := e.svc.sealer.SignJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.seg.Append(ctx, []segment.Record{{Object: c, Sig: sig, Origin: e.id.Fingerprint(), Added: time.Now().UTC(), TLP: "amber"}}); err != nil {
		t.Fatal(err)
	}
	e.close()
	e.open(t)
	r, err := e.svc.Search(ctx, "crash.example", index.SearchOptions{})
	if err != nil || len(r.Hits) != 1 {
		t.Fatalf("after restart: %+v %v", r, err)
	}
}
