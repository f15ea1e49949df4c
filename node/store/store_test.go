package store_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kurier/kurier/node/store"
)

func TestValidKey(t *testing.T) {
	good := []string{
		"a", "a/b", "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "a.b", ".hidden", "a/.b",
		"sp ace", "\u00e9t\u00e9/\u20ac", "q?x=1&y",
		strings.Repeat(strings.Repeat("k", 204)+"/", 4) + strings.Repeat("s", 204), // 1024 bytes
	}
	for _, k := range good {
		if err := store.ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	bad := []string{
		"", "..", "a..b", "a/../b", "/a", "a/", "a//b", ".", "./a", "a/./b", "a/ . /b",
		"a\x00b", "a\nb", "a\x7fb", "\xff", "a\\b", strings.Repeat("k", store.MaxKeyLen+1),
		strings.Repeat("s", 256), "a/" + strings.Repeat("s", 256),
	}
	for _, k := range bad {
		if err := store.ValidKey(k); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func TestValidBucketName(t *testing.T) {
	for _, n := range []string{"abc", "kurier-evidence", "a.b-c", "0ab", strings.Repeat("a", 63)} {
		if err := store.ValidBucketName(n); err != nil {
			t.Errorf("ValidBucketName(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", "ab", "ABC", "a_b", "-ab", "ab-", ".ab", "a..b", "a/b", strings.Repeat("a", 64), "../x"} {
		if err := store.ValidBucketName(n); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("ValidBucketName(%q) = %v, want ErrInvalidKey", n, err)
		}
	}
}

// FuzzValidKey checks the promises drivers rely on for any accepted key.
func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "a\x00", "\u00e4/\u00f6", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if store.ValidKey(k) != nil {
			return
		}
		if k == "" || len(k) > store.MaxKeyLen || !utf8.ValidString(k) || strings.Contains(k, "..") ||
			strings.ContainsRune(k, 0) || strings.HasPrefix(k, "/") || strings.Contains(k, "//") {
			t.Fatalf("ValidKey accepted %q", k)
		}
		for seg := range strings.SplitSeq(k, "/") {
			if seg == "" || seg == "." || len(seg) > 255 {
				t.Fatalf("ValidKey accepted %q (segment %q)", k, seg)
			}
		}
	})
}
