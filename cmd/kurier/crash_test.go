package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ack is one write the node acknowledged.
type ack struct {
	value, id, requestID string
}

// TestKill9AfterAcknowledgedWrites: writers add indicators through the API
// of a real `kurier serve`; the node is killed with SIGKILL while they are
// still writing. After a restart every acknowledged indicator is there
// (by id and by value search) and so is the audit entry of every
// acknowledged write.
func TestKill9AfterAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildKurier(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "KURIER_PASSPHRASE=correct horse", "KURIER_PASSPHRASE_FILE=")
	n := startServe(t, bin, env)
	analyst := strings.Fields(n.kurier("", true, "token", "create", "--role", "analyst", "--name", "ana"))[0]
	operator := strings.Fields(n.kurier("", true, "token", "create", "--role", "operator", "--name", "ops"))[0]

	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	idRE := regexp.MustCompile(`indicator--[0-9a-f-]{36}`)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				value := fmt.Sprintf("10.%d.%d.%d", w, i/250, i%250+1)
				body, _ := json.Marshal(map[string]any{"kind": "ipv4-addr", "value": value, "tlp": "green"})
				req, _ := http.NewRequest(http.MethodPost, n.url+"/api/v1/indicators", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+analyst)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the node is gone
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusCreated {
					return // cut off mid-answer: not acknowledged
				}
				mu.Lock()
				acked = append(acked, ack{value: value, id: idRE.FindString(string(data)), requestID: resp.Header.Get("X-Request-ID")})
				mu.Unlock()
			}
		}()
	}
	// Kill once a good number of writes are acknowledged, with the writers
	// still going.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		k := len(acked)
		mu.Unlock()
		if k >= 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	n = startServe(t, bin, env)
	get := func(token, path string) []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, n.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
		}
		return data
	}
	for _, a := range acked {
		if a.id == "" {
			t.Fatalf("acknowledged write of %s named no indicator", a.value)
		}
		if body := get(analyst, "/api/v1/objects/"+a.id); !strings.Contains(string(body), a.id) {
			t.Fatalf("acknowledged %s (%s) lost after SIGKILL: %s", a.id, a.value, body)
		}
		if body := get(analyst, "/api/v1/search?value="+a.value); !strings.Contains(string(body), a.id) {
			t.Fatalf("search for acknowledged %s does not find %s after SIGKILL: %s", a.value, a.id, body)
		}
	}
	var log struct {
		Events []struct {
			RequestID string `json:"request_id"`
			Route     string `json:"route"`
			Status    int    `json:"status"`
		} `json:"events"`
	}
	if err := json.Unmarshal(get(operator, "/api/v1/audit?limit=10000"), &log); err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, e := range log.Events {
		if e.Route == "/api/v1/indicators" && e.Status == http.StatusCreated {
			audited[e.RequestID] = true
		}
	}
	for _, a := range acked {
		if !audited[a.requestID] {
			t.Fatalf("acknowledged write %s (request %s) has no audit entry after SIGKILL", a.id, a.requestID)
		}
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
}
