package federation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/stix"
)

// apiGet calls the node's API with its admin token and decodes the JSON
// answer into v; it returns the status and the Content-Type.
func (tn *testNode) apiGet(path string, v any) (int, string) {
	tn.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tn.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+tn.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			tn.t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("Content-Type")
}

// newVersion returns o with a later modified and a changed name.
func newVersion(t *testing.T, o *stix.Object, after time.Duration, name string) *stix.Object {
	t.Helper()
	v := o.Clone()
	if err := v.Set("modified", stix.NewTimestamp(o.Modified.Time().Add(after))); err != nil {
		t.Fatal(err)
	}
	if err := v.Set("name", name); err != nil {
		t.Fatal(err)
	}
	return v
}

// servedOnce makes fp serve each batch once, in turn, then empty batches.
// It returns how many feed requests were answered so far.
func servedOnce(fp *fakePeer, tn *testNode, batches ...[]wire.Record) func() int {
	key, _ := tn.n.Identity.PublicEntity()
	var next atomic.Int32
	fp.serve(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, wire.PathFeed) {
			w.WriteHeader(http.StatusNoContent) // a notice
			return
		}
		i := int(next.Add(1)) - 1
		if i < len(batches) {
			fp.batch(w, r, key, batches[i])
			return
		}
		fp.batch(w, r, key, nil)
	})
	return func() int { return int(next.Load()) }
}

