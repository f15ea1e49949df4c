package fs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
	"github.com/kurier/kurier/node/store/fs"
	"github.com/kurier/kurier/node/store/storetest"
)

func newStore(t testing.TB) *fs.Store {
	t.Helper()
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

func TestNew(t *testing.T) {
	if _, err := fs.New(""); err == nil {
		t.Error("New(\"\"): no error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.New(file); err == nil {
		t.Error("New(a file): no error")
	}
}

func TestPingUnavailable(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	s, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping on a removed root = %v, want ErrUnavailable", err)
	}
}

// TestLayout pins the on-disk encoding: key chunks in hex, one directory
// per version, nothing outside the bucket.
func TestLayout(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if err := s.EnsureBucket(ctx, "evidence", true); err != nil {
		t.Fatal(err)
	}
	b := s.Bucket("evidence")
	key := "a/b"
	info, err := b.Put(ctx, key, strings.NewReader("hi"), store.PutOptions{Size: 2, LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	vdir := filepath.Join(s.Root(), "evidence", "objects", "612f62", "_v", info.VersionID)
	for _, f := range []string{"data", "meta.json", "lock.json"} {
		if _, err := os.Stat(filepath.Join(vdir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	long := strings.Repeat("k", 40)
	if _, err := b.Put(ctx, long, strings.NewReader("x"), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	chunk1 := strings.Repeat("6b", 32)
	chunk2 := strings.Repeat("6b", 8)
	if _, err := os.Stat(filepath.Join(s.Root(), "evidence", "objects", chunk1, chunk2, "_v")); err != nil {
		t.Errorf("40-byte key not in two chunks: %v", err)
	}
	// Files and directories are not world-readable.
	fi, err := os.Stat(filepath.Join(vdir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("data mode %v is world-accessible", fi.Mode())
	}
	// Nothing is left in tmp/ after successful and failed puts.
	_, _ = b.Put(ctx, "bad", strings.NewReader("short"), store.PutOptions{Size: 10})
	left, err := os.ReadDir(filepath.Join(s.Root(), "evidence", "tmp"))
	if err != nil || len(left) != 0 {
		t.Errorf("tmp/ holds %v (%v)", left, err)
	}
}

// TestParentAndChildKeys: the fs driver keeps "a" and "a/b" side by side
// and lists them in byte order, which a plain directory-per-segment layout
// would get wrong ("a/b" would come before "a-b"). MinIO cannot list both,
// so this is not part of the shared contract.
func TestParentAndChildKeys(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if err := s.EnsureBucket(ctx, "tree", false); err != nil {
		t.Fatal(err)
	}
	b := s.Bucket("tree")
	x := strings.Repeat("x", 32)
	keys := []string{"a", "a/b", "a/b/c", "a-b", "a0", x, x + "/y", x + x, x + x + "/z"}
	for _, k := range keys {
		if _, err := b.Put(ctx, k, strings.NewReader(k), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	var got []string
	for info, err := range b.List(ctx, "", "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	for _, k := range keys {
		rc, _, err := b.Get(ctx, k, "")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if string(data) != k {
			t.Errorf("Get(%q) = %q", k, data)
		}
	}
}

// TestIfAbsentAcrossProcesses races create-if-absent between processes
// sharing one root: exactly one may win.
func TestIfAbsentAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	s, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(t.Context(), "race", false); err != nil {
		t.Fatal(err)
	}
	const n = 6
	start := time.Now().Add(500 * time.Millisecond)
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(),
			"KURIER_FS_HELPER=create",
			"KURIER_FS_ROOT="+root,
			fmt.Sprintf("KURIER_FS_ID=%d", i),
			fmt.Sprintf("KURIER_FS_START=%d", start.UnixNano()))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	wins, losses := 0, 0
	for i, cmd := range cmds {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &ee) && ee.ExitCode() == 3:
			losses++
		default:
			t.Errorf("helper %d: %v", i, err)
		}
	}
	if wins != 1 || losses != n-1 {
		t.Fatalf("%d processes won, %d lost; want 1 and %d", wins, losses, n-1)
	}
	vs, err := s.Bucket("race").Versions(t.Context(), "the-one")
	if err != nil || len(vs) != 1 {
		t.Fatalf("Versions = %v, %v; want one version", vs, err)
	}
}

// TestCrashLeavesOnlyWholeVersions kills a writer with SIGKILL in the middle
// of its work: every put it acknowledged must be readable in full afterwards,
// and no partial version may be visible. (kill -9 tests atomic visibility;
// the fsyncs are what carry this over to power loss.)
func TestCrashLeavesOnlyWholeVersions(t *testing.T) {
	root := t.TempDir()
	s, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(t.Context(), "crash", false); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "KURIER_FS_HELPER=write", "KURIER_FS_ROOT="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if key, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, key)
		}
		if len(acked) == 20 {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if len(acked) < 20 {
		t.Fatalf("helper acknowledged only %d puts", len(acked))
	}
	b := s.Bucket("crash")
	for _, key := range acked {
		rc, _, err := b.Get(t.Context(), key, "")
		if err != nil {
			t.Fatalf("acknowledged %s lost: %v", key, err)
		}
		err = storetest.SamePattern(rc, 9, helperSize)
		rc.Close()
		if err != nil {
			t.Fatalf("acknowledged %s: %v", key, err)
		}
	}
	n := 0
	for info, err := range b.List(t.Context(), "", "") {
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != helperSize {
			t.Errorf("%s: partial version visible (%d bytes)", info.Key, info.Size)
		}
		n++
	}
	if n < len(acked) {
		t.Errorf("listed %d keys, %d were acknowledged", n, len(acked))
	}
	// The store still works, and a new put to the key being written when
	// the writer died succeeds.
	if _, err := b.Put(t.Context(), fmt.Sprintf("k%04d", len(acked)), strings.NewReader("x"), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

const helperSize = 3<<20 + 17

// TestHelperProcess is the child of the multi-process tests; it does
// nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("KURIER_FS_HELPER")
	if mode == "" {
		t.Skip("helper process for other tests")
	}
	s, err := fs.New(os.Getenv("KURIER_FS_ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	switch mode {
	case "create":
		b := s.Bucket("race")
		var startNS int64
		fmt.Sscan(os.Getenv("KURIER_FS_START"), &startNS)
		time.Sleep(time.Until(time.Unix(0, startNS)))
		_, err := b.Put(ctx, "the-one", strings.NewReader(os.Getenv("KURIER_FS_ID")), store.PutOptions{IfAbsent: true})
		switch {
		case err == nil:
			os.Exit(0)
		case errors.Is(err, store.ErrExists):
			os.Exit(3)
		default:
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	case "write":
		b := s.Bucket("crash")
		for i := 0; ; i++ {
			key := fmt.Sprintf("k%04d", i)
			if _, err := b.Put(ctx, key, storetest.Pattern(9, helperSize), store.PutOptions{Size: -1}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Printf("acked %s\n", key)
		}
	}
	os.Exit(2)
}

// BenchmarkPut1GiB streams 1 GiB through Put and Get; see storetest.Big.
// Run with KURIER_BIG=1 go test -run '^$' -bench BenchmarkPut1GiB -benchtime 1x.
func BenchmarkPut1GiB(b *testing.B) {
	if os.Getenv("KURIER_BIG") != "1" {
		b.Skip("set KURIER_BIG=1")
	}
	dir := os.Getenv("KURIER_BIG_DIR") // default: the test's temp dir
	if dir == "" {
		dir = b.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "kurier-big-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	s, err := fs.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	storetest.Big(b, s, 1<<30)
}
