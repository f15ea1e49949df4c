package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/spf13/cobra"

	"github.com/kurier/kurier/federation"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/stix"
)

// runFed runs the peer and sync commands in-process, under a root with the
// global flags (they are added to the real root in root.go).
func runFed(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{env: func(k string) string { return env[k] }, stdout: &out, stderr: &errb}
	root := &cobra.Command{Use: "kurier", SilenceUsage: true, SilenceErrors: true}
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "")
	pf.StringVar(&g.dataDir, "data-dir", "", "")
	pf.StringVar(&g.listen, "listen", "", "")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return exitError{code: 2, err: err} })
	root.AddCommand(newPeerCmd(g), newSyncCmd(g))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func fedEnv(t *testing.T) map[string]string {
	return map[string]string{"HOME": t.TempDir(), "KURIER_PASSPHRASE": "test passphrase"}
}

// keyFile makes a node key in a fresh data dir and writes its public key.
func keyFile(t *testing.T, env map[string]string) (path, fpr string) {
	t.Helper()
	cfg := config.Default(func(k string) string { return env[k] })
	cfg.DataDir = t.TempDir()
	id, _, err := node.InitIdentity(cfg, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := id.ArmoredPublicKey()
	path = filepath.Join(t.TempDir(), "peer.asc")
	if err := os.WriteFile(path, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Fingerprint()
}

func TestPeerCommands(t *testing.T) {
	env := fedEnv(t)
	dir := "--data-dir=" + t.TempDir()
	key, fpr := keyFile(t, env)
	out, _, err := runFed(t, env, "peer", "add", "cert-b", dir, "--url", "https://b.example", "--key", key, "--max-tlp", "amber", "--groups", "eu,nato")
	if err != nil || !strings.Contains(out, formatFingerprint(fpr)) || !strings.Contains(out, "version 1") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	if _, _, err := runFed(t, env, "peer", "add", "cert-b", dir, "--url", "https://b.example", "--key", key); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second add: %v", err)
	}
	_, _, err = runFed(t, env, "peer", "add", "cert-c", dir, "--url", "https://c.example", "--key", key, "--fingerprint", strings.Repeat("A", 40))
	if err == nil || !strings.Contains(err.Error(), "not the expected") {
		t.Fatalf("add with a wrong fingerprint: %v", err)
	}
	for _, bad := range [][]string{
		{"peer", "add", "Bad Name", dir, "--url", "https://x.example", "--key", key},
		{"peer", "add", "x", dir, "--url", "https://x.example", "--key", key, "--max-tlp", "red"},
		{"peer", "add", "x", dir, "--url", "https://x.example"},
		{"peer", "add", "x", dir, "--url", "ftp://x.example", "--key", key},
	} {
		_, _, err := runFed(t, env, bad...)
		if ee, ok := err.(exitError); !ok || ee.code != 2 {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
	out, _, err = runFed(t, env, "peer", "update", "cert-b", dir, "--max-tlp", "green", "--relay")
	if err != nil || !strings.Contains(out, "version 2") || !strings.Contains(out, "groups:      eu,nato") {
		t.Fatalf("update: %v\n%s", err, out)
	}
	out, _, err = runFed(t, env, "peer", "list", dir)
	if err != nil || !strings.Contains(out, "cert-b") || !strings.Contains(out, "green") || !strings.Contains(out, "true") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, err = runFed(t, env, "peer", "show", "cert-b", dir, "--history", "--json")
	var hist []struct {
		Version int
		Policy  struct {
			MaxTLP string `json:"max_tlp"`
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 2 || hist[0].Policy.MaxTLP != "green" || hist[1].Policy.MaxTLP != "amber" {
		t.Fatalf("history: %v %+v\n%s", err, hist, out)
	}
	if out, _, err = runFed(t, env, "peer", "remove", "cert-b", dir); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %v %s", err, out)
	}
	if out, _, _ = runFed(t, env, "peer", "list", dir); !strings.Contains(out, "no peers") {
		t.Fatalf("list after remove: %s", out)
	}
	// Added again, it continues the version count: a pull cursor made
	// under version 2 can never be confused with the new document.
	if out, _, err = runFed(t, env, "peer", "add", "cert-b", dir, "--url", "https://b.example", "--key", key); err != nil || !strings.Contains(out, "version 3") {
		t.Fatalf("re-add: %v %s", err, out)
	}
}

// fedNode is a node in this process with federation mounted by the same
// function `kurier serve` calls.
type fedNode struct {
	n     *node.Node
	url   string
	token string
	env   map[string]string
	dir   string
}

func startFedNode(t *testing.T, name string) *fedNode {
	t.Helper()
	env := fedEnv(t)
	cfg := config.Default(func(k string) string { return env[k] })
	cfg.Node.Name = name
	cfg.DataDir = t.TempDir()
	n, err := node.Open(context.Background(), cfg, node.Options{Env: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fed, err := mountFederation(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() { fed.Stop(); cancel(); <-done; _ = n.Close() })
	tok, _, err := n.Tokens.Create(ctx, "ops", auth.Admin)
	if err != nil {
		t.Fatal(err)
	}
	fn := &fedNode{n: n, url: "http://" + ln.Addr().String(), token: tok, env: env, dir: cfg.DataDir}
	fn.env["KURIER_URL"], fn.env["KURIER_TOKEN"] = fn.url, tok
	return fn
}

func (fn *fedNode) run(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runFed(t, fn.env, append(args, "--data-dir="+fn.dir)...)
	if err != nil {
		t.Fatalf("kurier %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// syncNow runs `kurier sync now PEER` until the running node has loaded
// the peer's document (it re-reads them within seconds) and the pull
// succeeds.
func (fn *fedNode) syncNow(t *testing.T, peer string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, errOut, err := runFed(t, fn.env, "sync", "now", peer)
		if err == nil {
			t.Logf("sync now %s: %s", peer, out)
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync now %s: %v\n%s", peer, err, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (fn *fedNode) fpr() string { return fn.n.Identity.Fingerprint() }

// TestFederationCommands wires two nodes with mountFederation and drives
// them with the CLI: peer identity, peer add by fingerprint, sync now,
// sync status, peer preview and sync retract.
func TestFederationCommands(t *testing.T) {
	a := startFedNode(t, "a")
	b := startFedNode(t, "b")
	out := a.run(t, "peer", "identity", b.url)
	if !strings.Contains(out, formatFingerprint(b.n.Identity.Fingerprint())) {
		t.Fatalf("identity: %s", out)
	}
	a.run(t, "peer", "add", "b", "--url", b.url, "--fingerprint", b.n.Identity.Fingerprint(), "--max-tlp", "green")
	b.run(t, "peer", "add", "a", "--url", a.url, "--fingerprint", a.n.Identity.Fingerprint(), "--interval", "1h")
	objs, _ := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindDomain, Value: "evil.example"}, TLP: stix.TLPGreen})
	amber, _ := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindDomain, Value: "amber.example"}, TLP: stix.TLPAmber})
	if _, err := a.n.Indicators.Add(context.Background(), objs[0], amber[0]); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, "a")
	if _, ok, _ := b.n.Index.Current(objs[0].ID); !ok {
		t.Fatal("indicator not pulled")
	}
	if out := b.run(t, "sync", "status"); !strings.Contains(out, "a ") || !strings.Contains(out, "yes") {
		t.Fatalf("status: %s", out)
	}
	out = a.run(t, "peer", "preview", "b")
	if !strings.Contains(out, "1 would be sent, 1 withheld; tlp_amber: 1") {
		t.Fatalf("preview: %s", out)
	}
	out = a.run(t, "peer", "preview", "b", "--max-tlp", "amber", "--json")
	var pv federation.Preview
	if err := json.Unmarshal([]byte(out), &pv); err != nil || !pv.Draft || pv.Summary["allowed"] != 2 {
		t.Fatalf("draft preview: %v %s", err, out)
	}
	a.run(t, "sync", "retract", objs[0].ID, "--tlp", "red")
	deadline := time.Now().Add(5 * time.Second)
	for {
		e, _, _ := b.n.Index.Current(objs[0].ID)
		if e.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retraction did not reach B")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A pauses B: B's forced pull fails, and the CLI says why (the peer's
	// refusal), not only that the node answered 502.
	a.run(t, "peer", "update", "b", "--paused")
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, errOut, err := runFed(t, b.env, "sync", "now", "a")
		if err != nil && strings.Contains(err.Error(), "pull from a failed: peer answered 40") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync now against a peer that refuses: %v\n%s", err, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rows splits a table printed by the CLI into the fields of its lines,
// after the header (which must be the given one).
func rows(t *testing.T, out string, header ...string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != strings.Join(header, " ") {
		t.Fatalf("header %q, want %q\n%s", got, strings.Join(header, " "), out)
	}
	var rs [][]string
	for _, l := range lines[1:] {
		rs = append(rs, strings.Fields(l))
	}
	return rs
}

// TestSyncConflictsAndProvenanceCommands drives `kurier sync conflicts`
// and `kurier sync provenance` against three running nodes. C holds its
// own versions of two of A's objects (same id and modified, other
// content) before it pulls A: two conflicts. B relays A's objects to C,
// so a third object reaches C twice, directly and through B: two
// provenance records. The relayed copies of the conflicting objects are
// the content already kept: no more conflicts.
func TestSyncConflictsAndProvenanceCommands(t *testing.T) {
	a := startFedNode(t, "a")
	b := startFedNode(t, "b")
	c := startFedNode(t, "c")
	ctx := context.Background()
	ind := func(v string) *stix.Object {
		objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindDomain, Value: v}, TLP: stix.TLPGreen})
		if err != nil {
			t.Fatal(err)
		}
		return objs[0]
	}
	shared, clash1, clash2 := ind("shared.example"), ind("clash-1.example"), ind("clash-2.example")
	if _, err := a.n.Indicators.Add(ctx, shared, clash1, clash2); err != nil {
		t.Fatal(err)
	}
	// C's takes on A's ids: its own objects, first stored at C.
	var ours []*stix.Object
	for _, o := range []*stix.Object{clash1, clash2} {
		v := o.Clone()
		if err := v.Set("name", "C's own "+o.ID); err != nil {
			t.Fatal(err)
		}
		ours = append(ours, v)
	}
	if _, err := c.n.Indicators.Add(ctx, ours...); err != nil {
		t.Fatal(err)
	}

	a.run(t, "peer", "add", "b", "--url", b.url, "--fingerprint", b.fpr(), "--max-tlp", "green")
	a.run(t, "peer", "add", "c", "--url", c.url, "--fingerprint", c.fpr(), "--max-tlp", "green")
	b.run(t, "peer", "add", "a", "--url", a.url, "--fingerprint", a.fpr(), "--max-tlp", "green", "--interval", "1h")
	b.run(t, "peer", "add", "c", "--url", c.url, "--fingerprint", c.fpr(), "--max-tlp", "green", "--relay", "--interval", "1h")
	c.run(t, "peer", "add", "a", "--url", a.url, "--fingerprint", a.fpr(), "--max-tlp", "green", "--interval", "1h")
	// C learns of B only after it holds A's objects directly, so the
	// direct copy is the stored one and B's the further record.
	c.syncNow(t, "a")
	b.syncNow(t, "a")
	c.run(t, "peer", "add", "b", "--url", b.url, "--fingerprint", b.fpr(), "--max-tlp", "green", "--relay", "--interval", "1h")
	c.syncNow(t, "b")

	short := func(fpr string) string { return truncate(fpr, 16) }

	// The table: one line per kept conflict, in id order.
	conflictHeader := []string{"ID", "MODIFIED", "FROM", "ORIGIN", "HELD", "ORIGIN", "RECEIVED", "SHA-256"}
	want := []*stix.Object{clash1, clash2}
	if want[1].ID < want[0].ID {
		want[0], want[1] = want[1], want[0]
	}
	rs := rows(t, c.run(t, "sync", "conflicts"), conflictHeader...)
	if len(rs) != 2 {
		t.Fatalf("%d conflicts listed, want 2: %q", len(rs), rs)
	}
	for i, r := range rs {
		o := want[i]
		sum := sha256.Sum256(canonical(t, o))
		if len(r) != 7 || r[0] != o.ID || r[1] != o.Modified.Time().UTC().Format(time.RFC3339Nano) || r[2] != "a" ||
			r[3] != short(a.fpr()) || r[4] != short(c.fpr()) || r[6] != short(hex.EncodeToString(sum[:])) {
			t.Errorf("conflict line %d: %q; want %s from a, origin A, held origin C, sha256 of A's version", i, r, o.ID)
		}
	}
	if n := c.metric(t, `kurier_federation_conflicts_total{peer="a"}`); n != 2 {
		t.Errorf("C counted %v conflicts from A, want 2", n)
	}
	if n := c.metric(t, `kurier_federation_conflicts_total{peer="b"}`); n != 0 {
		t.Errorf("C counted %v conflicts from B (A's content again), want 0", n)
	}

	// --limit narrows; a limit beyond the node's page is paged, not refused.
	if rs := rows(t, c.run(t, "sync", "conflicts", "--limit", "1"), conflictHeader...); len(rs) != 1 || rs[0][0] != want[0].ID {
		t.Errorf("--limit 1: %q", rs)
	}
	if rs := rows(t, c.run(t, "sync", "conflicts", "--limit", "5000"), conflictHeader...); len(rs) != 2 {
		t.Errorf("--limit 5000: %q", rs)
	}
	// --id and --json: the conflicting version as received, with A's
	// signature over exactly its bytes.
	var cs []federation.Conflict
	out := c.run(t, "sync", "conflicts", "--id", clash1.ID, "--json")
	if err := json.Unmarshal([]byte(out), &cs); err != nil || len(cs) != 1 {
		t.Fatalf("--id --json: %v\n%s", err, out)
	}
	k := cs[0]
	obj, err := seal.Canonicalize(k.Object) // printed indented
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(obj)
	if k.ID != clash1.ID || k.Peer != "a" || k.Origin != a.fpr() || k.StoredOrigin != c.fpr() ||
		hex.EncodeToString(sum[:]) != k.SHA256 || k.StoredSHA256 == k.SHA256 || !bytes.Equal(obj, canonical(t, clash1)) {
		t.Fatalf("conflict of %s: %+v", clash1.ID, k)
	}
	aKey, _ := a.n.Identity.PublicEntity()
	if signer, err := seal.New(b.n.Identity, openpgp.EntityList{aKey}).VerifyJSON(obj, k.Sig); err != nil || signer.Fingerprint != a.fpr() {
		t.Fatalf("the kept signature does not verify as A's: %v", err)
	}
	if out := c.run(t, "sync", "conflicts", "--id", shared.ID); out != "no conflicts\n" {
		t.Errorf("conflicts of an object without any: %q", out)
	}
	if out := c.run(t, "sync", "conflicts", "--id", shared.ID, "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("--json without conflicts: %q", out)
	}

	// Provenance: the stored record (direct from A), then B's relay.
	rs = rows(t, c.run(t, "sync", "provenance", shared.ID), "VERSION", "ORIGIN", "PATH", "FROM", "RECEIVED", "RECORD")
	mod := shared.Modified.Time().UTC().Format(time.RFC3339Nano)
	if len(rs) != 2 ||
		len(rs[0]) != 6 || rs[0][0] != mod || rs[0][1] != short(a.fpr()) || rs[0][2] != "(direct)" || rs[0][3] != "a" || rs[0][5] != "stored" ||
		len(rs[1]) != 5 || rs[1][0] != mod || rs[1][1] != short(a.fpr()) || rs[1][2] != short(b.fpr()) || rs[1][3] != "b" {
		t.Fatalf("provenance of %s: %q", shared.ID, rs)
	}
	var op federation.ObjectProvenance
	out = c.run(t, "sync", "provenance", shared.ID, "--json")
	if err := json.Unmarshal([]byte(out), &op); err != nil || op.ID != shared.ID || len(op.Versions) != 1 || len(op.Versions[0].Records) != 2 {
		t.Fatalf("provenance --json: %v\n%s", err, out)
	}
	if r := op.Versions[0].Records[1]; r.Primary || !slices.Equal(r.Path, []string{b.fpr()}) || r.ReceivedFrom != b.fpr() || len(r.Sig) == 0 {
		t.Errorf("B's record: %+v", r)
	}
	// C's own version of a clashing id: one record, C's own, no path.
	rs = rows(t, c.run(t, "sync", "provenance", clash1.ID), "VERSION", "ORIGIN", "PATH", "FROM", "RECEIVED", "RECORD")
	if len(rs) != 1 || rs[0][1] != short(c.fpr()) || rs[0][2] != "(direct)" || rs[0][3] != short(c.fpr()) || rs[0][5] != "stored" {
		t.Errorf("provenance of C's own %s: %q", clash1.ID, rs)
	}

	// Bad input: a problem with a stable type, and an error exit.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "conflicts", "--id", "not-an-id"}, "400 Bad request: id must be a STIX identifier (type--UUID) (" + problem.BadRequest + ")"},
		{[]string{"sync", "provenance", "not-an-id"}, "400 Bad request: id must be a STIX identifier (type--UUID) (" + problem.BadRequest + ")"},
		{[]string{"sync", "provenance", stix.NewID("indicator")}, "404 "},
		{[]string{"sync", "conflicts", "--limit", "0"}, "--limit must be at least 1"},
	} {
		_, _, err := runFed(t, c.env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kurier %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if n := c.metric(t, `kurier_http_problems_total{type="bad-request"}`); n != 2 {
		t.Errorf("C counted %v bad-request problems, want 2", n)
	}
}

// canonical is the RFC 8785 form of o: the bytes its origin signed.
func canonical(t *testing.T, o *stix.Object) []byte {
	t.Helper()
	b, err := o.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// metric reads one series from the node's /metrics.
func (fn *fedNode) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(fn.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
