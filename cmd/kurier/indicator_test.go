package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

type proc struct {
	t      *testing.T
	bin    string
	env    []string
	url    string
	cmd    *exec.Cmd
	stderr *bytes.Buffer // read it only after stop
}

func startServe(t *testing.T, bin string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case u := <-urlc:
		return &proc{t: t, bin: bin, env: env, url: u, cmd: cmd, stderr: stderr}
	case <-time.After(60 * time.Second):
		t.Fatalf("node did not start; stderr:\n%s", stderr.String())
	}
	return nil
}

// stop sends SIGTERM and waits (at most 30 s) for a clean exit.
func (p *proc) stop() error {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("node did not stop on SIGTERM")
	}
}

// kurier runs a CLI command against the node; it returns stdout and fails
// the test unless the exit status is as wanted.
func (p *proc) kurier(token string, wantOK bool, args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Env = append(append([]string{}, p.env...), "KURIER_URL="+p.url, "KURIER_TOKEN="+token)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if (err == nil) != wantOK {
		p.t.Fatalf("kurier %v: err=%v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// TestIndicatorWorkflow is an analyst's day through the real binary: quick
// add, search with CIDR containment, import of the OASIS examples with a
// summary, export, revoke, sighting; then reindex with the node stopped
// gives the same answers.
func TestIndicatorWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildKurier(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "KURIER_PASSPHRASE=correct horse", "KURIER_PASSPHRASE_FILE=")
	n := startServe(t, bin, env)
	token := strings.TrimSpace(n.kurier("", true, "token", "create", "--role", "analyst", "--name", "ana"))
	token = strings.Fields(token)[0]

	out := n.kurier(token, true, "indicator", "add", "ipv4-addr", "203.0.113.7", "--tlp", "green", "--label", "c2")
	if !strings.Contains(out, "indicator--") || !strings.Contains(out, "[ipv4-addr:value = '203.0.113.7']") {
		t.Fatalf("add: %s", out)
	}
	indID := regexp.MustCompile(`indicator--[0-9a-f-]{36}`).FindString(out)
	n.kurier(token, true, "indicator", "add", "ipv4-addr", "198.51.100.0/24", "--tlp", "amber")

	out = n.kurier(token, true, "indicator", "search", "203.0.113.7")
	if !strings.Contains(out, "exact") || !strings.Contains(out, indID) || !strings.Contains(out, "green") {
		t.Fatalf("search exact: %s", out)
	}
	out = n.kurier(token, true, "indicator", "search", "198.51.100.77")
	if !strings.Contains(out, "contains") || !strings.Contains(out, "198.51.100.0/24") {
		t.Fatalf("search CIDR: %s", out)
	}

	examples, _ := filepath.Glob("../../node/indicator/testdata/*.json")
	var bundles []string
	for _, e := range examples {
		if !strings.Contains(e, "interop-objectmarking") {
			bundles = append(bundles, e)
		}
	}
	out = n.kurier(token, true, append([]string{"import", "--quiet"}, bundles...)...)
	if !regexp.MustCompile(`\d+ objects: \d+ accepted .* 0 rejected`).MatchString(out) {
		t.Fatalf("import summary: %s", out)
	}
	// The lone interop object names a marking nobody defined: rejected,
	// named, non-zero exit.
	out = n.kurier(token, false, "import", "../../node/indicator/testdata/interop-objectmarking-test.json")
	if !strings.Contains(out, "1 rejected") || !strings.Contains(out, "campaign--0c7b5b88") {
		t.Fatalf("bad import: %s", out)
	}

	out = n.kurier(token, true, "export", "--type", "indicator", "--tlp", "green")
	var bundle struct {
		Type    string
		Objects []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &bundle); err != nil || bundle.Type != "bundle" {
		t.Fatalf("export is not a bundle: %v\n%s", err, out)
	}
	found := false
	for _, o := range bundle.Objects {
		if o["id"] == indID {
			found = true
		}
		if o["type"] != "indicator" {
			t.Errorf("export --type indicator gave %v", o["type"])
		}
	}
	if !found {
		t.Fatalf("exported bundle lacks %s", indID)
	}

	// The same objects are served over TAXII 2.1 by the running binary.
	req, _ := http.NewRequest(http.MethodGet, n.url+"/taxii2/api/collections/tlp-green/objects/?match[type]=indicator", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/taxii+json;version=2.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/taxii+json") || !strings.Contains(string(body), indID) {
		t.Fatalf("TAXII objects: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	n.kurier(token, true, "sighting", "add", indID, "--count", "3", "--first-seen", "2026-11-24T10:00:00Z", "--last-seen", "2026-11-24T12:00:00Z")
	out = n.kurier(token, true, "export", "--type", "sighting")
	if !strings.Contains(out, `"sighting_of_ref":"`+indID+`"`) || !strings.Contains(out, `"count":3`) {
		t.Fatalf("sighting not exported: %s", out)
	}

	before := n.kurier(token, true, "indicator", "search", "--json", "198.51.100.77")
	n.kurier(token, true, "indicator", "revoke", indID)
	if out := n.kurier(token, true, "indicator", "search", "--type", "indicator", "203.0.113.7"); !strings.Contains(out, "no match") {
		t.Fatalf("revoked indicator still found: %s", out)
	}

	// Reindex with the node stopped; the restarted node answers the same.
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	re := exec.Command(bin, "reindex")
	re.Env = env
	if out, err := re.CombinedOutput(); err != nil || !strings.Contains(string(out), "reindexed") {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	n = startServe(t, bin, env)
	after := n.kurier(token, true, "indicator", "search", "--json", "198.51.100.77")
	if before != after {
		t.Fatalf("answers differ after reindex:\n%s\n%s", before, after)
	}
	if out := n.kurier(token, true, "indicator", "search", "--type", "indicator", "203.0.113.7"); !strings.Contains(out, "no match") {
		t.Fatalf("revoked indicator found after reindex: %s", out)
	}
}
