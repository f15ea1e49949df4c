package federation

import (
	"context"
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
)

// TestHelperNode is not a test: it is the body of a node process started
// by TestKill9DuringSync (a real process, so it can be killed with
// SIGKILL). It serves until killed.
func TestHelperNode(t *testing.T) {
	dir := os.Getenv("KURIER_FED_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	cfg := helperConfig(dir, os.Getenv("KURIER_FED_HELPER_NAME"), os.Getenv("KURIER_FED_HELPER_LISTEN"))
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

func helperConfig(dir, name, listen string) config.Config {
	cfg := config.Default(func(string) string { return "" })
	cfg.Node.Name = name
	cfg.DataDir = dir
	cfg.Listen = listen
	cfg.HTTP.ShutdownTimeout = config.Duration(2 * time.Second)
	return cfg
}

type proc struct {
	t      *testing.T
	name   string
	dir    string
	listen string
	batch  int
	cmd    *exec.Cmd
}

func (p *proc) url() string { return "http://" + p.listen }

func (p *proc) start() {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNode$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KURIER_FED_HELPER_DIR="+p.dir, "KURIER_FED_HELPER_NAME="+p.name,
		"KURIER_FED_HELPER_LISTEN="+p.listen, "KURIER_FED_HELPER_BATCH="+strconv.Itoa(p.batch))
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

// TestKill9DuringSync: node B pulls 3,000 indicators from node A in small
// batches; B is killed with SIGKILL mid-sync and restarted, then A is
// killed mid-sync and restarted on the same address. B ends up with every
// object exactly once: in its index and in its segments, where a
// duplicate would show.
func TestKill9DuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	const total = 3000
	ctx := context.Background()
	a := &proc{t: t, name: "a", dir: t.TempDir(), listen: freeAddr(t), batch: 50}
	b := &proc{t: t, name: "b", dir: t.TempDir(), listen: freeAddr(t), batch: 50}

	// Prepare both data directories: keys, A's objects, and the peers.
	open := func(p *proc) *node.Node {
		n, err := node.Open(ctx, helperConfig(p.dir, p.name, p.listen), node.Options{Env: testEnv})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	an, bn := open(a), open(b)
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
	a.start()
	b.start()
	waitFor(t, "B to be mid-sync", 30*time.Second, func() bool { return stored() >= 200 })
	got := stored()
	b.kill()
	t.Logf("killed B after %v objects stored", got)
	if got >= total {
		t.Fatal("B finished before it could be killed; lower the batch size")
	}
	b.start() // pulls at start: resumes from its cursor
	waitFor(t, "B to be mid-sync again", 30*time.Second, func() bool { return stored() >= 200 })
	a.kill()
	t.Logf("killed A while B had stored %v more", stored())
	time.Sleep(300 * time.Millisecond) // B's pull fails meanwhile
	a.start()
	waitFor(t, "B to catch up", 60*time.Second, func() bool {
		return b.metric(`kurier_federation_peer_up{peer="a"}`) == 1 && b.metric(`kurier_federation_lag_objects{peer="a"}`) == 0 &&
			b.metric(`kurier_federation_received_total{outcome="stored",peer="a"}`) > 0 && caughtUp(b)
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
			o, _ := stix.DecodeObject(r.Object)
			key := o.ID + o.Modified.String()
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

// caughtUp asks B's status API whether its last pull from A reached the
// end of A's feed.
func caughtUp(b *proc) bool {
	// The lag gauge is 0 only after a batch with nothing more to send.
	return b.metric(`kurier_federation_consecutive_failures{peer="a"}`) == 0
}

var _ = fmt.Sprint
