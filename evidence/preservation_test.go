package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
	"github.com/kurier/kurier/node/store/storetest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestPreservationLocks: legal hold and the retention floor follow from a
// preservation applying — a preservation request, its confirmation, and a
// disclosure answering it, with no retention.legal_hold in any manifest —
// on both nodes, A on the embedded store and B on MinIO. Held items and
// custody events cannot be deleted even bypassing governance, and are
// kept at least until the preservation ends (preserve_until, 90 days,
// beyond the configured 30-day retention). A spontaneous information is
// not preserved data: no hold, the configured retention, and still its
// custody events cannot be deleted.
func TestPreservationLocks(t *testing.T) {
	a, b, _ := identities(t)
	const retention = 30 * 24 * time.Hour
	nodeA := newNodeRetention(t, a, "kurier-de", "DE", fsBucket(t), retention, b)
	nodeB := newNodeRetention(t, b, "kurier-fr", "FR", minioBucket(t), retention, a)
	accepted := func(from, to *testNode, id string) {
		t.Helper()
		if rb, err := send(t, from, to, id); err != nil || rb.Result != ResultAccepted {
			t.Fatalf("send %s: %v %+v", id, err, rb)
		}
	}
	req := preservationRequest(a, b)
	create(t, nodeA, req, map[string]io.Reader{"request.pdf": strings.NewReader("%PDF request")})
	accepted(nodeA, nodeB, req.ID)
	conf := answer(req, b, PreservationConfirmation)
	conf.Retention = Retention{} // the helper asks for a hold; here nothing does
	create(t, nodeB, conf, map[string]io.Reader{"confirmation.pdf": strings.NewReader("%PDF preserved")})
	accepted(nodeB, nodeA, conf.ID)
	disc := answer(req, b, EvidenceDisclosure)
	create(t, nodeB, disc, map[string]io.Reader{"mailbox.mbox": storetest.Pattern(3, 300<<10)})
	accepted(nodeB, nodeA, disc.ID)
	info := preservationRequest(b, a)
	info.Type, info.LegalBasis, info.Sender.Role, info.Deadlines = SpontaneousInformation, LegalBasis{Instrument: "ETS-185", Article: "26"}, RoleCentralAuthority, Deadlines{}
	create(t, nodeB, info, map[string]io.Reader{"kit.zip": strings.NewReader("phishing kit")})
	accepted(nodeB, nodeA, info.ID)

	preserveUntil := req.Deadlines.PreserveUntil.Time.Add(-time.Minute)
	for _, c := range []struct {
		n    *testNode
		id   string
		hold bool
	}{
		{nodeA, req.ID, true}, {nodeB, req.ID, true}, {nodeB, conf.ID, true}, {nodeA, conf.ID, true},
		{nodeB, disc.ID, true}, {nodeA, disc.ID, true}, {nodeB, info.ID, false}, {nodeA, info.ID, false},
	} {
		where := c.n.svc.nodeName + "/" + c.id
		minUntil, maxUntil := preserveUntil, time.Time{}
		if !c.hold {
			minUntil, maxUntil = time.Now().Add(retention-time.Hour), time.Now().Add(retention+time.Hour)
		}
		p, err := c.n.svc.pkg(c.id)
		if err != nil {
			t.Fatal(err)
		}
		if p.hold != c.hold {
			t.Fatalf("%s: legal hold %v, want %v", where, p.hold, c.hold)
		}
		kinds := map[string]int{}
		for _, ref := range lockedObjects(t, c.n, c.id) {
			checkLocked(t, c.n.bucket, where, ref, c.hold, minUntil, maxUntil)
			kinds[objectKind(c.id, ref.Key)]++
		}
		want := []string{"index", "manifest", "signature", "item", "item-record", "custody"}
		if p.rec.Direction == Outgoing {
			want = append(want, "receipt") // filed by the sender
		}
		for _, k := range want {
			if kinds[k] == 0 {
				t.Fatalf("%s: no locked %s among %v", where, k, kinds)
			}
		}
		// What stays unlocked: the wrapped key (disposal destroys it) and
		// the draft.
		for _, key := range []string{keyPkg(c.id, "key.pgp"), keyPkg(c.id, "draft.json")} {
			info, err := c.n.bucket.Stat(context.Background(), key, "")
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			ret, _ := c.n.bucket.GetRetention(context.Background(), key, info.VersionID)
			held, _ := c.n.bucket.LegalHold(context.Background(), key, info.VersionID)
			if ret != nil || held {
				t.Fatalf("%s: %s is locked (%+v, hold %v): it must stay deletable", where, key, ret, held)
			}
		}
	}
	// The chains still verify: nothing was removed.
	for _, n := range []*testNode{nodeA, nodeB} {
		for _, id := range []string{req.ID, conf.ID, disc.ID, info.ID} {
			if rep, err := n.svc.Verify(context.Background(), liaison, id); err != nil || !rep.OK {
				t.Fatalf("verify %s on %s: %v %+v", id, n.svc.nodeName, err, rep)
			}
		}
	}
	// A delete marker, which no lock prevents, hides the last event from
	// listing. After a restart the node would write its next event into
	// the hidden event's key: it refuses (counted), verify still names the
	// cut, and the key keeps exactly the one hidden version.
	for _, n := range []*testNode{nodeA, nodeB} {
		p, _ := n.svc.pkg(info.ID)
		last := p.last.Event.Seq
		key := keyCustody(info.ID, last)
		if err := n.bucket.Delete(context.Background(), key, store.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		restarted := newNode(t, n.id, n.svc.nodeName, n.svc.country, n.bucket, a, b)
		for range 2 {
			rep, err := restarted.svc.Verify(context.Background(), liaison, info.ID)
			problems := strings.Join(rep.Problems, "; ")
			if err != nil || rep.OK || len(rep.Hidden) != 1 || !strings.Contains(rep.Hidden[0], fmt.Sprintf("custody event %d has", last)) ||
				!strings.Contains(problems, "could not be recorded") {
				t.Fatalf("%s: verify after hiding event %d: %v %+v", n.svc.nodeName, last, err, rep)
			}
		}
		_, err := restarted.svc.Custody(context.Background(), liaison, info.ID)
		var se *SlotError
		if !errors.As(err, &se) || !errors.Is(err, ErrCustodySlot) || !se.Hidden || se.Seq != last || !strings.Contains(err.Error(), "delete marker") {
			t.Fatalf("%s: reading the custody log after the cut: %v", n.svc.nodeName, err)
		}
		vs, err := n.bucket.Versions(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		stored := 0
		for _, v := range vs {
			if !v.DeleteMarker {
				stored++
			}
		}
		if stored != 1 {
			t.Fatalf("%s: custody key %s holds %d stored versions: the chain was rewritten", n.svc.nodeName, key, stored)
		}
		if got := testutil.ToFloat64(restarted.svc.m.slotRefused.WithLabelValues(slotHidden)); got != 3 {
			t.Fatalf("%s: %v refused appends counted, want 3", n.svc.nodeName, got)
		}
	}
}

// lockedObjects lists every stored object of package id that must be
// locked: the index record, the items' versions, and the current version
// of every other object under pkg/<id>/ but the wrapped key and the draft.
func lockedObjects(t *testing.T, n *testNode, id string) []ObjectRef {
	t.Helper()
	ctx := context.Background()
	p, err := n.svc.pkg(id)
	if err != nil {
		t.Fatal(err)
	}
	var refs []ObjectRef
	for _, ir := range p.items {
		refs = append(refs, ir.Object)
	}
	keys := []string{keyIndex(id)}
	for info, err := range n.bucket.List(ctx, keyPkg(id, ""), "") {
		if err != nil {
			t.Fatal(err)
		}
		if !unlocked(id, info.Key) && !strings.HasSuffix(info.Key, "/data") {
			keys = append(keys, info.Key)
		}
	}
	for _, key := range keys {
		info, err := n.bucket.Stat(ctx, key, "")
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ObjectRef{Key: key, Version: info.VersionID})
	}
	return refs
}

// objectKind names what a package's object is, from its key.
func objectKind(id, key string) string {
	rest := strings.TrimPrefix(key, keyPkg(id, ""))
	switch {
	case key == keyIndex(id):
		return "index"
	case rest == "manifest.json":
		return "manifest"
	case rest == "manifest.json.sig":
		return "signature"
	case strings.HasSuffix(key, "/record.json"):
		return "item-record"
	case strings.HasPrefix(rest, "custody/"):
		return "custody"
	case strings.HasPrefix(rest, "receipts/"):
		return "receipt"
	case strings.HasSuffix(key, "/data") || strings.HasPrefix(key, prefixTransfers):
		return "item"
	}
	return "other: " + key
}

// checkLocked checks one stored version's lock: legal hold as wanted,
// governance retention until at least minUntil (and at most maxUntil if
// set), and that deleting it fails — bypassing governance too when held.
func checkLocked(t *testing.T, b store.Bucket, where string, ref ObjectRef, hold bool, minUntil, maxUntil time.Time) {
	t.Helper()
	ctx := context.Background()
	if got, err := b.LegalHold(ctx, ref.Key, ref.Version); err != nil || got != hold {
		t.Fatalf("%s: %s legal hold %v (%v), want %v", where, ref.Key, got, err, hold)
	}
	ret, err := b.GetRetention(ctx, ref.Key, ref.Version)
	if err != nil || ret == nil || ret.Mode != store.Governance || ret.Until.Before(minUntil) || (!maxUntil.IsZero() && ret.Until.After(maxUntil)) {
		t.Fatalf("%s: %s retention %+v (%v), want governance from %s to %s", where, ref.Key, ret, err, minUntil, maxUntil)
	}
	opts := []store.DeleteOptions{{VersionID: ref.Version}}
	if hold {
		opts = append(opts, store.DeleteOptions{VersionID: ref.Version, BypassGovernance: true})
	}
	for _, o := range opts {
		if err := b.Delete(ctx, ref.Key, o); !errors.Is(err, store.ErrLocked) {
			t.Fatalf("%s: delete %s %+v: %v, want ErrLocked", where, ref.Key, o, err)
		}
	}
}

// TestAnswersAndExpiry: the requested node's copy of a request follows
// the answers it sends (verified -> preserved on sending the
// confirmation); an ended preservation shows as overdue in its last 14
// days, then the request expires on both nodes (with an injected clock),
// recorded by the deadline sweep in a chain that still verifies, and the
// state survives a restart; a request whose production is pending does
// not expire (Art. 29(7)).
func TestAnswersAndExpiry(t *testing.T) {
	a, b, _ := identities(t)
	ctx := context.Background()
	nodeA := newNode(t, a, "kurier-de", "DE", fsBucket(t), b)
	nodeB := newNode(t, b, "kurier-fr", "FR", fsBucket(t), a)
	req := preservationRequest(a, b)
	pending := preservationRequest(a, b)
	for _, m := range []*Manifest{req, pending} {
		create(t, nodeA, m, nil)
		if _, err := send(t, nodeA, nodeB, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if st := state(t, nodeB, req.ID); st != Verified {
		t.Fatalf("B's copy is %s", st)
	}
	conf := answer(req, b, PreservationConfirmation)
	create(t, nodeB, conf, nil)
	if st := state(t, nodeB, req.ID); st != Verified {
		t.Fatalf("B's copy is %s before the confirmation is sent", st)
	}
	if _, err := send(t, nodeB, nodeA, conf.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{nodeA, nodeB} {
		if st := state(t, n, req.ID); st != Preserved {
			t.Fatalf("%s: request is %s after the confirmation", n.svc.nodeName, st)
		}
	}
	for _, n := range []*testNode{nodeA, nodeB} {
		if _, err := n.svc.Transition(ctx, liaison, pending.ID, ProductionPending, "MLA request 2026/77 sent by post"); err != nil {
			t.Fatal(err)
		}
	}

	// 80 days on: the preservation ends within 14 days — overdue, not expired.
	for _, n := range []*testNode{nodeA, nodeB} {
		n.clock.advance(80 * 24 * time.Hour)
		if ids, err := n.svc.ExpireDue(ctx); err != nil || len(ids) != 0 {
			t.Fatalf("%s: expired too early: %v %v", n.svc.nodeName, ids, err)
		}
	}
	if got := nodeA.svc.List(Filter{Overdue: true}); len(got) != 1 || got[0].ID != req.ID || got[0].Overdue[0].Kind != DuePreservation {
		t.Fatalf("overdue on A: %+v", got)
	}

	// 91 days on: preserve_until (90 days) has passed.
	for _, n := range []*testNode{nodeA, nodeB} {
		n.clock.advance(11 * 24 * time.Hour)
		ids, err := n.svc.ExpireDue(ctx)
		if err != nil || len(ids) != 1 || ids[0] != req.ID {
			t.Fatalf("%s: expired %v %v, want [%s]", n.svc.nodeName, ids, err, req.ID)
		}
		if st := state(t, n, req.ID); st != Expired {
			t.Fatalf("%s: request is %s", n.svc.nodeName, st)
		}
		if ids, err := n.svc.ExpireDue(ctx); err != nil || len(ids) != 0 {
			t.Fatalf("%s: expired twice: %v %v", n.svc.nodeName, ids, err)
		}
		p, _ := n.svc.pkg(req.ID)
		if ev := p.last.Event; ev.Kind != EvStateChanged || ev.Who.Person != sweeper.Person || !strings.Contains(ev.Why, "Art. 29(7)") {
			t.Fatalf("%s: expiry recorded as %+v", n.svc.nodeName, ev)
		}
		if rep, err := n.svc.Verify(ctx, liaison, req.ID); err != nil || !rep.OK {
			t.Fatalf("%s: verify after expiry: %v %+v", n.svc.nodeName, err, rep)
		}
	}
	for _, n := range []*testNode{nodeA, nodeB} {
		if st := state(t, n, pending.ID); st != ProductionPending {
			t.Fatalf("%s: a request with production pending became %s", n.svc.nodeName, st)
		}
	}
	if got := nodeA.svc.List(Filter{Overdue: true}); len(got) != 0 {
		t.Fatalf("an expired request is still overdue: %+v", got)
	}
	restarted := newNode(t, a, "kurier-de", "DE", nodeA.bucket, b)
	if st := state(t, restarted, req.ID); st != Expired {
		t.Fatalf("after restart: %s", st)
	}
}
