package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
)

// TestEvidenceVerifyBreaksCLI: `kurier evidence verify` on a real node
// (embedded store) names what was broken and fails (main exits 1): an
// event in the middle of the custody chain hidden by a delete marker (the
// one thing Object Lock does not prevent), then an item's ciphertext
// changed on disk under the store.
func TestEvidenceVerifyBreaksCLI(t *testing.T) {
	url, n, peer, liaison, dir := liaisonNode(t)
	ctx := context.Background()
	pkg := createCLI(t, url, liaison, dir, spontaneous(peer, time.Now().Add(24*time.Hour)))
	item := filepath.Join(dir, "kit.zip")
	os.WriteFile(item, []byte(strings.Repeat("phishing kit ", 10000)), 0o600)
	mustCLI(t, url, liaison, "add-item", pkg, item)
	mustCLI(t, url, liaison, "seal", pkg)
	if out := mustCLI(t, url, liaison, "verify", pkg); !strings.Contains(out, "every hash, signature and link verified") {
		t.Fatalf("verify before the break:\n%s", out)
	}

	// Event 1 (stored) hidden: the listing jumps from 0 to 2.
	if err := n.Evidence.Delete(ctx, fmt.Sprintf("pkg/%s/custody/%010d.json", pkg, 1), store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := evidenceCLI(t, url, liaison, "verify", pkg)
	failed(t, err, out, "custody event 1")
	for _, want := range []string{
		"custody: BROKEN at event 1: event 1 is missing (next is 2) [custody-gap]",
		"custody: HIDDEN: custody event 1 has 1 stored versions and 1 delete markers",
		"item kit.zip: ok",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify output lacks %q:\n%s", want, out)
		}
	}

	// The item's ciphertext changed behind the store's back.
	var shown struct {
		Items []struct {
			Object struct{ Key, Version string }
		}
	}
	if err := json.Unmarshal([]byte(mustCLI(t, url, liaison, "show", pkg, "--json")), &shown); err != nil || len(shown.Items) != 1 {
		t.Fatalf("show: %v %+v", err, shown)
	}
	flipStoredByte(t, n.Config.DataDir, shown.Items[0].Object.Key)
	out, err = evidenceCLI(t, url, liaison, "verify", pkg, "--json")
	failed(t, err, out, "item kit.zip")
	var rep struct {
		OK    bool
		Items []struct {
			Name string
			OK   bool
			Note string
		}
		Break *struct{ Seq int64 }
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if rep.OK || len(rep.Items) != 1 || rep.Items[0].OK || rep.Items[0].Note == "" || rep.Break == nil || rep.Break.Seq != 1 {
		t.Fatalf("verify --json after changing the item: %+v\n%s", rep, out)
	}

	// A delete marker put in the key of the next event: the node records
	// nothing more there (409, counted), so the chain is not written over.
	var last struct {
		LastEvent int64 `json:"last_event"`
	}
	json.Unmarshal([]byte(mustCLI(t, url, liaison, "show", pkg, "--json")), &last)
	next := last.LastEvent + 1
	if err := n.Evidence.Delete(ctx, fmt.Sprintf("pkg/%s/custody/%010d.json", pkg, next), store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err = evidenceCLI(t, url, liaison, "custody", pkg)
	if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), fmt.Sprintf("custody event %d cannot be written", next)) {
		t.Fatalf("custody after a delete marker in the next key: %v\n%s", err, out)
	}
	if m := metricsText(t, url); !strings.Contains(m, `kurier_evidence_custody_appends_refused_total{reason="hidden-version"} 1`+"\n") {
		t.Fatalf("refused append not counted:\n%s", m)
	}
}

// TestEvidenceHiddenRecordCLI: on a real node (embedded store), a delete
// marker on a package's record is named by `show` and `verify` (which
// fails), counted in kurier_evidence_hidden_records, and a create with the
// package's id is refused naming it. (The restart path, on fs and MinIO, is
// evidence.TestHiddenRecord.)
func TestEvidenceHiddenRecordCLI(t *testing.T) {
	url, n, peer, liaison, dir := liaisonNode(t)
	ctx := context.Background()
	m := spontaneous(peer, time.Now().Add(24*time.Hour))
	pkg := createCLI(t, url, liaison, dir, m)
	if err := n.Evidence.Delete(ctx, "index/"+pkg+".json", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, url, liaison, "show", pkg); !strings.Contains(out, "record:    HIDDEN: the package record index/"+pkg+".json is hidden by a delete marker") {
		t.Fatalf("show with the record hidden:\n%s", out)
	}
	out, err := evidenceCLI(t, url, liaison, "verify", pkg)
	failed(t, err, out, "index/"+pkg+".json")
	if !strings.Contains(out, "record: HIDDEN: package record index/"+pkg+".json has 1 stored versions and 1 delete markers") {
		t.Fatalf("verify with the record hidden:\n%s", out)
	}
	if mt := metricsText(t, url); !strings.Contains(mt, "kurier_evidence_hidden_records 1\n") {
		t.Fatalf("hidden record not counted:\n%s", mt)
	}
	if out := mustCLI(t, url, liaison, "list"); !strings.Contains(out, "(record HIDDEN)") || strings.Count(out, "HIDDEN") != 1 {
		t.Fatalf("list with one record hidden:\n%s", out)
	}
	m.ID = pkg
	f := filepath.Join(dir, "again.json")
	b, _ := json.Marshal(m)
	os.WriteFile(f, b, 0o600)
	out, err = evidenceCLI(t, url, liaison, "create", "--file", f)
	if err == nil || !strings.Contains(err.Error(), "package id "+pkg+" was already used: its package record index/"+pkg+".json is hidden by a delete marker") {
		t.Fatalf("create with the hidden package's id: %v\n%s", err, out)
	}
}

func metricsText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// failed checks that a CLI run failed with an error naming what, which
// main turns into exit status 1 (an error without an exitError code).
func failed(t *testing.T, err error, out, what string) {
	t.Helper()
	var ee exitError
	if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), "verification failed") || !strings.Contains(err.Error(), what) {
		t.Fatalf("verify: error %v (want one naming %q):\n%s", err, what, out)
	}
}

// flipStoredByte changes one byte in the middle of the stored data of key
// in the fs store under dataDir, as a disk fault or someone bypassing the
// store would.
func flipStoredByte(t *testing.T, dataDir, key string) {
	t.Helper()
	var data string
	err := filepath.WalkDir(dataDir, func(path string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "meta.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var meta struct{ Key string }
		if json.Unmarshal(b, &meta) == nil && meta.Key == key {
			data = filepath.Join(filepath.Dir(path), "data")
		}
		return nil
	})
	if err != nil || data == "" {
		t.Fatalf("stored data of %s not found under %s: %v", key, dataDir, err)
	}
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	os.Chmod(data, 0o600)
	if err := os.WriteFile(data, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
