package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/federation"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
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
	// The running nodes reload their peer documents within seconds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, err := runFed(t, b.env, "sync", "now", "a")
		if err == nil {
			t.Logf("sync now: %s", out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync now: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
	deadline = time.Now().Add(5 * time.Second)
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
}
