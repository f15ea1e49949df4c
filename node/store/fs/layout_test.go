package fs

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// compareNodes orders keys the way List walks them: by their chunk paths,
// component by component, a path before its extensions.
func compareNodes(a, b string) int {
	return slices.Compare(strings.Split(nodeRel(a), string(filepath.Separator)), strings.Split(nodeRel(b), string(filepath.Separator)))
}

// FuzzWalkOrder checks the invariant List relies on: walking the chunk
// directories in sorted order is byte-wise key order.
func FuzzWalkOrder(f *testing.F) {
	x := strings.Repeat("x", chunkLen)
	seeds := [][2]string{
		{"a", "a/b"}, {"a/b", "a-b"}, {"a", "a-b"}, {x, x + "a"}, {x + "a", x[:31] + "y"},
		{x + x, x + x + "/z"}, {"\u00e4", "z"}, {"a\xff", "a\x01"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == "" || b == "" {
			return
		}
		if got, want := compareNodes(a, b), strings.Compare(a, b); got != want {
			t.Fatalf("walk order of %q vs %q = %d, key order %d", a, b, got, want)
		}
	})
}

func TestVersionIDs(t *testing.T) {
	now := time.Now()
	a, err := newVersionID(now, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := versionNanos(a); !ok || len(a) != versionIDLen {
		t.Fatalf("bad id %q", a)
	}
	// A clock that steps back still yields a later id.
	b, err := newVersionID(now.Add(-time.Hour), a)
	if err != nil {
		t.Fatal(err)
	}
	if b <= a {
		t.Errorf("id %q after clock step back is not after %q", b, a)
	}
	for _, bad := range []string{"", "..", "../../etc/passwd", strings.Repeat("g", versionIDLen), strings.ToUpper(a), a + "0"} {
		if _, ok := versionNanos(bad); ok {
			t.Errorf("versionNanos(%q) accepted", bad)
		}
	}
}
