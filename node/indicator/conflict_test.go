package indicator

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestImportConflict: importing a bundle again answers "duplicate" for
// every object; an object with the id and modified of a held version but
// other content is refused as a conflict (named, counted) and the held
// version stays as it was.
func TestImportConflict(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b, raw := loadBundle(t, "indicators-for-C2-with-COA.json")
	first, err := e.svc.ImportBundle(ctx, b)
	if err != nil || len(first.Failures) != 0 {
		t.Fatalf("first import: %v %+v", err, first.Failures)
	}
	b, _ = DecodeInput(raw)
	again, err := e.svc.ImportBundle(ctx, b)
	if err != nil || len(again.Failures) != 0 {
		t.Fatalf("second import: %v %+v", err, again.Failures)
	}
	for _, s := range again.Successes {
		if s.Outcome != "duplicate" {
			t.Fatalf("second import: %s is %q, want duplicate", s.ID, s.Outcome)
		}
	}

	// An object the record encoder escapes (<, >, &) is still the same
	// content when sent again.
	esc := []byte(`{"type":"bundle","id":"bundle--6a3b1f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b","objects":[{"type":"indicator","spec_version":"2.1",` +
		`"id":"indicator--0f6b3d7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",` +
		`"name":"big & <odd> files","pattern":"[file:size > 10]","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}]}`)
	for i, want := range []string{"stored", "duplicate"} {
		b, err := DecodeInput(esc)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.ImportBundle(ctx, b)
		if err != nil || len(res.Failures) != 0 || len(res.Successes) != 1 || res.Successes[0].Outcome != want {
			t.Fatalf("import %d of an escaped object: %v %+v, want %s", i+1, err, res, want)
		}
	}

	// The same id and modified, another name.
	changed := bytes.Replace(raw, []byte(`"name": "IP Address for known C2 channel"`), []byte(`"name": "IP Address for known C2 channel (edited)"`), 1)
	if bytes.Equal(changed, raw) {
		t.Fatal("fixture changed: no indicator name to edit")
	}
	b, err = DecodeInput(changed)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.ImportBundle(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) != 1 || res.Failures[0].Reason != ReasonConflict || !strings.Contains(res.Failures[0].Message, "already held with other content") {
		t.Fatalf("edited import: %+v", res.Failures)
	}
	id := res.Failures[0].ID
	for _, s := range res.Successes {
		if s.ID == id {
			t.Fatalf("%s reported as a success too: %+v", id, s)
		}
	}
	vs, err := e.svc.Versions(ctx, id)
	if err != nil || len(vs) != 1 || bytes.Contains(vs[0].Object, []byte("(edited)")) {
		t.Fatalf("held versions of %s after the conflict: %d %v", id, len(vs), err)
	}
	if n := testutil.ToFloat64(e.svc.m.rejected.WithLabelValues(ReasonConflict)); n != 1 {
		t.Fatalf("rejected{conflict} = %v, want 1", n)
	}
}
