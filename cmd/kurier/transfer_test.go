package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/stix"
)

// importNode runs a node in-process and returns the environment for the
// CLI (KURIER_URL, an analyst's KURIER_TOKEN).
func importNode(t *testing.T) (*node.Node, map[string]string) {
	t.Helper()
	env := map[string]string{"HOME": t.TempDir(), "KURIER_PASSPHRASE": "test passphrase"}
	cfg := config.Default(func(k string) string { return env[k] })
	cfg.DataDir = t.TempDir()
	n, err := node.Open(context.Background(), cfg, node.Options{Env: func(k string) string { return env[k] }, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; _ = n.Close() })
	tok, _, err := n.Tokens.Create(ctx, "ana", auth.Analyst)
	if err != nil {
		t.Fatal(err)
	}
	env["KURIER_URL"], env["KURIER_TOKEN"] = "http://"+ln.Addr().String(), tok
	return n, env
}

func indicatorObject(id string, modified time.Time) string {
	ts := modified.UTC().Format("2006-01-02T15:04:05.000Z")
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2026-01-01T00:00:00.000Z","modified":%q,`+
		`"name":"x","pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`, id, ts)
}

func writeBundle(t *testing.T, objs []string, tail string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bundle.json")
	body := `{"type":"bundle","id":"` + stix.NewID("bundle") + `","objects":[` + strings.Join(objs, ",") + tail + `]}`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportDuplicatesAcrossBatches: ids repeated in one file are rejected
// (every copy, named, in the summary) even when the copies fall in
// different requests, and nothing of them reaches the node; the other
// objects are stored.
func TestImportDuplicatesAcrossBatches(t *testing.T) {
	n, env := importNode(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	unique := make([]string, 5)
	for i := range unique {
		unique[i] = stix.NewID("indicator")
	}
	twice, thrice, versions := stix.NewID("indicator"), stix.NewID("indicator"), stix.NewID("indicator")
	// With --batch 2 the copies of each repeated id land in different
	// requests (first and last, or spread over the file).
	objs := []string{
		indicatorObject(twice, base), indicatorObject(unique[0], base), indicatorObject(thrice, base),
		indicatorObject(unique[1], base), indicatorObject(versions, base), indicatorObject(unique[2], base),
		indicatorObject(thrice, base), indicatorObject(unique[3], base), indicatorObject(versions, base.Add(time.Hour)),
		indicatorObject(unique[4], base), indicatorObject(thrice, base), indicatorObject(twice, base),
	}
	file := writeBundle(t, objs, "")
	out, errOut, err := run(t, env, "import", "--quiet", "--batch", "2", file)
	if err == nil {
		t.Fatalf("import succeeded with duplicates:\n%s%s", out, errOut)
	}
	if want := "12 objects: 5 accepted (5 new, 0 already known), 7 rejected"; !strings.Contains(out, want) {
		t.Fatalf("summary %q, want %q\nstderr:\n%s", out, want, errOut)
	}
	for id, copies := range map[string]int{twice: 2, thrice: 3, versions: 2} {
		line := regexp.MustCompile(`(?m)^rejected ` + id + `: .*id: duplicate id in bundle \(` + fmt.Sprint(copies) + ` objects share it\)$`)
		if got := len(line.FindAllString(errOut, -1)); got != copies {
			t.Errorf("%s: %d rejection lines, want %d\n%s", id, got, copies, errOut)
		}
		if _, ok, err := n.Indicators.Current(ctx, id); err != nil || ok {
			t.Errorf("%s stored (err %v)", id, err)
		}
	}
	for _, id := range unique {
		if _, ok, err := n.Indicators.Current(ctx, id); err != nil || !ok {
			t.Errorf("%s not stored (err %v)", id, err)
		}
	}

	// Bad input after some objects: what precedes it is sent, with the
	// repeats among it still rejected.
	a, b := stix.NewID("indicator"), stix.NewID("indicator")
	file = writeBundle(t, []string{indicatorObject(a, base), indicatorObject(b, base), indicatorObject(a, base)}, `,{"type":"indicator",}`)
	out, errOut, err = run(t, env, "import", "--quiet", "--batch", "1", file)
	if err == nil || !strings.Contains(err.Error(), "stopped (objects before this point were sent)") {
		t.Fatalf("err = %v\n%s%s", err, out, errOut)
	}
	if got := strings.Count(errOut, "rejected "+a+": "); got != 2 {
		t.Errorf("%d rejections of %s, want 2\n%s", got, a, errOut)
	}
	if _, ok, _ := n.Indicators.Current(ctx, a); ok {
		t.Errorf("%s stored", a)
	}
	if _, ok, _ := n.Indicators.Current(ctx, b); !ok {
		t.Errorf("%s not stored", b)
	}
}
