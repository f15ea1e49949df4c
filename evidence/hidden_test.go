package evidence

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
)

// TestHiddenRecord: a delete marker on a package record (which no lock
// prevents) neither loses the package nor frees its id, on fs and MinIO.
// Put while the node runs, verify finds it; after a restart the package is
// still listed, loaded from the record's stored version, and flagged
// (view, verify, kurier_evidence_hidden_records); a new package with the
// id is refused naming the hidden record, and nothing is written over it.
func TestHiddenRecord(t *testing.T) {
	for name, bucket := range map[string]func(testing.TB) store.Bucket{"fs": fsBucket, "minio": minioBucket} {
		t.Run(name, func(t *testing.T) {
			a, b, _ := identities(t)
			ctx := context.Background()
			n := newNode(t, a, "de", "DE", bucket(t), b)
			m := preservationRequest(a, b)
			m.Type = SpontaneousInformation
			m.LegalBasis = LegalBasis{Instrument: "ETS-185", Article: "26"}
			m.Sender.Role = RoleCentralAuthority
			m.Deadlines = Deadlines{}
			if _, err := n.svc.Create(ctx, liaison, mustJSON(t, m)); err != nil {
				t.Fatal(err)
			}
			data := randomBytes(1000)
			if _, err := n.svc.AddItem(ctx, liaison, m.ID, ItemInput{Name: "a.bin", MediaType: "application/octet-stream", Exhibit: "DE-1", Size: int64(len(data))}, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if _, err := n.svc.Seal(ctx, liaison, m.ID); err != nil {
				t.Fatal(err)
			}
			other := preservationRequest(a, b)
			if _, err := n.svc.Create(ctx, liaison, mustJSON(t, other)); err != nil {
				t.Fatal(err)
			}
			record, err := n.bucket.Stat(ctx, keyIndex(m.ID), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := n.bucket.Delete(ctx, keyIndex(m.ID), store.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}

			// While the node runs: verify finds the marker and flags the package.
			checkHidden(t, n, m.ID, record.VersionID)

			// After a restart: listed, flagged, nothing lost.
			re := newNode(t, a, "de", "DE", n.bucket, b)
			var listed []string
			for _, p := range re.svc.List(Filter{}) {
				listed = append(listed, p.ID)
				if p.IndexHidden != (p.ID == m.ID) {
					t.Fatalf("after restart: %s index_hidden %v", p.ID, p.IndexHidden)
				}
			}
			if len(listed) != 2 {
				t.Fatalf("after restart: listed %v, want %s and %s", listed, m.ID, other.ID)
			}
			pkg, err := re.svc.Get(ctx, liaison, m.ID)
			if err != nil || !pkg.Sealed || len(pkg.Items) != 1 || !pkg.IndexHidden {
				t.Fatalf("after restart: %v %+v", err, pkg)
			}
			checkHidden(t, re, m.ID, record.VersionID)
			if rep, err := re.svc.Verify(ctx, liaison, other.ID); err != nil || !rep.OK || rep.IndexHidden {
				t.Fatalf("verify of the other package: %v %+v", err, rep)
			}
			// A hold reaches the hidden record's stored version.
			if _, err := re.svc.SetHold(ctx, liaison, m.ID, "court order"); err != nil {
				t.Fatal(err)
			}
			if held, err := n.bucket.LegalHold(ctx, keyIndex(m.ID), record.VersionID); err != nil || !held {
				t.Fatalf("hidden record's legal hold %v %v", held, err)
			}
			// So does one on a record hidden while the node runs, before any
			// show or verify found it.
			otherRecord, err := n.bucket.Stat(ctx, keyIndex(other.ID), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := n.bucket.Delete(ctx, keyIndex(other.ID), store.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := re.svc.SetHold(ctx, liaison, other.ID, "court order"); err != nil {
				t.Fatal(err)
			}
			if held, err := n.bucket.LegalHold(ctx, keyIndex(other.ID), otherRecord.VersionID); err != nil || !held {
				t.Fatalf("legal hold of the record hidden while running: %v %v", held, err)
			}
			if got := gaugeValue(t, re.reg, "kurier_evidence_hidden_records"); got != 2 {
				t.Fatalf("kurier_evidence_hidden_records = %v, want 2", got)
			}
		})
	}
}

// checkHidden checks that n flags package id's record as hidden and
// refuses the id, and that the record key still holds only the stored
// version and the marker.
func checkHidden(t *testing.T, n *testNode, id, version string) {
	t.Helper()
	ctx := context.Background()
	rep, err := n.svc.Verify(ctx, liaison, id)
	if err != nil || rep.OK || !rep.IndexHidden || !strings.Contains(rep.Index, "hidden by a delete marker") ||
		!strings.Contains(strings.Join(rep.Problems, "; "), keyIndex(id)) || len(rep.Items) != 1 || !rep.Items[0].OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if got := gaugeValue(t, n.reg, "kurier_evidence_hidden_records"); got != 1 {
		t.Fatalf("kurier_evidence_hidden_records = %v, want 1", got)
	}
	m := preservationRequest(n.id, idB)
	m.ID = id
	_, err = n.svc.Create(ctx, liaison, mustJSON(t, m))
	refusedWith(t, err, RuleReplay)
	if !strings.Contains(err.Error(), "hidden by a delete marker") {
		t.Fatalf("create with the id: %v", err)
	}
	// putIndex refuses too, when the package is not known (as for a
	// node that never loaded it).
	err = n.svc.putIndex(ctx, indexRecord{ID: id}, store.Retention{Mode: store.Governance, Until: time.Now().Add(time.Hour)}, false)
	refusedWith(t, err, RuleReplay)
	if !strings.Contains(err.Error(), "hidden by a delete marker") {
		t.Fatalf("putIndex with the id: %v", err)
	}
	vs, err := n.bucket.Versions(ctx, keyIndex(id))
	if err != nil || len(vs) != 2 || !vs[0].DeleteMarker || vs[1].VersionID != version {
		t.Fatalf("record versions: %v %+v, want the marker over %s", err, vs, version)
	}
	if _, err := n.bucket.Stat(ctx, keyPkg(id, "manifest.json"), ""); err != nil {
		t.Fatal(err)
	}
}
