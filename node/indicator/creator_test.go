package indicator

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kurier/kurier/node/stix"
)

// thirdParty is an object of an OASIS example whose created_by_ref names a
// producer other than this node.
const (
	thirdPartyID      = "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111"
	thirdPartyCreator = "identity--f690c992-8e7d-4b9a-9303-3312616c0220"
)

func importCOA(t *testing.T, e *env) {
	t.Helper()
	b, _ := loadBundle(t, "indicators-for-C2-with-COA.json")
	res, err := e.svc.ImportBundle(context.Background(), b)
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("import: %v %+v", err, res.Failures)
	}
}

// TestRevokeRemarkThirdParty: an imported object this node is the origin
// of, but whose created_by_ref names another producer, is never versioned
// here: revoke and remark fail with ErrNotCreator and nothing is stored.
func TestRevokeRemarkThirdParty(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	importCOA(t, e)
	cur, ok, err := e.svc.Current(ctx, thirdPartyID)
	if err != nil || !ok || cur.Origin != e.svc.Fingerprint() {
		t.Fatalf("imported object: ok=%v origin=%s err=%v", ok, cur.Origin, err)
	}
	if _, err := e.svc.Revoke(ctx, thirdPartyID, time.Now()); !errors.Is(err, ErrNotCreator) || !errors.Is(err, ErrNotOrigin) {
		t.Fatalf("revoke of a third party's object: %v", err)
	} else if !strings.Contains(err.Error(), thirdPartyCreator) {
		t.Errorf("error does not name the creator: %v", err)
	}
	if _, err := e.svc.Remark(ctx, thirdPartyID, stix.TLPRed, time.Now()); !errors.Is(err, ErrNotCreator) {
		t.Fatalf("remark of a third party's object: %v", err)
	}
	vs, err := e.svc.Versions(ctx, thirdPartyID)
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions after refused revoke/remark: %d %v", len(vs), err)
	}
	if n := testutil.ToFloat64(e.svc.m.rejected.WithLabelValues(ReasonNotCreator)); n != 2 {
		t.Errorf("rejected{not_creator} = %v, want 2", n)
	}

	// An object with no created_by_ref that this node published stays its own.
	o := quick(t, "http://own.example/", stix.TLPGreen)
	if _, err := e.svc.Add(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(ctx, o.ID, time.Now()); err != nil {
		t.Fatalf("revoke own object: %v", err)
	}
}

// TestRevokeAsConfiguredCreator: objects created by one of the node's own
// STIX identities (Options.CreatorRefs) may be versioned here.
func TestRevokeAsConfiguredCreator(t *testing.T) {
	e := newEnvWith(t, []string{thirdPartyCreator})
	ctx := context.Background()
	importCOA(t, e)
	nv, err := e.svc.Revoke(ctx, thirdPartyID, time.Now())
	if err != nil || !nv.Revoked || nv.CreatedByRef != thirdPartyCreator {
		t.Fatalf("revoke as creator: %v %+v", err, nv)
	}
}

// TestIngestCreatorRule: a version whose created_by_ref differs from the
// held object's is refused (not_creator), whether the object is already
// stored or an earlier version came in the same bundle; nothing of it is
// stored.
func TestIngestCreatorRule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mk := func(id, modified, creator string) *stix.Object {
		t.Helper()
		by := ""
		if creator != "" {
			by = `,"created_by_ref":"` + creator + `"`
		}
		o, err := stix.DecodeObject(json.RawMessage(`{"type":"indicator","spec_version":"2.1","id":"` + id + `",` +
			`"created":"2026-01-01T00:00:00.000Z","modified":"` + modified + `","pattern":"[ipv4-addr:value = '192.0.2.9']",` +
			`"pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"` + by + `}`))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	const (
		id      = "indicator--5b1f7a53-62a1-4b5e-8c52-0d2f1b6a0c11"
		id2     = "indicator--5b1f7a53-62a1-4b5e-8c52-0d2f1b6a0c12"
		creator = "identity--8c6af861-7b20-41ef-9b59-6344fd872a8f"
		other   = "identity--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	)
	imp := func(objs ...*stix.Object) Result {
		t.Helper()
		res, err := e.svc.ImportBundle(ctx, stix.NewBundle(objs...))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := imp(mk(id, "2026-01-01T00:00:00.000Z", creator)); len(res.Failures) != 0 {
		t.Fatalf("first version: %+v", res.Failures)
	}
	for _, by := range []string{other, ""} {
		res := imp(mk(id, "2026-02-01T00:00:00.000Z", by))
		if len(res.Failures) != 1 || res.Failures[0].Reason != ReasonNotCreator || res.Failures[0].Property != "created_by_ref" {
			t.Fatalf("newer version by %q: %+v", by, res)
		}
	}
	vs, _ := e.svc.Versions(ctx, id)
	if len(vs) != 1 {
		t.Fatalf("%d versions stored, want 1", len(vs))
	}
	if res := imp(mk(id, "2026-03-01T00:00:00.000Z", creator)); len(res.Failures) != 0 || res.Successes[0].Outcome != "stored" {
		t.Fatalf("newer version by the creator: %+v", res)
	}

	// Two versions of a new object in one Store call (as a federation
	// batch carries them; a bundle refuses duplicate ids), by different
	// creators: the second is judged against the first.
	res, err := e.svc.Store(ctx, []Submission{{Object: mk(id2, "2026-01-01T00:00:00.000Z", creator)}, {Object: mk(id2, "2026-02-01T00:00:00.000Z", other)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Successes) != 1 || len(res.Failures) != 1 || res.Failures[0].Reason != ReasonNotCreator {
		t.Fatalf("one call, two creators: %+v", res)
	}
	if vs, _ := e.svc.Versions(ctx, id2); len(vs) != 1 || strings.Contains(string(vs[0].Object), other) {
		t.Fatalf("stored %d versions of %s", len(vs), id2)
	}
	if n := testutil.ToFloat64(e.svc.m.rejected.WithLabelValues(ReasonNotCreator)); n != 2 {
		t.Errorf("rejected{not_creator} = %v, want 2 (imports; Store alone does not count)", n)
	}
}
