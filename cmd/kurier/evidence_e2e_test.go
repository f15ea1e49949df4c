package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/evidence"
	"github.com/kurier/kurier/node/store/miniotest"
)

// TestEvidenceMustShow is the exchange issue 5 asks to show, done with the
// CLI as liaisons do it, between two nodes on loopback over the signed
// federation channel (A on the embedded store, B on MinIO): A sends B a
// preservation request (Art. 29), B confirms it, B discloses (Art. 31)
// with a large item (4 MiB; 1 GiB with KURIER_BIG=1), every signed
// receipt is filed as a custody event on its sender, `kurier evidence
// verify` passes for every package on both nodes, and the bag A exports
// of the disclosure passes the real sha512sum -c, sha256sum -c and
// gpg --verify with the exported keys. Along the way: both sides' copies
// of the request follow the answers, and preservation puts the data under
// legal hold without the manifest asking.
func TestEvidenceMustShow(t *testing.T) {
	s3 := miniotest.Start(t) // fails without MinIO under KURIER_REQUIRE_TOOLS=1
	for _, tool := range []string{"sha512sum", "sha256sum", "gpg"} {
		requireCLITool(t, tool)
	}
	a := startEvidencePeer(t, "kurier-de", "DE", nil)
	b := startEvidencePeer(t, "kurier-fr", "FR", s3)
	a.pin(t, "fr", b)
	b.pin(t, "de", a)
	dir := t.TempDir()
	run := func(p *evidencePeer, args ...string) string {
		t.Helper()
		out, err := evidenceCLI(t, p.url, p.liaison, args...)
		if err != nil {
			t.Fatalf("kurier evidence %s on %s: %v\n%s", strings.Join(args, " "), p.n.Config.Node.Name, err, out)
		}
		return out
	}
	create := func(p *evidencePeer, m evidence.Manifest) string {
		t.Helper()
		file := filepath.Join(dir, string(m.Type)+".json")
		b, _ := json.Marshal(m)
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		var pkg evidence.Package
		if err := json.Unmarshal([]byte(run(p, "create", "--type", string(m.Type), "--file", file, "--json")), &pkg); err != nil {
			t.Fatal(err)
		}
		return pkg.ID
	}
	send := func(from *evidencePeer, id, to string, other *evidencePeer) {
		t.Helper()
		if out := run(from, "send", id, "--to", to); !strings.Contains(out, "accepted: "+other.n.Config.Node.Name+" received and verified package "+id) {
			t.Fatalf("send %s: %s", id, out)
		}
	}
	wantState := func(p *evidencePeer, id string, want evidence.State) {
		t.Helper()
		if out := run(p, "list", "--state", string(want)); !strings.Contains(out, id) {
			t.Fatalf("%s on %s is not %s:\n%s", id, p.n.Config.Node.Name, want, run(p, "list"))
		}
	}
	now := time.Now().UTC()
	de := evidence.Party{Node: a.n.Identity.Fingerprint(), Country: "DE", Authority: "BKA 24/7 contact point", Officer: "KHK Weber", Role: evidence.Role247Contact}
	fr := evidence.Party{Node: b.n.Identity.Fingerprint(), Country: "FR", Authority: "OFAC 24/7", Officer: "Cdt Martin", Role: evidence.Role247Contact}
	handling := evidence.Handling{TLP: "amber", Confidential: true, UseLimitation: "criminal proceedings 123 Js 456/26", OnwardTransfer: "with-authorisation"}

	// 1. A asks B to preserve (Art. 29); no legal_hold flag anywhere below.
	req := create(a, evidence.Manifest{
		Type: evidence.PreservationRequest, Sender: de, Recipients: []evidence.Party{fr},
		LegalBasis: evidence.LegalBasis{Instrument: "ETS-185", Article: "29", Paragraph: "1", AuthorisationRef: "StA Köln 123 Js 456/26",
			Art29: &evidence.Art29{
				Authority: "Staatsanwaltschaft Köln", Offence: "computer fraud (§ 263a StGB)", Facts: "phishing campaign against bank customers",
				Data: "subscriber and traffic data of account x@example.fr", Relationship: "account used to send the phishing mails",
				CustodianOrLocation: "Example Mail SAS, Paris", Necessity: "provider deletes logs after 30 days", MLAToFollow: true,
			}},
		DataCategories: []evidence.DataCategory{evidence.Subscriber, evidence.Traffic},
		Targets:        []evidence.Target{{Type: "email-addr", Value: "x@example.fr", From: evidence.TP(now.Add(-30 * 24 * time.Hour)), To: evidence.TP(now)}},
		Handling:       handling,
		Deadlines:      evidence.Deadlines{RespondBy: evidence.TP(now.Add(72 * time.Hour)), PreserveUntil: evidence.TP(now.Add(90 * 24 * time.Hour))},
	})
	letter := filepath.Join(dir, "request.pdf")
	os.WriteFile(letter, []byte("%PDF-1.7 request for preservation\n"), 0o600)
	run(a, "add-item", req, letter, "--exhibit", "DE-2026-1")
	run(a, "seal", req)
	send(a, req, "fr", b)
	wantState(a, req, evidence.Acknowledged)
	wantState(b, req, evidence.Verified)
	if out := run(b, "show", req); !strings.Contains(out, "legal hold: true") {
		t.Fatalf("B does not hold the request it must preserve for:\n%s", out)
	}

	// 2. B confirms; both copies of the request become preserved.
	conf := create(b, evidence.Manifest{
		Type: evidence.PreservationConfirmation, ReplyTo: req, Sender: fr, Recipients: []evidence.Party{de},
		LegalBasis: evidence.LegalBasis{Instrument: "ETS-185", Article: "29"}, Handling: handling,
		Deadlines: evidence.Deadlines{PreserveUntil: evidence.TP(now.Add(90 * 24 * time.Hour))},
	})
	run(b, "seal", conf)
	send(b, conf, "de", a)
	wantState(a, req, evidence.Preserved)
	wantState(b, req, evidence.Preserved)

	// 3. B discloses (Art. 31) with the large item.
	size := int64(4 << 20)
	if os.Getenv("KURIER_BIG") == "1" {
		size = 1 << 30
	}
	itemFile := filepath.Join(dir, "mailbox.mbox")
	sum := writePattern(t, itemFile, size)
	disclosing := fr
	disclosing.Role = evidence.RoleCentralAuthority
	disc := create(b, evidence.Manifest{
		Type: evidence.EvidenceDisclosure, ReplyTo: req, Sender: disclosing, Recipients: []evidence.Party{de},
		LegalBasis:     evidence.LegalBasis{Instrument: "ETS-185", Article: "31", AuthorisationRef: "TJ Paris 2026/4471"},
		DataCategories: []evidence.DataCategory{evidence.Subscriber, evidence.Traffic}, Handling: handling,
	})
	resetPeak()
	t0 := time.Now()
	if out := run(b, "add-item", disc, itemFile, "--exhibit", "FR-2026-7", "--acquired-by", "Lt Dubois", "--acquired-at", now.Format(time.RFC3339), "--tool", "imapsync 2.229"); !strings.Contains(out, sum) {
		t.Fatalf("add-item: SHA-256 %s not reported:\n%s", sum, out)
	}
	run(b, "seal", disc)
	tSeal := time.Since(t0)
	t0 = time.Now()
	send(b, disc, "de", a)
	tSend := time.Since(t0)
	wantState(a, req, evidence.Disclosed)
	wantState(b, req, evidence.Disclosed)
	if out := run(a, "show", disc); !strings.Contains(out, "legal hold: true") {
		t.Fatalf("A does not hold the preserved data it received:\n%s", out)
	}

	// 4. Every receipt is filed on its sender as a delivered event naming
	// the receiver.
	for _, c := range []struct {
		sender, receiver *evidencePeer
		id               string
	}{{a, b, req}, {b, a, conf}, {b, a, disc}} {
		var chain struct {
			Events []struct {
				Event evidence.Event `json:"event"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(run(c.sender, "custody", c.id, "--json")), &chain); err != nil {
			t.Fatal(err)
		}
		filed := false
		for _, e := range chain.Events {
			filed = filed || (e.Event.Kind == evidence.EvDelivered && e.Event.Attrs["receiver"] == c.receiver.n.Identity.Fingerprint() &&
				e.Event.Attrs["result"] == evidence.ResultAccepted && e.Event.Attrs["receipt_sha256"] != "")
		}
		if !filed {
			t.Fatalf("no receipt from %s filed for %s on %s", c.receiver.n.Config.Node.Name, c.id, c.sender.n.Config.Node.Name)
		}
	}

	// 5. verify passes for every package on both nodes.
	t0 = time.Now()
	for _, p := range []*evidencePeer{a, b} {
		for _, id := range []string{req, conf, disc} {
			if out := run(p, "verify", id); !strings.Contains(out, "every hash, signature and link verified") {
				t.Fatalf("verify %s on %s:\n%s", id, p.n.Config.Node.Name, out)
			}
		}
	}
	tVerify := time.Since(t0)

	// 6. A exports the disclosure for its court; the bag is checked with
	// the stock tools only.
	bag := filepath.Join(dir, "bag")
	t0 = time.Now()
	run(a, "export", disc, "--out", bag)
	tExport := time.Since(t0)
	if got := fileSHA256(t, filepath.Join(bag, "data", "mailbox.mbox")); got != sum {
		t.Fatalf("exported item has SHA-256 %s, the original %s", got, sum)
	}
	t0 = time.Now()
	checkBagStockTools(t, bag, b.n.Identity.Fingerprint())
	tTools := time.Since(t0)
	t.Logf("item %d MiB: add-item+seal on MinIO %s (%.0f MB/s), send B->A %s (%.0f MB/s), verify x6 %s, export %s, sha512sum+sha256sum+gpg %s; peak RSS of both nodes and the CLI: %s",
		size>>20, tSeal.Round(time.Millisecond), float64(size)/1e6/tSeal.Seconds(), tSend.Round(time.Millisecond), float64(size)/1e6/tSend.Seconds(),
		tVerify.Round(time.Millisecond), tExport.Round(time.Millisecond), tTools.Round(time.Millisecond), peakRSS())
	for _, p := range []*evidencePeer{a, b} {
		if left := tmpFiles(t, p.n); len(left) != 0 {
			t.Fatalf("temporary files left on %s: %v", p.n.Config.Node.Name, left)
		}
	}
}

// requireCLITool finds a tool, or skips (fails under KURIER_REQUIRE_TOOLS=1).
func requireCLITool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KURIER_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not installed (KURIER_REQUIRE_TOOLS=1)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// checkBagStockTools checks a bag as a court would, with sha512sum,
// sha256sum and gpg only: payload and tag manifests, the manifest's
// signature by signer with the key shipped in the bag, every custody
// event's signature, and that a changed manifest fails.
func checkBagStockTools(t *testing.T, dir, signer string) {
	t.Helper()
	for _, c := range [][]string{
		{"sha512sum", "-c", "--strict", "manifest-sha512.txt"}, {"sha256sum", "-c", "--strict", "manifest-sha256.txt"},
		{"sha512sum", "-c", "--strict", "tagmanifest-sha512.txt"}, {"sha256sum", "-c", "--strict", "tagmanifest-sha256.txt"},
	} {
		cmd := exec.Command(requireCLITool(t, c[0]), c[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	gpg := requireCLITool(t, "gpg")
	home := t.TempDir()
	gpgRun := func(args ...string) (string, error) {
		cmd := exec.Command(gpg, append([]string{"--batch", "--no-tty", "--homedir", home}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "keys", "*.asc"))
	for i := range keys {
		keys[i], _ = filepath.Rel(dir, keys[i])
	}
	if out, err := gpgRun(append([]string{"--import", "node-key.asc"}, keys...)...); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	out, err := gpgRun("--status-fd", "1", "--verify", "manifest.json.asc", "manifest.json")
	if err != nil || !strings.Contains(out, "[GNUPG:] GOODSIG") || !strings.Contains(out, "[GNUPG:] VALIDSIG "+signer) {
		t.Fatalf("gpg --verify of the manifest (want a good signature by %s): %v\n%s", signer, err, out)
	}
	events, _ := filepath.Glob(filepath.Join(dir, "custody", "*.json"))
	if len(events) == 0 {
		t.Fatal("no custody events in the bag")
	}
	for _, e := range events {
		rel, _ := filepath.Rel(dir, e)
		if out, err := gpgRun("--status-fd", "1", "--verify", rel+".asc", rel); err != nil || !strings.Contains(out, "[GNUPG:] GOODSIG") {
			t.Fatalf("gpg --verify %s: %v\n%s", rel, err, out)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	bad := filepath.Join(t.TempDir(), "manifest.json")
	os.WriteFile(bad, bytes.Replace(raw, []byte(`"amber"`), []byte(`"clear"`), 1), 0o600)
	if out, err := gpgRun("--verify", filepath.Join(dir, "manifest.json.asc"), bad); err == nil {
		t.Fatalf("gpg accepted a changed manifest:\n%s", out)
	}
}

// writePattern writes size pseudo-random bytes to file and returns their
// SHA-256.
func writePattern(t *testing.T, file string, size int64) string {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(mrand.NewChaCha8([32]byte{5}), size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// resetPeak resets VmHWM (Linux) so peakRSS measures from now.
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's VmHWM as /proc reports it ("?" if unknown).
func peakRSS() string {
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