// TestConflictsWithAnyVersion: other content under the id and modified of
// any held version — not only the current one, and from another origin
// too — is kept, flagged and counted once, never stored, and listed for
// operators; bad parameters are problems and change nothing.
func TestConflictsWithAnyVersion(t *testing.T) {
	b := startNode(t, "b")
	f := newFakePeer(t)
	o := newFakePeer(t) // a third node whose objects f relays
	o.pin(b, "o", policy.Policy{MaxTLP: "green"})

	v1 := indicatorObject(t, stix.TLPGreen)
	v2 := newVersion(t, v1, time.Second, "second")
	c1, s1 := f.signed(v1)
	c2, s2 := f.signed(v2)
	now := time.Now().UTC()
	// Against the older version v1: other content, same modified.
	old := v1.Clone()
	_ = old.Set("name", "not what f wrote at v1")
	cOld, sOld := f.signed(old)
	// From another origin, under v2's id and modified.
	third := v2.Clone()
	_ = third.Set("name", "o's take")
	cThird, sThird := o.signed(third)
	clash := []wire.Record{
		{Object: cOld, Sig: sOld, Origin: f.fpr(), TLP: "green", Added: now},
		{Object: cThird, Sig: sThird, Origin: o.fpr(), Path: []string{f.fpr()}, TLP: "green", Added: now},
	}
	served := servedOnce(f, b,
		[]wire.Record{{Object: c1, Sig: s1, Origin: f.fpr(), TLP: "green", Added: now}, {Object: c2, Sig: s2, Origin: f.fpr(), TLP: "green", Added: now}},
		clash, clash)
	f.pin(b, "f", policy.Policy{MaxTLP: "green", Relay: true})

	// Pulls may be periodic or forced; go on until every batch is served
	// and stored.
	for i := 0; served() <= 3; i++ {
		if i == 20 {
			t.Fatalf("only %d feed requests answered", served())
		}
		b.sync("f")
	}
	// A periodic pull may still be storing the last batch.
	waitFor(t, "both clash batches stored", 10*time.Second, func() bool {
		return b.metric(`kurier_federation_received_total{outcome="conflict",peer="f"}`) == 4
	})
	for series, want := range map[string]float64{
		`kurier_federation_received_total{outcome="stored",peer="f"}`:    2,
		`kurier_federation_conflicts_total{peer="f"}`:                    2, // flagged once each
		`kurier_federation_rejected_total{peer="f",reason="not_origin"}`: 0,
	} {
		if got := b.metric(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	vs, err := b.n.Indicators.Versions(context.Background(), v1.ID)
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions held: %d (%v), want 2", len(vs), err)
	}
	for _, v := range vs {
		if v.Origin != f.fpr() || strings.Contains(string(v.Object), "not what") || strings.Contains(string(v.Object), "o's take") {
			t.Fatalf("a conflicting version was stored: %s", v.Object)
		}
	}

	type conflictList struct {
		Conflicts []Conflict `json:"conflicts"`
		Next      string     `json:"next"`
	}
	var list conflictList
	if code, _ := b.apiGet("/api/v1/federation/conflicts?objects=true", &list); code != http.StatusOK || len(list.Conflicts) != 2 || list.Next != "" {
		t.Fatalf("conflicts listed: %d %+v", code, list)
	}
	byOrigin := map[string]Conflict{}
	for _, c := range list.Conflicts {
		byOrigin[c.Origin] = c
	}
	if c := byOrigin[f.fpr()]; !c.Modified.Equal(v1.Modified.Time()) || c.StoredOrigin != f.fpr() || c.Peer != "f" || !strings.Contains(string(c.Object), "not what") {
		t.Errorf("conflict with the older version: %+v", c)
	}
	if c := byOrigin[o.fpr()]; !c.Modified.Equal(v2.Modified.Time()) || c.StoredOrigin != f.fpr() || !slices.Equal(c.Path, []string{f.fpr()}) || c.SHA256 == c.StoredSHA256 {
		t.Errorf("conflict from another origin: %+v", c)
	}
	// Paged, one at a time.
	list = conflictList{}
	if code, _ := b.apiGet("/api/v1/federation/conflicts?limit=1", &list); code != http.StatusOK || len(list.Conflicts) != 1 || list.Next == "" || list.Conflicts[0].Object != nil {
		t.Fatalf("first page: %d %+v", code, list)
	}
	after := list.Next
	list = conflictList{}
	if code, _ := b.apiGet("/api/v1/federation/conflicts?limit=1&after="+after, &list); code != http.StatusOK || len(list.Conflicts) != 1 || list.Next != "" {
		t.Fatalf("second page: %d %+v", code, list)
	}
	list = conflictList{}
	if code, _ := b.apiGet("/api/v1/federation/conflicts?id="+v1.ID, &list); code != http.StatusOK || len(list.Conflicts) != 2 {
		t.Fatalf("by id: %d %+v", code, list)
	}
	before := b.metric(`kurier_http_problems_total{type="bad-request"}`)
	for _, q := range []string{"id=nonsense", "limit=0", "limit=x", "after=elsewhere/"} {
		var p problem.Problem
		code, ct := b.apiGet("/api/v1/federation/conflicts?"+q, &p)
		if code != http.StatusBadRequest || ct != problem.MediaType || p.Type != problem.BadRequest {
			t.Errorf("?%s: %d %s %+v", q, code, ct, p)
		}
	}
	if got := b.metric(`kurier_http_problems_total{type="bad-request"}`); got != before+4 {
		t.Errorf("bad requests counted: %v, want %v", got, before+4)
	}
}

// TestProvenanceSeveralPaths: A's objects reaching C through B (relay)
// and then from A directly are stored once, with one provenance record per
// path; the same path again adds nothing, and nothing is sent back along
// either path.
func TestProvenanceSeveralPaths(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b")
	c := startNode(t, "c")
	a.peer(b, policy.Policy{MaxTLP: "green"})
	b.peer(a, policy.Policy{MaxTLP: "green"})
	b.peer(c, policy.Policy{MaxTLP: "green", Relay: true})
	c.peer(b, policy.Policy{MaxTLP: "green", Relay: true})

	// C first gets A's objects through B (B's notice wakes C's pull),
	// then A and C peer directly and C gets them from A as well.
	x := a.indicator(stix.TLPGreen)
	y := a.indicator(stix.TLPGreen)
	b.sync("a")
	c.sync("b")
	waitFor(t, "C holding A's objects via B", 10*time.Second, func() bool { return c.visible(x) && c.visible(y) })
	a.peer(c, policy.Policy{MaxTLP: "green"})
	c.peer(a, policy.Policy{MaxTLP: "green"})
	c.sync("a")
	waitFor(t, "C recording the direct path", 10*time.Second, func() bool {
		return c.metric(`kurier_federation_provenance_total{peer="a"}`) == 2
	})
	for series, want := range map[string]float64{
		`kurier_federation_received_total{outcome="stored",peer="b"}`:    2,
		`kurier_federation_received_total{outcome="stored",peer="a"}`:    0,
		`kurier_federation_received_total{outcome="duplicate",peer="a"}`: 2,
		`kurier_federation_conflicts_total{peer="a"}`:                    0,
	} {
		if got := c.metric(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, id := range []string{x, y} {
		vs, err := c.n.Indicators.Versions(context.Background(), id)
		if err != nil || len(vs) != 1 {
			t.Fatalf("%s stored %d times (%v), want once", id, len(vs), err)
		}
		var op ObjectProvenance
		if code, _ := c.apiGet("/api/v1/federation/objects/"+id+"/provenance", &op); code != http.StatusOK || len(op.Versions) != 1 {
			t.Fatalf("provenance of %s: %d %+v", id, code, op)
		}
		recs := op.Versions[0].Records
		if len(recs) != 2 {
			t.Fatalf("provenance of %s: %+v, want 2 records", id, recs)
		}
		primary, other := recs[0], recs[1]
		if !primary.Primary || primary.Origin != a.fpr() || !slices.Equal(primary.Path, []string{b.fpr()}) || primary.ReceivedFrom != b.fpr() || primary.Peer != "b" {
			t.Errorf("stored record of %s: %+v, want origin A via [B]", id, primary)
		}
		if other.Primary || other.Origin != a.fpr() || len(other.Path) != 0 || other.ReceivedFrom != a.fpr() || other.Peer != "a" {
			t.Errorf("second record of %s: %+v, want origin A directly", id, other)
		}
	}
	// The same paths again record nothing more.
	if err := os.Remove(c.f.cursors.path("a")); err != nil {
		t.Fatal(err)
	}
	c.sync("a")
	if got := c.metric(`kurier_federation_received_total{outcome="duplicate",peer="a"}`); got < 4 {
		t.Fatalf("A's feed again: %v duplicates, want 4", got)
	}
	if got := c.metric(`kurier_federation_provenance_total{peer="a"}`); got != 2 {
		t.Errorf("the same paths again: provenance counted %v, want 2", got)
	}
	// Loop prevention holds: neither B nor A gets anything back from C.
	if res := b.sync("c"); res.Records != 0 {
		t.Fatalf("B got %d records back from C", res.Records)
	}
	if res := a.sync("c"); res.Records != 0 {
		t.Fatalf("A got %d records back from C", res.Records)
	}
	var p problem.Problem
	if code, ct := c.apiGet("/api/v1/federation/objects/indicator--00000000-0000-4000-8000-000000000000/provenance", &p); code != http.StatusNotFound || ct != problem.MediaType {
		t.Errorf("provenance of an unknown object: %d %s", code, ct)
	}
	if code, _ := c.apiGet("/api/v1/federation/objects/nonsense/provenance", &p); code != http.StatusBadRequest || p.Type != problem.BadRequest {
		t.Errorf("provenance of a bad id: %d %+v", code, p)
	}
}

// TestVersionNotByOriginRefused: over federation, a new version of A's
// object issued by another node (signed by it as origin), or claiming A as
// origin without A's signature, is refused and counted; C keeps A's
// version.
func TestVersionNotByOriginRefused(t *testing.T) {
	a := startNode(t, "a")
	c := startNode(t, "c")
	a.peer(c, policy.Policy{MaxTLP: "green"})
	c.peer(a, policy.Policy{MaxTLP: "green"})
	id := a.indicator(stix.TLPGreen)
	c.sync("a")
	st, ok, err := c.n.Indicators.Current(context.Background(), id)
	if err != nil || !ok {
		t.Fatal("C lacks A's object", err)
	}
	orig, err := stix.DecodeObject(st.Object)
	if err != nil {
		t.Fatal(err)
	}
	m := newFakePeer(t) // a relay peer of C that tries to rewrite A's object
	later := newVersion(t, orig, time.Minute, "rewritten by m")
	cm, sm := m.signed(later)
	now := time.Now().UTC()
	servedOnce(m, c, []wire.Record{
		{Object: cm, Sig: sm, Origin: m.fpr(), TLP: "green", Added: now},                          // m as origin of A's object
		{Object: cm, Sig: sm, Origin: a.fpr(), Path: []string{m.fpr()}, TLP: "green", Added: now}, // A as origin, m's signature
	})
	m.pin(c, "m", policy.Policy{MaxTLP: "green", Relay: true})
	c.sync("m")
	c.sync("m")
	for series, want := range map[string]float64{
		`kurier_federation_rejected_total{peer="m",reason="not_origin"}`:    1,
		`kurier_federation_rejected_total{peer="m",reason="bad_signature"}`: 1,
	} {
		if got := c.metric(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	cur, ok, err := c.n.Indicators.Current(context.Background(), id)
	if err != nil || !ok || cur.Origin != a.fpr() || !cur.Version.Equal(orig.Modified.Time()) {
		t.Fatalf("C's current version: origin %s version %s (%v), want A's", cur.Origin, cur.Version, err)
	}
}

// TestRecordVersion: a record's version is read back from its key for
// versions on either side of 1970 (negative UnixNano has a '-' of its
// own).
func TestRecordVersion(t *testing.T) {
	tag := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	for _, tc := range []struct {
		name    string
		version time.Time
	}{
		{"after 1970", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		{"epoch", time.Unix(0, 0)},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)},
		{"long before 1970", time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
			key := recordKey(provenancePrefix, id, tc.version, tag)
			got, ok := recordVersion(strings.TrimPrefix(key, provenancePrefix+id+"/"))
			if want := versionNanos(tc.version); !ok || got != want {
				t.Fatalf("recordVersion of %s = %q, %v; want %q", key, got, ok, want)
			}
		})
	}
	for _, name := range []string{"", "nodash.json", "-0123456789abcdef.json"} {
		if got, ok := recordVersion(name); ok {
			t.Errorf("recordVersion(%q) = %q, want none", name, got)
		}
	}
}
