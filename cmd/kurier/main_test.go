package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// run executes the CLI in-process with its own environment.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(func(k string) string { return env[k] }, &out, &errb)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestHelpOnEveryCommand(t *testing.T) {
	root := newRootCmd(func(string) string { return "" }, io.Discard, io.Discard)
	var walk func(c *cobra.Command)
	var paths [][]string
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "completion" {
			paths = append(paths, strings.Fields(c.CommandPath())[1:])
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(paths) < 12 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, p := range paths {
		t.Run(strings.Join(append([]string{"kurier"}, p...), " "), func(t *testing.T) {
			out, _, err := run(t, nil, append(p, "--help")...)
			if err != nil {
				t.Fatalf("--help failed: %v", err)
			}
			if !strings.Contains(out, "Usage:") || !strings.Contains(out, "--data-dir") {
				t.Fatalf("help lacks usage or global flags:\n%s", out)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--no-such-flag"}, 2, "unknown flag"},
		{[]string{"token", "create", "--name", "x", "--role", "king"}, 2, `unknown role "king"`},
		{[]string{"token", "create", "--name", "x"}, 1, `required flag(s) "role" not set`},
		{[]string{"status"}, 1, "KURIER_URL is not set"},
		{[]string{"config", "check", "--config", "/nonexistent/kurier.yaml"}, 1, "no such file"},
		{[]string{"token", "create", "--name", "x", "--role", "operator", "--tlp-red"}, 2, "--tlp-red needs a role that reads indicators"},
		{[]string{"bogus"}, 2, `unknown command "bogus" for "kurier"`},
		{[]string{"config", "bogus"}, 2, `unknown command "bogus" for "kurier config"`},
		{[]string{"token", "revok"}, 2, `unknown command "revok" for "kurier token"`},
		{[]string{"key"}, 2, "kurier key needs a subcommand"},
		{[]string{"evidence", "custody-log"}, 2, `unknown command "custody-log" for "kurier evidence"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(t, map[string]string{"HOME": t.TempDir()}, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			code := 1
			if ee, ok := err.(exitError); ok {
				code = ee.code
			}
			if code != tt.code {
				t.Fatalf("exit code %d, want %d", code, tt.code)
			}
		})
	}
}

func TestConfigExampleIsValid(t *testing.T) {
	home := t.TempDir()
	out, _, err := run(t, map[string]string{"HOME": home}, "config", "example")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, "c.yaml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, err := run(t, map[string]string{"HOME": home}, "config", "check", "--config", path); err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("example does not check: %v %s", err, out)
	}
}

// buildKurier compiles the real binary once per test run.
func buildKurier(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kurier")
	cmd := exec.Command("go", "build", "-race", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// TestServeEmbeddedDefault is README command 1 as a user runs it: a fresh
// HOME, no config, no passphrase. The node starts, answers health, ready and
// metrics (checked by promtool), a token made with the CLI works with
// `kurier status`, and SIGTERM stops it cleanly.
func TestServeEmbeddedDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildKurier(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "KURIER_PASSPHRASE=", "KURIER_PASSPHRASE_FILE=")

	n := startServe(t, bin, env)
	url := n.url

	dataDir := filepath.Join(home, ".local", "share", "kurier")
	for _, f := range []string{"passphrase", "node-key.asc"} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatalf("%s not created: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s = %d", path, resp.StatusCode)
		}
	}

	// A token from the local admin command works against the running node.
	tok := exec.Command(bin, "token", "create", "--role", "admin", "--name", "tester")
	tok.Env = env
	tokOut, err := tok.Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(tokOut))
	st := exec.Command(bin, "status", "--json")
	st.Env = append(env, "KURIER_URL="+url, "KURIER_TOKEN="+token)
	stOut, err := st.CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, stOut)
	}
	var status struct {
		Name, Fingerprint, Role string
		StoreOK                 bool `json:"store_ok"`
	}
	if err := json.Unmarshal(stOut, &status); err != nil || status.Role != "admin" || !status.StoreOK || len(status.Fingerprint) < 40 {
		t.Fatalf("status = %+v (%v)\n%s", status, err, stOut)
	}
	bad := exec.Command(bin, "status")
	bad.Env = append(env, "KURIER_URL="+url, "KURIER_TOKEN=kur_0000000000000000_nope")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("bad token accepted: %v %s", err, out)
	}

	// The exported key is the one the node reports.
	exp := exec.Command(bin, "key", "export")
	exp.Env = env
	pub, err := exp.Output()
	if err != nil || !bytes.Contains(pub, []byte("BEGIN PGP PUBLIC KEY BLOCK")) {
		t.Fatalf("key export: %v %s", err, pub)
	}

	// gpg accepts the exported key as it is printed.
	if gpg, err := exec.LookPath("gpg"); err == nil {
		home, err := os.MkdirTemp("/tmp", "gpg")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(home)
		imp := exec.Command(gpg, "--homedir", home, "--batch", "--status-fd", "1", "--import")
		imp.Stdin = bytes.NewReader(pub)
		out, err := imp.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("IMPORT_OK")) {
			t.Fatalf("gpg --import of `kurier key export`: %v\n%s", err, out)
		}
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
	} else if os.Getenv("KURIER_REQUIRE_TOOLS") == "1" {
		t.Fatal("gpg is required but not installed")
	}

	// /metrics passes promtool, and shows the request we just made.
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte(`kurier_http_requests_total{code="200",method="GET",route="/api/v1/status"} 1`)) {
		t.Errorf("metrics lack the status request:\n%s", metrics)
	}
	checkMetrics(t, metrics)

	if err := n.stop(); err != nil {
		t.Fatalf("node did not stop cleanly: %v; stderr:\n%s", err, n.stderr)
	}
	if !strings.Contains(n.stderr.String(), "WARNING: no KURIER_PASSPHRASE") {
		t.Errorf("no warning about the generated passphrase:\n%s", n.stderr)
	}
}

func checkMetrics(t *testing.T, metrics []byte) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("KURIER_REQUIRE_TOOLS") == "1" {
			t.Fatal("promtool is required (Debian package prometheus) but not installed")
		}
		t.Skip("promtool not installed")
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	} else if len(bytes.TrimSpace(out)) > 0 {
		t.Logf("promtool: %s", out)
	}
}
