package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/evidence"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/identity"
)

// liaisonNode is evidenceNode with a liaison's token and a directory for
// the manifests and items a test writes.
func liaisonNode(t *testing.T, configure ...func(*config.Config)) (url string, n *node.Node, peer *identity.Identity, liaison, dir string) {
	t.Helper()
	url, n, peer = evidenceNode(t, configure...)
	liaison, _, err := n.Tokens.Create(context.Background(), "liaison.weber", auth.Liaison)
	if err != nil {
		t.Fatal(err)
	}
	return url, n, peer, liaison, t.TempDir()
}

// evidenceNode runs a node with the evidence API mounted, in-process, and
// knows one peer (whose key sits in <data dir>/peer-keys).
func evidenceNode(t *testing.T, configure ...func(*config.Config)) (url string, n *node.Node, peer *identity.Identity) {
	t.Helper()
	env := func(k string) string {
		if k == "KURIER_PASSPHRASE" {
			return "test passphrase"
		}
		return ""
	}
	cfg := config.Default(func(k string) string {
		if k == "HOME" {
			return t.TempDir()
		}
		return ""
	})
	cfg.Node.Name, cfg.Node.Country = "kurier-de", "DE"
	cfg.DataDir = t.TempDir()
	cfg.HTTP.MaxBodyBytes = 1 << 20 // items (3 MiB below) stream past the node's body limit
	for _, f := range configure {
		f(&cfg)
	}
	peer, err := identity.Generate("Node FR", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := peer.ArmoredPublicKey()
	os.MkdirAll(filepath.Join(cfg.DataDir, "peer-keys"), 0o700)
	os.WriteFile(filepath.Join(cfg.DataDir, "peer-keys", "fr.asc"), pub, 0o600)
	n, err = node.Open(context.Background(), cfg, node.Options{Env: env, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := mountEvidence(n); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String(), n, peer
}

// evidenceCLI runs `kurier evidence ARGS` in-process.
func evidenceCLI(t *testing.T, url, token string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{env: func(k string) string {
		return map[string]string{"KURIER_URL": url, "KURIER_TOKEN": token}[k]
	}, stdout: &out, stderr: &errb}
	cmd := newEvidenceCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String() + errb.String(), err
}

func TestEvidenceCLI(t *testing.T) {
	url, n, peer := evidenceNode(t)
	ctx := context.Background()
	liaison, _, err := n.Tokens.Create(ctx, "liaison.weber", auth.Liaison)
	if err != nil {
		t.Fatal(err)
	}
	analyst, _, _ := n.Tokens.Create(ctx, "analyst", auth.Analyst)
	now := time.Now().UTC()
	manifest := map[string]any{
		"kurier_evidence": 1,
		"sender":          map[string]any{"country": "DE", "authority": "BKA", "officer": "KHK Weber", "role": "central-authority"},
		"recipients":      []any{map[string]any{"node": peer.Fingerprint(), "country": "FR", "authority": "OFAC"}},
		"legal_basis":     map[string]any{"instrument": "ETS-185", "article": "26"},
		"handling":        map[string]any{"tlp": "amber", "use_limitation": "investigation 123 Js 456/26 only"},
		"deadlines":       map[string]any{"review_on": now.Add(24 * time.Hour).Format(time.RFC3339)},
		"summary":         "phishing kit found on a server in Frankfurt",
	}
	dir := t.TempDir()
	mfile := filepath.Join(dir, "manifest.json")
	b, _ := json.Marshal(manifest)
	os.WriteFile(mfile, b, 0o600)

	// The analyst role gets nothing.
	if out, err := evidenceCLI(t, url, analyst, "create", "--type", "spontaneous-information", "--file", mfile); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("analyst created a package: %v %s", err, out)
	}
	if _, err := evidenceCLI(t, url, analyst, "list"); err == nil {
		t.Fatal("analyst listed packages")
	}

	// A refusal lists every reason.
	bad := strings.Replace(string(b), `"use_limitation":"investigation 123 Js 456/26 only"`, `"use_limitation":""`, 1)
	bad = strings.Replace(bad, `"review_on":"`+now.Add(24*time.Hour).Format(time.RFC3339)+`"`, `"review_on":"2026-01-01T10:00:00"`, 1)
	badFile := filepath.Join(dir, "bad.json")
	os.WriteFile(badFile, []byte(bad), 0o600)
	_, err = evidenceCLI(t, url, liaison, "create", "--type", "spontaneous-information", "--file", badFile)
	if err == nil || !strings.Contains(err.Error(), "[use-conditions]") || !strings.Contains(err.Error(), "deadlines.review_on: time \"2026-01-01T10:00:00\" has no time zone") || !strings.Contains(err.Error(), "[time-zone]") {
		t.Fatalf("refusal: %v", err)
	}

	out, err := evidenceCLI(t, url, liaison, "create", "--type", "spontaneous-information", "--file", mfile, "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	var pkg evidence.Package
	if err := json.Unmarshal([]byte(out), &pkg); err != nil {
		t.Fatal(err)
	}
	item := filepath.Join(dir, "phishing kit.zip")
	os.WriteFile(item, bytes.Repeat([]byte("kit"), 1<<20), 0o600)
	if out, err := evidenceCLI(t, url, liaison, "add-item", pkg.ID, item, "--exhibit", "DE-2026-1", "--acquired-by", "KOK Schmidt", "--acquired-at", now.Format(time.RFC3339), "--tool", "FTK Imager 4.7"); err != nil || !strings.Contains(out, "sha512") {
		t.Fatalf("add-item: %v %s", err, out)
	}
	if out, err := evidenceCLI(t, url, liaison, "seal", pkg.ID); err != nil || !strings.Contains(out, "1 items") {
		t.Fatalf("seal: %v %s", err, out)
	}
	if out, err := evidenceCLI(t, url, liaison, "show", pkg.ID); err != nil || !strings.Contains(out, "phishing kit.zip") || !strings.Contains(out, "sealed:    true") {
		t.Fatalf("show: %v %s", err, out)
	}
	if out, err := evidenceCLI(t, url, liaison, "list"); err != nil || !strings.Contains(out, pkg.ID) {
		t.Fatalf("list: %v %s", err, out)
	}
	if out, err := evidenceCLI(t, url, liaison, "list", "--overdue"); err != nil || strings.Contains(out, pkg.ID) {
		t.Fatalf("list --overdue: %v %s", err, out)
	}
	if out, err := evidenceCLI(t, url, liaison, "verify", pkg.ID); err != nil || !strings.Contains(out, "every hash, signature and link verified") {
		t.Fatalf("verify: %v %s", err, out)
	}
	bag := filepath.Join(dir, "bag")
	if out, err := evidenceCLI(t, url, liaison, "export", pkg.ID, "--out", bag); err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("export: %v %s", err, out)
	}
	if p, err := exec.LookPath("sha512sum"); err == nil {
		cmd := exec.Command(p, "-c", "manifest-sha512.txt")
		cmd.Dir = bag
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha512sum: %v %s", err, out)
		}
	}
	// Exporting into a non-empty directory is refused.
	if _, err := evidenceCLI(t, url, liaison, "export", pkg.ID, "--out", bag); err == nil {
		t.Fatal("export overwrote a bag")
	}
	out, err = evidenceCLI(t, url, liaison, "custody", pkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"created", "stored", "sealed", "accessed", "verified", "exported"} {
		if !strings.Contains(out, kind) {
			t.Fatalf("custody lacks %s:\n%s", kind, out)
		}
	}
	if !strings.Contains(out, "liaison.weber") {
		t.Fatalf("custody does not name who:\n%s", out)
	}

	// Every read was audited.
	var audited int
	for e, err := range n.Audit.Events(ctx, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Action, "GET /api/v1/evidence") {
			audited++
		}
	}
	if audited < 6 {
		t.Fatalf("%d evidence reads audited", audited)
	}

	// Metrics.
	metrics := metricsText(t, url)
	for _, want := range []string{
		`kurier_evidence_packages{state="draft",type="spontaneous-information"} 1`,
		`kurier_evidence_sealed_bytes_total 3.145728e+06`,
		`kurier_evidence_receipts_outstanding 0`,
		`kurier_evidence_deadlines_overdue{kind="response"} 0`,
		`kurier_evidence_verification_failures_total{stage="verify"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestEvidenceRetentionConfig: evidence.retention_days decides how long
// an item that asks for nothing longer is locked for, as `show` reports
// and the store enforces.
func TestEvidenceRetentionConfig(t *testing.T) {
	url, n, peer, liaison, dir := liaisonNode(t, func(c *config.Config) { c.Evidence.RetentionDays = 45 })
	ctx := context.Background()
	pkg := createCLI(t, url, liaison, dir, spontaneous(peer, time.Now().Add(24*time.Hour)))
	item := filepath.Join(dir, "kit.zip")
	os.WriteFile(item, []byte("phishing kit"), 0o600)
	if out, err := evidenceCLI(t, url, liaison, "add-item", pkg, item); err != nil {
		t.Fatal(err, out)
	}
	out, err := evidenceCLI(t, url, liaison, "show", pkg)
	if err != nil {
		t.Fatal(err, out)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "retain until: "); ok {
			line = v
		}
	}
	until, err := time.Parse(time.RFC3339, line)
	if want := time.Now().Add(45 * 24 * time.Hour); err != nil || until.Before(want.Add(-time.Hour)) || until.After(want.Add(time.Hour)) {
		t.Fatalf("retain until %q (%v), want about %s:\n%s", line, err, want.Format(time.RFC3339), out)
	}
	var shown evidence.Package
	if err := json.Unmarshal([]byte(mustCLI(t, url, liaison, "show", pkg, "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	obj := shown.Items[0].Object
	ret, err := n.Evidence.GetRetention(ctx, obj.Key, obj.Version)
	if err != nil || ret == nil || !ret.Until.Equal(until) {
		t.Fatalf("stored retention %+v (%v), want until %s", ret, err, until)
	}
}

// TestEvidenceOverdueCLI: deadlines that have passed are counted in
// `kurier evidence list --overdue` and in kurier_evidence_deadlines_overdue:
// a preservation request sent (by the 24/7 network, recorded with
// `kurier evidence state`) and unanswered past respond_by, and a package
// past its review date; a package with deadlines to come is in neither.
func TestEvidenceOverdueCLI(t *testing.T) {
	url, n, peer, liaison, dir := liaisonNode(t)
	now := time.Now().UTC()
	req := preservationManifest(n.Identity.Fingerprint(), peer.Fingerprint(), now)
	req.Deadlines.RespondBy = evidence.TP(now.Add(-time.Hour))
	late := createCLI(t, url, liaison, dir, req)
	mustCLI(t, url, liaison, "seal", late)
	mustCLI(t, url, liaison, "state", late, "sent", "--why", "sent by the 24/7 network (phone, then e-mail)")
	review := createCLI(t, url, liaison, dir, spontaneous(peer, now.Add(-time.Minute)))
	onTime := createCLI(t, url, liaison, dir, spontaneous(peer, now.Add(24*time.Hour)))

	out := mustCLI(t, url, liaison, "list", "--overdue")
	if !strings.Contains(out, late) || !strings.Contains(out, review) || strings.Contains(out, onTime) {
		t.Fatalf("list --overdue:\n%s", out)
	}
	for _, want := range []string{late + " ", "response since " + now.Add(-time.Hour).Format(time.DateOnly), "review since"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list --overdue lacks %q:\n%s", want, out)
		}
	}
	metrics := metricsText(t, url)
	for _, want := range []string{
		`kurier_evidence_deadlines_overdue{kind="response"} 1`,
		`kurier_evidence_deadlines_overdue{kind="review"} 1`,
		`kurier_evidence_deadlines_overdue{kind="preservation"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func mustCLI(t *testing.T, url, token string, args ...string) string {
	t.Helper()
	out, err := evidenceCLI(t, url, token, args...)
	if err != nil {
		t.Fatalf("kurier evidence %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// createCLI writes m to a file and creates it with `kurier evidence create`.
func createCLI(t *testing.T, url, token, dir string, m evidence.Manifest) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "manifest-*.json")
	if err != nil {
		t.Fatal(err)
	}
	json.NewEncoder(f).Encode(m)
	f.Close()
	var pkg evidence.Package
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "create", "--file", f.Name(), "--json")), &pkg); err != nil {
		t.Fatal(err)
	}
	return pkg.ID
}

// spontaneous is an Art. 26 package to peer with a review date.
func spontaneous(peer *identity.Identity, review time.Time) evidence.Manifest {
	return evidence.Manifest{
		Type:       evidence.SpontaneousInformation,
		Sender:     evidence.Party{Country: "DE", Authority: "BKA", Officer: "KHK Weber", Role: evidence.RoleCentralAuthority},
		Recipients: []evidence.Party{{Node: peer.Fingerprint(), Country: "FR", Authority: "OFAC"}},
		LegalBasis: evidence.LegalBasis{Instrument: "ETS-185", Article: "26"},
		Handling:   evidence.Handling{TLP: "amber", UseLimitation: "investigation 123 Js 456/26 only"},
		Deadlines:  evidence.Deadlines{ReviewOn: evidence.TP(review)},
		Summary:    "phishing kit found on a server in Frankfurt",
	}
}

// preservationManifest is a complete Art. 29 request from node from to
// node to, made at now.
func preservationManifest(from, to string, now time.Time) evidence.Manifest {
	return evidence.Manifest{
		Type:       evidence.PreservationRequest,
		Sender:     evidence.Party{Node: from, Country: "DE", Authority: "BKA 24/7 contact point", Officer: "KHK Weber", Role: evidence.Role247Contact},
		Recipients: []evidence.Party{{Node: to, Country: "FR", Authority: "OFAC 24/7", Role: evidence.Role247Contact}},
		LegalBasis: evidence.LegalBasis{Instrument: "ETS-185", Article: "29", Paragraph: "1", AuthorisationRef: "StA Köln 123 Js 456/26",
			Art29: &evidence.Art29{
				Authority: "Staatsanwaltschaft Köln", Offence: "computer fraud (§ 263a StGB)", Facts: "phishing campaign against bank customers",
				Data: "subscriber and traffic data of account x@example.fr", Relationship: "account used to send the phishing mails",
				CustodianOrLocation: "Example Mail SAS, Paris", Necessity: "provider deletes logs after 30 days", MLAToFollow: true,
			}},
		DataCategories: []evidence.DataCategory{evidence.Subscriber, evidence.Traffic},
		Targets:        []evidence.Target{{Type: "email-addr", Value: "x@example.fr", From: evidence.TP(now.Add(-30 * 24 * time.Hour)), To: evidence.TP(now)}},
		Handling:       evidence.Handling{TLP: "amber", Confidential: true, UseLimitation: "criminal proceedings 123 Js 456/26", OnwardTransfer: "with-authorisation"},
		Deadlines:      evidence.Deadlines{RespondBy: evidence.TP(now.Add(72 * time.Hour)), PreserveUntil: evidence.TP(now.Add(90 * 24 * time.Hour))},
	}
}
