package federation

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store/miniotest"
)

type configT = config.Config

// testNode is a real node (its own store, index and key) serving HTTP on
// loopback, with federation mounted and started.
type testNode struct {
	t      testing.TB
	name   string
	cfg    config.Config
	n      *node.Node
	f      *Federation
	url    string
	token  string
	cancel context.CancelFunc
	done   chan error
	opts   Options
}

var testEnv = func(k string) string {
	if k == "KURIER_PASSPHRASE" {
		return "test passphrase"
	}
	return ""
}

func testConfig(t testing.TB, name string) config.Config {
	t.Helper()
	cfg := config.Default(func(k string) string {
		if k == "HOME" {
			return t.TempDir()
		}
		return ""
	})
	cfg.Node.Name = name
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout = config.Duration(5 * time.Second)
	return cfg
}

// onMinIO puts the node's store on a MinIO server.
func onMinIO(srv *miniotest.Server) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.Store.Driver = "s3"
		cfg.Store.S3.Endpoint = srv.Endpoint
		cfg.Store.S3.AccessKey = srv.AccessKey
		cfg.Store.S3.SecretKey = srv.SecretKey
		cfg.Store.Buckets.Objects = "objects-" + strings.ToLower(strings.ReplaceAll(fmt.Sprint(time.Now().UnixNano()), "-", ""))
		cfg.Store.Buckets.Evidence = cfg.Store.Buckets.Objects + "-ev"
	}
}

func fastOptions() Options {
	return Options{ReloadInterval: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, IdleTimeout: 5 * time.Second, RequestTimeout: 30 * time.Second}
}

func startNode(t testing.TB, name string, mods ...func(*config.Config)) *testNode {
	t.Helper()
	return startNodeWith(t, name, nil, mods...)
}

// startNodeWith starts a node with federation options changed by opt.
func startNodeWith(t testing.TB, name string, opt func(*Options), mods ...func(*config.Config)) *testNode {
	t.Helper()
	cfg := testConfig(t, name)
	for _, m := range mods {
		m(&cfg)
	}
	tn := &testNode{t: t, name: name, cfg: cfg, opts: fastOptions()}
	if opt != nil {
		opt(&tn.opts)
	}
	tn.start("127.0.0.1:0")
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) start(addr string) {
	t := tn.t
	t.Helper()
	n, err := node.Open(context.Background(), tn.cfg, node.Options{Env: testEnv, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Mount(n, tn.opts)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // a restarted node takes its old port back
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.n, tn.f, tn.cancel, tn.done = n, f, cancel, make(chan error, 1)
	tn.url = "http://" + ln.Addr().String()
	go func() { tn.done <- n.Serve(ctx, ln) }()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if tn.token == "" {
		tn.token, _, err = n.Tokens.Create(context.Background(), "ops", auth.Admin)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (tn *testNode) stop() {
	if tn.cancel == nil {
		return
	}
	tn.f.Stop()
	tn.cancel()
	<-tn.done
	_ = tn.n.Close()
	tn.cancel = nil
}

func (tn *testNode) fpr() string { return tn.n.Identity.Fingerprint() }

// peer adds other as a peer of tn with the given policy.
func (tn *testNode) peer(other *testNode, p policy.Policy) {
	tn.t.Helper()
	tn.peerInterval(other, p, time.Hour)
}

func (tn *testNode) peerInterval(other *testNode, p policy.Policy, interval time.Duration) {
	tn.t.Helper()
	pub, err := tn.otherKey(other)
	if err != nil {
		tn.t.Fatal(err)
	}
	doc, err := peers.New(other.name, other.url, pub, other.fpr(), p, interval)
	if err != nil {
		tn.t.Fatal(err)
	}
	if _, err := peers.NewStore(tn.n.Objects).Add(context.Background(), doc); err != nil {
		tn.t.Fatal(err)
	}
	if err := tn.f.Reload(context.Background()); err != nil {
		tn.t.Fatal(err)
	}
}

func (tn *testNode) otherKey(other *testNode) ([]byte, error) {
	return other.n.Identity.ArmoredPublicKey()
}

// setPolicy stores a new version of a peer's policy.
func (tn *testNode) setPolicy(name string, p policy.Policy) {
	tn.t.Helper()
	if _, err := peers.NewStore(tn.n.Objects).Update(context.Background(), name, func(d *peers.Peer) error {
		d.Policy = p
		return nil
	}); err != nil {
		tn.t.Fatal(err)
	}
	if err := tn.f.Reload(context.Background()); err != nil {
		tn.t.Fatal(err)
	}
}

var ipCounter struct {
	sync.Mutex
	n int
}

func nextIP() string {
	ipCounter.Lock()
	defer ipCounter.Unlock()
	ipCounter.n++
	return fmt.Sprintf("198.51.%d.%d", (ipCounter.n>>8)&255, ipCounter.n&255)
}

// indicator stores a new indicator on tn and returns its id.
func (tn *testNode) indicator(tlp stix.TLP, labels ...string) string {
	tn.t.Helper()
	objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{Value: stix.Value{Kind: stix.KindIPv4, Value: nextIP()}, TLP: tlp, Labels: labels})
	if err != nil {
		tn.t.Fatal(err)
	}
	if _, err := tn.n.Indicators.Add(context.Background(), objs[0]); err != nil {
		tn.t.Fatal(err)
	}
	return objs[0].ID
}

// object stores any object on tn.
func (tn *testNode) object(props ...stix.Property) string {
	tn.t.Helper()
	o, err := stix.NewObject(props...)
	if err != nil {
		tn.t.Fatal(err)
	}
	if _, err := tn.n.Indicators.Add(context.Background(), o); err != nil {
		tn.t.Fatal(err)
	}
	return o.ID
}

func (tn *testNode) current(id string) (index.Entry, bool) {
	e, ok, err := tn.n.Index.Current(id)
	if err != nil {
		tn.t.Fatal(err)
	}
	return e, ok
}

// visible reports whether id shows in the node's default views (current
// and not revoked).
func (tn *testNode) visible(id string) bool {
	e, ok := tn.current(id)
	return ok && !e.Revoked
}

func (tn *testNode) sync(peer string) SyncResult {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := tn.f.SyncNow(ctx, peer)
	if err != nil {
		tn.t.Fatalf("%s: sync %s: %v", tn.name, peer, err)
	}
	if res.Error != "" {
		tn.t.Fatalf("%s: sync %s: %s", tn.name, peer, res.Error)
	}
	return res
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric returns the value of one series from the node's /metrics.
func (tn *testNode) metric(series string) float64 {
	tn.t.Helper()
	resp, err := http.Get(tn.url + "/metrics")
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, series+" "), "%g", &v)
			return v
		}
	}
	return 0
}
