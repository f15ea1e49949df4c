package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/segment"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store/miniotest"
)

// TestHelperNode is not a test: it is the body of a node process started
// by TestKill9DuringSync (a real process, so it can be killed with
// SIGKILL). It serves until killed.
func TestHelperNode(t *testing.T) {
	dir := os.Getenv("KURIER_FED_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	st, err := decodeStore(os.Getenv("KURIER_FED_HELPER_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := helperConfig(dir, os.Getenv("KURIER_FED_HELPER_NAME"), os.Getenv("KURIER_FED_HELPER_LISTEN"), st)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	n, err := node.Open(ctx, cfg, node.Options{Env: testEnv, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	opts := fastOptions()
	opts.BatchLimit, _ = strconv.Atoi(os.Getenv("KURIER_FED_HELPER_BATCH"))
	f, err := Mount(n, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Serve(ctx, ln) }()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	f.Stop()
}

// decodeStore reads the store settings a helper process is given; empty
// means the default fs store under its data directory.
func decodeStore(s string) (*config.Store, error) {
	if s == "" {
		return nil, nil
	}
	var st config.Store
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, fmt.Errorf("KURIER_FED_HELPER_STORE: %w", err)
	}
	return &st, nil
}

func helperConfig(dir, name, listen string, st *config.Store) config.Config {
	cfg := config.Default(func(string) string { return "" })
	cfg.Node.Name = name
	cfg.DataDir = dir
	cfg.Listen = listen
	cfg.HTTP.ShutdownTimeout = config.Duration(2 * time.Second)
	if st != nil {
		cfg.Store = *st
	}
	return cfg
}

type proc struct {
	t      *testing.T
	name   string
	dir    string
	listen string
	batch  int
	// store is nil for the fs store in dir, else an s3 store (MinIO); the
	// same buckets across restarts.
	store *config.Store
	cmd   *exec.Cmd
}

func (p *proc) url() string { return "http://" + p.listen }

func (p *proc) config() config.Config { return helperConfig(p.dir, p.name, p.listen, p.store) }

func (p *proc) start() {
	p.t.Helper()
	var st []byte
	if p.store != nil {
		var err error
		if st, err = json.Marshal(p.store); err != nil {
			p.t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNode$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KURIER_FED_HELPER_DIR="+p.dir, "KURIER_FED_HELPER_NAME="+p.name,
		"KURIER_FED_HELPER_LISTEN="+p.listen, "KURIER_FED_HELPER_BATCH="+strconv.Itoa(p.batch),
		"KURIER_FED_HELPER_STORE="+string(st))
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.t.Cleanup(func() { p.kill() })
	waitFor(p.t, p.name+" to serve", 30*time.Second, func() bool {
		resp, err := http.Get(p.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

// kill sends SIGKILL: no shutdown, no flush, nothing.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = p.cmd.Process.Wait()
	p.cmd = nil
}

func (p *proc) metric(series string) float64 {
	tn := &testNode{t: p.t, url: p.url()}
	return tn.metric(series)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// minioStore is an s3 store on srv with its own buckets.
func minioStore(srv *miniotest.Server, name string) *config.Store {
	cfg := config.Default(func(string) string { return "" })
	bucket := "kill9-" + name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	st := cfg.Store
	st.Driver = "s3"
	st.S3.Endpoint, st.S3.AccessKey, st.S3.SecretKey = srv.Endpoint, srv.AccessKey, srv.SecretKey
	st.Buckets.Objects, st.Buckets.Evidence = bucket, bucket+"-ev"
	return &st
}

// TestKill9DuringSync: node B pulls 2,000 indicators from node A in small
// batches, once with B's store on MinIO and once with A's. B is killed
// with SIGKILL mid-sync and restarted, then A is killed mid-sync and
// restarted on the same address. B ends up with every object exactly
// once: in its index and in its segments, where a duplicate would show.
func TestKill9DuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	srv := miniotest.Start(t) // fails without MinIO under KURIER_REQUIRE_TOOLS=1
	t.Run("b-on-minio", func(t *testing.T) { kill9DuringSync(t, nil, minioStore(srv, "b")) })
	t.Run("a-on-minio", func(t *testing.T) { kill9DuringSync(t, minioStore(srv, "a"), nil) })
}

func kill9DuringSync(t *testing.T, aStore, bStore *config.Store) {
	const total = 2000
	ctx := context.Background()
	a := &proc{t: t, name: "a", dir: t.TempDir(), listen: freeAddr(t), batch: 50, store: aStore}
	b := &proc{t: t, name: "b", dir: t.TempDir(), listen: freeAddr(t), batch: 50, store: bStore}

	// Prepare both data directories: keys, A's objects, and the peers.
	open := func(p *proc) *node.Node {
		n, err := node.Open(ctx, p.config(), node.Options{Env: testEnv})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	an, bn := open(a), open(b)
	for _, x := range []struct {
		p *proc
		n *node.Node
	}{{a, an}, {b, bn}} {
		want := "fs"
		if x.p.store != nil {
			want = "s3"
		}
		if got := x.n.Store.Driver(); got != want {
			t.Fatalf("%s's store is %s, want %s", x.p.name, got, want)
		}
	}
	var ids []string
	for i := 0; i < total; i += 500 {
		var objs []*stix.Object
		for range 500 {
			o := indicatorObject(t, stix.TLPGreen)
			objs = append(objs, o)
			ids = append(ids, o.ID)
		}
		if _, err := an.Indicators.Add(ctx, objs...); err != nil {
			t.Fatal(err)
		}
	}
	addPeer := func(on, of *node.Node, name, url string) {
		pub, _ := of.Identity.ArmoredPublicKey()
		doc, err := peers.New(name, url, pub, "", policy.Policy{MaxTLP: "green"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := peers.NewStore(on.Objects).Add(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	addPeer(an, bn, "b", b.url())
	addPeer(bn, an, "a", a.url())
	_ = an.Close()
	_ = bn.Close()

	stored := func() float64 { return b.metric(`kurier_federation_received_total{outcome="stored",peer="a"}`) }
	lag := func() float64 { return b.metric(`kurier_federation_lag_objects{peer="a"}`) }
	a.start()
	b.start()
	waitFor(t, "B to be mid-sync", 30*time.Second, func() bool { return stored() >= 200 })
	t.Logf("killing B after %v objects stored", stored())
	b.kill()
	// B pulls at start and resumes from its cursor; that it stores more
	// proves the first run was killed before it had everything.
	b.start()
	waitFor(t, "B to be mid-sync again", 30*time.Second, func() bool { return stored() >= 200 })
	t.Logf("killing A while B has stored %v since its restart", stored())
	a.kill()
	// B's pull fails now. The lag it recorded for its last stored batch
	// says whether A still had objects for it: A died mid-sync.
	waitFor(t, "B's pull to fail", 30*time.Second, func() bool {
		return b.metric(`kurier_federation_consecutive_failures{peer="a"}`) >= 1 || lag() == 0
	})
	if lag() == 0 {
		t.Fatal("B caught up before A could be killed; lower the batch size")
	}
	a.start()
	waitFor(t, "B to catch up", 60*time.Second, func() bool {
		return b.metric(`kurier_federation_peer_up{peer="a"}`) == 1 && lag() == 0
	})
	b.kill()

	// Count what B holds, in the index and in the segments themselves.
	bn = open(b)
	defer bn.Close()
	st, err := bn.Index.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Versions != total || st.Objects != total {
		t.Fatalf("B's index holds %d versions of %d objects, want %d", st.Versions, st.Objects, total)
	}
	for _, id := range ids {
		if _, ok, _ := bn.Index.Current(id); !ok {
			t.Fatalf("%s lost", id)
		}
	}
	seg, err := segment.Open(ctx, bn.Objects, seal.New(bn.Identity, nil))
	if err != nil {
		t.Fatal(err)
	}
	records, seen := 0, map[string]bool{}
	for name, err := range seg.Segments(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		recs, err := seg.Records(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			o, err := stix.DecodeObject(r.Object)
			if err != nil {
				t.Fatalf("segment %s: %v", name, err)
			}
			key := o.ID + " " + o.Modified.String()
			if seen[key] {
				t.Fatalf("%s stored twice", o.ID)
			}
			seen[key] = true
			records++
		}
	}
	if records != total {
		t.Fatalf("B's segments hold %d records, want %d", records, total)
	}
}
