package federation

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/stix"
)

// fill stores n distinct TLP:GREEN indicators on tn, signed by tn.
func fill(b testing.TB, tn *testNode, n int) {
	ctx := context.Background()
	now := time.Now().UTC()
	const per = 5000
	for start := 0; start < n; start += per {
		subs := make([]indicator.Submission, 0, per)
		for i := start; i < min(start+per, n); i++ {
			objs, err := stix.QuickIndicator(stix.QuickIndicatorSpec{
				Value: stix.Value{Kind: stix.KindIPv4, Value: fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)},
				TLP:   stix.TLPGreen, Labels: []string{"bench"}, Now: now,
			})
			if err != nil {
				b.Fatal(err)
			}
			subs = append(subs, indicator.Submission{Object: objs[0]})
		}
		res, err := tn.n.Indicators.Store(ctx, subs)
		if err != nil || len(res.Failures) > 0 {
			b.Fatalf("fill: %v %v", err, res.Failures)
		}
	}
}

// rawVerifyRate is how many detached signatures over 1 KiB this machine
// verifies per second on all cores, with the same key type and code path
// the receiver uses.
func rawVerifyRate(b testing.TB, tn *testNode, verifier *testNode) float64 {
	doc := bytes.Repeat([]byte("x"), 1024)
	var sig bytes.Buffer
	if err := seal.New(tn.n.Identity, nil).SignDetached(&sig, bytes.NewReader(doc)); err != nil {
		b.Fatal(err)
	}
	pub, _ := tn.n.Identity.PublicEntity()
	s := seal.New(verifier.n.Identity, openpgp.EntityList{pub})
	var count atomic.Int64
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := s.VerifyDetached(bytes.NewReader(doc), bytes.NewReader(sig.Bytes())); err != nil {
					b.Error(err)
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds()
}

// BenchmarkPull: a fresh peer pulls N indicators from another node, end to
// end (served, signed and sealed, decrypted, every origin signature
// verified, stored in segments, indexed). N is 100,000, or 1,000,000 with
// KURIER_BIG=1. The same run measures the raw signature-verification rate
// of the machine and the add-to-searchable latency with push notices.
//
//	go test -run '^$' -bench BenchmarkPull -benchtime 1x -timeout 60m ./federation
func BenchmarkPull(b *testing.B) {
	n := 100_000
	if os.Getenv("KURIER_BIG") == "1" {
		n = 1_000_000
	}
	a := startNode(b, "a")
	fillStart := time.Now()
	fill(b, a, n)
	b.Logf("filled A with %d indicators in %s", n, time.Since(fillStart).Round(time.Second))
	for i := 0; i < b.N; i++ {
		c := startNode(b, fmt.Sprintf("b%d", i))
		a.peer(c, policy.Policy{MaxTLP: "green"})
		if path := os.Getenv("KURIER_PULL_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
		}
		start, cpu0 := time.Now(), cpuTime()
		c.peer(a, policy.Policy{MaxTLP: "green"}) // the first pull starts at once
		waitFor(b, "the pull", 2*time.Hour, func() bool {
			st, _ := c.n.Index.Stats()
			return st.Versions >= int64(n)
		})
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		pprof.StopCPUProfile()
		rate := float64(n) / elapsed.Seconds()
		verify := rawVerifyRate(b, a, c)
		b.ReportMetric(rate, "objects/s")
		b.ReportMetric(verify, "raw-verify/s")
		b.ReportMetric(rate/verify, "ratio")
		perObj := float64(cpu.Microseconds()) / float64(n)
		b.ReportMetric(perObj, "cpu-µs/object")
		fmt.Fprintf(os.Stderr, "pull of %d indicators: %s, %.0f objects/s end to end; raw signature verification %.0f/s on %d cores; ratio %.2f; CPU %.0f µs/object (both nodes)\n",
			n, elapsed.Round(time.Millisecond), rate, verify, runtime.GOMAXPROCS(0), rate/verify, perObj)
		lat := addToSearchable(b, a, c, 100)
		p50, p99 := lat[49], lat[98]
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		fmt.Fprintf(os.Stderr, "add on A -> searchable on B (push notice), 100 trials: p50 %s, p99 %s, max %s\n",
			p50.Round(time.Microsecond), p99.Round(time.Microsecond), lat[99].Round(time.Microsecond))
	}
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
