package storetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
)

// Big streams one object of size bytes, generated on the fly, through Put
// (Size -1, so the driver cannot plan for the size) and back through Get,
// checking every byte, and reports throughput and the process's peak
// resident memory (VmHWM): the proof that evidence packages stream in
// constant memory. It runs only with KURIER_BIG=1, as it writes size bytes.
//
// Metrics: put-MB/s and get-MB/s (10^6 bytes per second; get includes
// verification), VmHWM-MiB (peak RSS during the run, after resetting the
// peak when the kernel allows), rss-before-MiB (RSS at the start).
func Big(b *testing.B, s store.Store, size int64) {
	if os.Getenv("KURIER_BIG") != "1" {
		b.Skip("set KURIER_BIG=1 to stream a large object")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	name := "kt-big-" + randHex(6)
	if err := s.EnsureBucket(ctx, name, false); err != nil {
		b.Fatal(err)
	}
	bk := s.Bucket(name)
	resetPeakRSS()
	before := procStatusMiB("VmRSS")
	var putDur, getDur time.Duration
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprintf("big/%d", i)
		t0 := time.Now()
		info, err := bk.Put(ctx, key, Pattern(42, size), store.PutOptions{Size: -1})
		if err != nil {
			b.Fatalf("Put: %v", err)
		}
		putDur += time.Since(t0)
		if info.Size != size {
			b.Fatalf("Put Size = %d, want %d", info.Size, size)
		}
		t1 := time.Now()
		rc, _, err := bk.Get(ctx, key, "")
		if err != nil {
			b.Fatalf("Get: %v", err)
		}
		err = SamePattern(rc, 42, size)
		rc.Close()
		if err != nil {
			b.Fatalf("Get: %v", err)
		}
		getDur += time.Since(t1)
		if err := bk.Delete(ctx, key, store.DeleteOptions{VersionID: info.VersionID}); err != nil {
			b.Fatalf("Delete: %v", err)
		}
	}
	b.StopTimer()
	total := float64(size) * float64(b.N)
	b.ReportMetric(total/1e6/putDur.Seconds(), "put-MB/s")
	b.ReportMetric(total/1e6/getDur.Seconds(), "get-MB/s")
	b.ReportMetric(procStatusMiB("VmHWM"), "VmHWM-MiB")
	b.ReportMetric(before, "rss-before-MiB")
}

// resetPeakRSS resets VmHWM to the current RSS (Linux >= 4.0), so that the
// peak measures the run and not what the test binary did before.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// procStatusMiB reads a "kB" field of /proc/self/status, in MiB (-1 if not
// available, e.g. not on Linux).
func procStatusMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return -1
		}
		return kb / 1024
	}
	return -1
}
