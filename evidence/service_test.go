package evidence

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/evidence/bagit"
	"github.com/kurier/kurier/node/store"
)

// disclosure prepares node b's sealed disclosure with items, answering a
// preservation request a sent and b received.
func sealedDisclosure(t *testing.T, bucket store.Bucket, items map[string][]byte) (*testNode, Package) {
	t.Helper()
	a, b, _ := identities(t)
	ctx := context.Background()
	m := preservationRequest(a, b)
	m.Type = SpontaneousInformation
	m.LegalBasis = LegalBasis{Instrument: "ETS-185", Article: "26"}
	m.Sender.Role = RoleCentralAuthority
	m.Deadlines = Deadlines{}
	m.Retention = Retention{LegalHold: true}
	n := newNode(t, a, "de", "DE", bucket, b)
	pkg, err := n.svc.Create(ctx, liaison, mustJSON(t, m))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range items {
		if _, err := n.svc.AddItem(ctx, liaison, pkg.ID, ItemInput{Name: name, MediaType: "application/octet-stream", Exhibit: "DE-1", Size: int64(len(data))}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	pkg, err = n.svc.Seal(ctx, liaison, pkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n, pkg
}

func TestSealVerifyExport(t *testing.T) {
	items := map[string][]byte{
		"mailbox export.mbox":  randomBytes(3*chunkSize + 11),
		"empty.txt":            {},
		"Zeugenaussage_Müller": []byte("statement\n"),
	}
	n, pkg := sealedDisclosure(t, fsBucket(t), items)
	ctx := context.Background()
	if !pkg.Sealed || !pkg.LegalHold || len(pkg.Manifest.Items) != 3 {
		t.Fatalf("package = %+v", pkg)
	}
	for _, it := range pkg.Manifest.Items {
		if len(it.SHA256) != 64 || len(it.SHA512) != 128 || it.Size != int64(len(items[it.Name])) {
			t.Fatalf("item %+v", it)
		}
	}
	rep, err := n.svc.Verify(ctx, liaison, pkg.ID)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}

	// Export the bag and check it with the tools a court has.
	var tarball bytes.Buffer
	if err := n.svc.Export(ctx, liaison, pkg.ID, &tarball); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bag")
	if err := bagit.Extract(bytes.NewReader(tarball.Bytes()), dir); err != nil {
		t.Fatal(err)
	}
	if err := bagit.Verify(dir); err != nil {
		t.Fatal(err)
	}
	for name, data := range items {
		got, err := os.ReadFile(filepath.Join(dir, "data", name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("data/%s: %v", name, err)
		}
	}
	checkBagWithTools(t, dir)

	// The custody log names every act, and still verifies.
	events, err := n.svc.Custody(ctx, liaison, pkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, string(e.Event.Kind))
	}
	want := "created stored stored stored sealed hold-set verified exported accessed"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("custody kinds:\n got %s\nwant %s", strings.Join(kinds, " "), want)
	}
	if rep, err := n.svc.Verify(ctx, liaison, pkg.ID); err != nil || !rep.OK {
		t.Fatalf("verify after export: %v %+v", err, rep)
	}
}

// checkBagWithTools runs sha512sum -c, sha256sum -c and gpg --verify in the
// bag directory, as EVIDENCE.md promises a court can.
func checkBagWithTools(t *testing.T, dir string) {
	t.Helper()
	for _, c := range [][]string{
		{"sha512sum", "-c", "--strict", "manifest-sha512.txt"}, {"sha256sum", "-c", "--strict", "manifest-sha256.txt"},
		{"sha512sum", "-c", "--strict", "tagmanifest-sha512.txt"}, {"sha256sum", "-c", "--strict", "tagmanifest-sha256.txt"},
	} {
		requireTool(t, c[0])
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	gpg := requireTool(t, "gpg")
	home := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command(gpg, append([]string{"--batch", "--no-tty", "--homedir", home}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "keys", "*.asc"))
	run(append([]string{"--import", "node-key.asc"}, keys...)...)
	out := run("--status-fd", "1", "--verify", "manifest.json.asc", "manifest.json")
	if !strings.Contains(out, "[GNUPG:] GOODSIG") || !strings.Contains(out, "[GNUPG:] VALIDSIG") {
		t.Fatalf("gpg did not report a good signature:\n%s", out)
	}
	events, _ := filepath.Glob(filepath.Join(dir, "custody", "*.json"))
	if len(events) == 0 {
		t.Fatal("no custody events in the bag")
	}
	for _, e := range events {
		rel, _ := filepath.Rel(dir, e)
		if out := run("--status-fd", "1", "--verify", rel+".asc", rel); !strings.Contains(out, "GOODSIG") {
			t.Fatalf("custody event %s: %s", rel, out)
		}
	}
	// A changed manifest must not verify.
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	bad := filepath.Join(t.TempDir(), "manifest.json")
	os.WriteFile(bad, bytes.Replace(raw, []byte(`"amber"`), []byte(`"clear"`), 1), 0o600)
	cmd := exec.Command(gpg, "--batch", "--homedir", home, "--verify", filepath.Join(dir, "manifest.json.asc"), bad)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("gpg accepted a changed manifest:\n%s", out)
	}
}

// TestLockedItems: sealed items cannot be deleted (legal hold, retention),
// on the embedded store and on MinIO.
func TestLockedItems(t *testing.T) {
	for name, bucket := range map[string]func(testing.TB) store.Bucket{"fs": fsBucket, "minio": minioBucket} {
		t.Run(name, func(t *testing.T) {
			n, pkg := sealedDisclosure(t, bucket(t), map[string][]byte{"a.bin": randomBytes(1000)})
			ctx := context.Background()
			ir := pkg.Items[0]
			for _, opts := range []store.DeleteOptions{{VersionID: ir.Object.Version}, {VersionID: ir.Object.Version, BypassGovernance: true}} {
				if err := n.bucket.Delete(ctx, ir.Object.Key, opts); !errors.Is(err, store.ErrLocked) {
					t.Fatalf("delete %+v: %v, want ErrLocked", opts, err)
				}
			}
			hold, err := n.bucket.LegalHold(ctx, ir.Object.Key, ir.Object.Version)
			if err != nil || !hold {
				t.Fatalf("legal hold = %v, %v", hold, err)
			}
			ret, err := n.bucket.GetRetention(ctx, ir.Object.Key, ir.Object.Version)
			if err != nil || ret == nil || ret.Mode != store.Governance || ret.Until.Before(time.Now().Add(PreservationMinimum-time.Hour)) {
				t.Fatalf("retention = %+v, %v (want governance, at least 60 days)", ret, err)
			}
			// The manifest is write-once too.
			if _, err := n.bucket.Put(ctx, keyPkg(pkg.ID, "manifest.json"), strings.NewReader("{}"), store.PutOptions{IfAbsent: true}); !errors.Is(err, store.ErrExists) {
				t.Fatalf("manifest overwritten: %v", err)
			}
		})
	}
}

// TestHoldReleaseAndDisposal: releasing a legal hold needs a recorded
// authorisation; disposal destroys the package key (crypto-shredding) only
// after the hold is gone and retention ended, and is a custody event.
func TestHoldReleaseAndDisposal(t *testing.T) {
	n, pkg := sealedDisclosure(t, fsBucket(t), map[string][]byte{"a.bin": randomBytes(1000)})
	ctx := context.Background()
	_, err := n.svc.Dispose(ctx, liaison, pkg.ID, "retention ended")
	refusedWith(t, err, RuleDisposal)
	// No authorisation recorded: refused.
	_, err = n.svc.ReleaseHold(ctx, liaison, pkg.ID, 3, "case closed")
	refusedWith(t, err, RuleHoldRelease)
	// An event that is not an authorisation does not count.
	_, err = n.svc.ReleaseHold(ctx, liaison, pkg.ID, 0, "case closed")
	refusedWith(t, err, RuleHoldRelease)
	auth, err := n.svc.Authorise(ctx, liaison, pkg.ID, EvHoldReleaseAuthorised, Authorisation{Authority: "StA Köln", Reference: "123 Js 456/26 Verfügung 2026-09-01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.ReleaseHold(ctx, liaison, pkg.ID, auth.Event.Seq, "proceedings closed"); err != nil {
		t.Fatal(err)
	}
	ir := pkg.Items[0]
	if hold, _ := n.bucket.LegalHold(ctx, ir.Object.Key, ir.Object.Version); hold {
		t.Fatal("hold still set")
	}
	// The same authorisation cannot be used twice.
	if _, err := n.svc.SetHold(ctx, liaison, pkg.ID, "new proceedings"); err != nil {
		t.Fatal(err)
	}
	_, err = n.svc.ReleaseHold(ctx, liaison, pkg.ID, auth.Event.Seq, "again")
	refusedWith(t, err, RuleHoldRelease)
	auth2, _ := n.svc.Authorise(ctx, liaison, pkg.ID, EvHoldReleaseAuthorised, Authorisation{Authority: "StA Köln", Reference: "2"})
	if _, err := n.svc.ReleaseHold(ctx, liaison, pkg.ID, auth2.Event.Seq, "closed again"); err != nil {
		t.Fatal(err)
	}
	// Retention still running.
	_, err = n.svc.Dispose(ctx, liaison, pkg.ID, "retention ended")
	refusedWith(t, err, RuleDisposal)
	n.clock.advance(400 * 24 * time.Hour)
	if _, err := n.svc.Dispose(ctx, liaison, pkg.ID, "retention period ended, review decision 2027-10"); err != nil {
		t.Fatal(err)
	}
	// The key is gone in every version; the ciphertext is still locked.
	if _, err := n.bucket.Versions(ctx, keyPkg(pkg.ID, "key.pgp")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key versions remain: %v", err)
	}
	if err := n.bucket.Delete(ctx, ir.Object.Key, store.DeleteOptions{VersionID: ir.Object.Version}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("ciphertext deletable: %v", err)
	}
	if err := n.svc.Export(ctx, liaison, pkg.ID, io.Discard); !errors.Is(err, ErrDisposed) {
		t.Fatalf("export after disposal: %v", err)
	}
	// Even a fresh start cannot read it.
	n2 := newNode(t, n.id, "de", "DE", n.bucket)
	n2.clock.advance(400 * 24 * time.Hour)
	rep, err := n2.svc.Verify(ctx, liaison, pkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Break != nil {
		t.Fatalf("chain after disposal: %v", rep.Break)
	}
	events, _ := n2.svc.readCustody(ctx, pkg.ID)
	found := false
	for _, e := range events {
		found = found || e.Event.Kind == EvDisposed
	}
	if !found {
		t.Fatal("no disposed event")
	}
}

// TestItemHashMismatch: a declared hash or size that the upload does not
// match is refused, and nothing of the item stays.
func TestItemHashMismatch(t *testing.T) {
	a, b, _ := identities(t)
	ctx := context.Background()
	n := newNode(t, a, "de", "DE", fsBucket(t), b)
	m := preservationRequest(a, b)
	m.Items = []Item{{Name: "log.txt", SHA256: strings.Repeat("ab", 32)}, {Name: "b.txt", Size: 5}}
	pkg, err := n.svc.Create(ctx, liaison, mustJSON(t, m))
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.svc.AddItem(ctx, liaison, pkg.ID, ItemInput{Name: "log.txt"}, strings.NewReader("hello"))
	refusedWith(t, err, RuleItemHash)
	_, err = n.svc.AddItem(ctx, liaison, pkg.ID, ItemInput{Name: "b.txt"}, strings.NewReader("hello!"))
	refusedWith(t, err, RuleItemHash)
	for info, err := range n.bucket.List(ctx, keyPkg(pkg.ID, "items/"), "") {
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("refused item stored: %s", info.Key)
	}
	// Declared but not uploaded: cannot seal.
	_, err = n.svc.Seal(ctx, liaison, pkg.ID)
	refusedWith(t, err, RuleRequired)
	// A stream shorter than its announced size stores nothing.
	_, err = n.svc.AddItem(ctx, liaison, pkg.ID, ItemInput{Name: "c.txt", Size: 100}, strings.NewReader("short"))
	if err == nil {
		t.Fatal("short stream accepted")
	}
}

// TestLifecycle covers the transitions and deadlines.
func TestLifecycle(t *testing.T) {
	if !CanTransition(Draft, Sent) || CanTransition(Draft, Disclosed) || CanTransition(Withdrawn, Sent) || CanTransition(Expired, Preserved) {
		t.Fatal("transition table")
	}
	a, b, _ := identities(t)
	n := newNode(t, a, "de", "DE", fsBucket(t), b)
	ctx := context.Background()
	pkg, err := n.svc.Create(ctx, liaison, mustJSON(t, preservationRequest(a, b)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.svc.Transition(ctx, liaison, pkg.ID, Sent, "sent by fax")
	refusedWith(t, err, RuleState) // not sealed
	_, err = n.svc.Transition(ctx, liaison, pkg.ID, Disclosed, "x")
	refusedWith(t, err, RuleState)
	if _, err := n.svc.Seal(ctx, liaison, pkg.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.Transition(ctx, liaison, pkg.ID, Sent, "sent by the 24/7 network"); err != nil {
		t.Fatal(err)
	}
	if got := n.svc.List(Filter{Overdue: true}); len(got) != 0 {
		t.Fatalf("overdue too early: %+v", got)
	}
	n.clock.advance(4 * 24 * time.Hour) // respond_by was 72 hours
	got := n.svc.List(Filter{Overdue: true})
	if len(got) != 1 || got[0].Overdue[0].Kind != DueResponse {
		t.Fatalf("overdue = %+v", got)
	}
	if _, err := n.svc.Transition(ctx, liaison, pkg.ID, Preserved, "confirmed by phone, 24/7 network"); err != nil {
		t.Fatal(err)
	}
	if got := n.svc.List(Filter{Overdue: true}); len(got) != 0 {
		t.Fatalf("still overdue after preservation: %+v", got)
	}
	n.clock.advance(80 * 24 * time.Hour) // preservation ends at 90 days
	got = n.svc.List(Filter{Overdue: true})
	if len(got) != 1 || got[0].Overdue[0].Kind != DuePreservation {
		t.Fatalf("overdue = %+v", got)
	}
	if _, err := n.svc.Transition(ctx, liaison, pkg.ID, ProductionPending, "MLA request 2026/77 sent"); err != nil {
		t.Fatal(err)
	}
	// The state survives a restart (rebuilt from the custody log).
	n2 := newNode(t, a, "de", "DE", n.bucket, b)
	if got := n2.svc.List(Filter{State: ProductionPending}); len(got) != 1 {
		t.Fatalf("after restart: %+v", n2.svc.List(Filter{}))
	}
}
