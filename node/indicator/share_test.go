package indicator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/stix"
)

func quick(t *testing.T, value string, tlp stix.TLP) *stix.Object {
	t.Helper()
	objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindURL, Value: value}, TLP: tlp})
	if err != nil {
		t.Fatal(err)
	}
	return objs[0]
}

// TestObserveLoadRemark covers what federation uses: observers see each
// commit with date_added; Load reads exactly the canonical bytes signed
// (even with characters the segment encoder escapes); Remark re-marks an
// object as a new version, only on its origin.
func TestObserveLoadRemark(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	var seen []index.Entry
	e.svc.Observe(func(es []index.Entry) {
		mu.Lock()
		seen = append(seen, es...)
		mu.Unlock()
	})
	o := quick(t, "http://evil.example/a?b=1&c=<2>", stix.TLPGreen)
	if _, err := e.svc.Add(ctx, o); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0].ID != o.ID || seen[0].Added.IsZero() {
		t.Fatalf("observer saw %+v", seen)
	}
	mu.Unlock()

	page, err := e.svc.Entries(index.Query{IDs: []string{o.ID}})
	if err != nil || len(page.Entries) != 1 {
		t.Fatal(err)
	}
	st, err := e.svc.Load(ctx, page.Entries)
	if err != nil || len(st) != 1 {
		t.Fatal(err)
	}
	if _, err := e.svc.sealer.VerifyJSON(st[0].Object, st[0].Signature); err != nil {
		t.Fatalf("loaded object does not verify: %v", err)
	}
	// A stale index entry pointing at another object's record is refused.
	other := quick(t, "http://other.example/", stix.TLPGreen)
	if _, err := e.svc.Add(ctx, other); err != nil {
		t.Fatal(err)
	}
	op, _ := e.svc.Entries(index.Query{IDs: []string{other.ID}})
	bad := page.Entries[0]
	bad.Loc = op.Entries[0].Loc
	if _, err := e.svc.Load(ctx, []index.Entry{bad}); err == nil {
		t.Fatal("Load accepted a record of another object")
	}

	nv, err := e.svc.Remark(ctx, o.ID, stix.TLPRed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tlp, _ := stix.TLPOf(nv); tlp != stix.TLPRed || !nv.Modified.Time().After(o.Modified.Time()) {
		t.Fatalf("remarked: %v %v", tlp, nv.Modified)
	}
	cur, _, _ := e.idx.Current(o.ID)
	if cur.TLP != "red" {
		t.Fatalf("current TLP %s", cur.TLP)
	}
	if _, err := e.svc.Remark(ctx, "indicator--00000000-0000-4000-8000-000000000000", stix.TLPRed, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown object: %v", err)
	}
}
