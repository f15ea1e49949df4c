package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store/miniotest"
)

func testConfig(t testing.TB) config.Config {
	t.Helper()
	env := func(k string) string {
		if k == "HOME" {
			return t.TempDir()
		}
		return ""
	}
	cfg := config.Default(env)
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout = config.Duration(10 * time.Second)
	return cfg
}

func startNode(t testing.TB, cfg config.Config, mount func(n *Node)) (*Node, string, context.CancelFunc, chan error) {
	t.Helper()
	env := func(k string) string {
		if k == "KURIER_PASSPHRASE" {
			return "test passphrase"
		}
		return ""
	}
	n, err := Open(context.Background(), cfg, Options{Env: env, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if mount != nil {
		mount(n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; _ = n.Close() })
	return n, "http://" + ln.Addr().String(), cancel, done
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestS3NodeReadiness runs a node on a real MinIO: it creates its buckets
// (evidence with Object Lock), serves, and /readyz turns 503 when MinIO goes away.
func TestS3NodeReadiness(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := testConfig(t)
	cfg.Store.Driver = "s3"
	cfg.Store.S3.Endpoint = srv.Endpoint
	cfg.Store.S3.AccessKey = srv.AccessKey
	cfg.Store.S3.SecretKey = srv.SecretKey
	n, url, _, _ := startNode(t, cfg, nil)

	secret, _, err := n.Tokens.Create(context.Background(), "ops", auth.Operator)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, url+"/api/v1/status", secret); code != 200 {
		t.Fatalf("status = %d %s", code, body)
	}
	if code, _ := get(t, url+"/readyz", ""); code != 200 {
		t.Fatalf("readyz = %d with MinIO up", code)
	}
	srv.Stop()
	if code, body := get(t, url+"/readyz", ""); code != 503 {
		t.Fatalf("readyz = %d %s with MinIO down", code, body)
	}
	if code, _ := get(t, url+"/healthz", ""); code != 200 {
		t.Fatalf("healthz should not depend on the store")
	}
	_, metrics := get(t, url+"/metrics", "")
	if !strings.Contains(metrics, `kurier_store_up{driver="s3"} 0`) {
		t.Fatalf("store_up not 0:\n%s", metrics)
	}
}

// TestGracefulShutdown: on cancel (SIGTERM in serve) an in-flight request
// still completes, and new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	cfg := testConfig(t)
	n, url, cancel, done := startNode(t, cfg, func(n *Node) {
		n.API.Authenticated(func(r chi.Router) {
			r.Post("/api/v1/slow", func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-release
				_, _ = w.Write([]byte("finished"))
			})
		})
	})
	secret, _, err := n.Tokens.Create(context.Background(), "a", auth.Analyst)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/slow", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resc <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel()
	time.Sleep(200 * time.Millisecond) // let Shutdown close the listener
	if _, err := net.DialTimeout("tcp", url[len("http://"):], time.Second); err == nil {
		t.Error("new connections still accepted during shutdown")
	}
	close(release)
	res := <-resc
	if res.err != nil || res.code != 200 || res.body != "finished" {
		t.Fatalf("in-flight request: %+v", res)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	done <- nil // for the cleanup
}

// TestNodeAuthorsAsItsIdentity: the node versions objects whose
// created_by_ref is its own STIX identity (derived from its key), and
// refuses to version another producer's.
func TestNodeAuthorsAsItsIdentity(t *testing.T) {
	n, _, _, _ := startNode(t, testConfig(t), nil)
	ctx := context.Background()
	for _, tc := range []struct {
		creator string
		ok      bool
	}{
		{stix.NodeIdentityID(n.Identity.Fingerprint()), true},
		{"identity--f690c992-8e7d-4b9a-9303-3312616c0220", false},
	} {
		objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{
			Value: stix.Value{Kind: stix.KindDomain, Value: "c2-" + tc.creator[10:18] + ".example"}, CreatedByRef: tc.creator,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Indicators.Add(ctx, objs...); err != nil {
			t.Fatal(err)
		}
		_, err = n.Indicators.Revoke(ctx, objs[0].ID, time.Now())
		if tc.ok && err != nil {
			t.Fatalf("revoke of the node's own object (created_by_ref %s): %v", tc.creator, err)
		}
		if !tc.ok && !errors.Is(err, indicator.ErrNotCreator) {
			t.Fatalf("revoke of another producer's object: %v", err)
		}
	}
}
