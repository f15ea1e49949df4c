package bagit

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func entry(name string, data []byte) Entry {
	a, b := sha256.Sum256(data), sha512.Sum512(data)
	return Entry{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(a[:]), SHA512: hex.EncodeToString(b[:])}
}

func goodBag(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	data := []byte("evidence")
	w, err := NewWriter(&buf, []Entry{entry("a file.txt", data)}, [][2]string{{"External-Identifier", "x"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddTagFile("manifest.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := w.AddPayload("a file.txt", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bag")
	if err := Extract(bytes.NewReader(goodBag(t)), dir); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir); err != nil {
		t.Fatal(err)
	}
	info, _ := os.ReadFile(filepath.Join(dir, "bag-info.txt"))
	if !bytes.Contains(info, []byte("Payload-Oxum: 8.1\n")) {
		t.Fatalf("bag-info.txt:\n%s", info)
	}
}

// withEntry appends one raw entry to a bag stream (before its trailer).
func withEntry(t *testing.T, h *tar.Header, data []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(goodBag(t)))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		hh, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(tr)
		tw.WriteHeader(hh)
		tw.Write(b.Bytes())
	}
	h.Size = int64(len(data))
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	return out.Bytes()
}

// TestExtractRefuses: path traversal and non-regular entries are refused
// before anything is written outside the bag directory.
func TestExtractRefuses(t *testing.T) {
	for name, h := range map[string]*tar.Header{
		"dot-dot":          {Name: "data/../../escape.txt", Typeflag: tar.TypeReg},
		"absolute":         {Name: "/tmp/escape.txt", Typeflag: tar.TypeReg},
		"symlink":          {Name: "data/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		"hard link":        {Name: "data/hard", Typeflag: tar.TypeLink, Linkname: "bagit.txt"},
		"device":           {Name: "data/dev", Typeflag: tar.TypeChar},
		"backslash":        {Name: `data\..\..\x`, Typeflag: tar.TypeReg},
		"duplicate":        {Name: "bagit.txt", Typeflag: tar.TypeReg},
		"unclean":          {Name: "data//x", Typeflag: tar.TypeReg},
		"control char":     {Name: "data/a\nb", Typeflag: tar.TypeReg},
		"windows absolute": {Name: "C:/x", Typeflag: tar.TypeReg},
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "bag")
			err := Extract(bytes.NewReader(withEntry(t, h, []byte("x"))), dir)
			if !errors.Is(err, ErrPath) {
				t.Fatalf("err = %v, want ErrPath", err)
			}
			if _, err := os.Stat(filepath.Join(parent, "escape.txt")); err == nil {
				t.Fatal("wrote outside the bag")
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	extract := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "bag")
		if err := Extract(bytes.NewReader(goodBag(t)), dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("unlisted payload file", func(t *testing.T) {
		dir := extract(t)
		os.WriteFile(filepath.Join(dir, "data", "planted.exe"), []byte("x"), 0o600)
		if err := Verify(dir); !errors.Is(err, ErrUnlisted) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unlisted tag file", func(t *testing.T) {
		dir := extract(t)
		os.WriteFile(filepath.Join(dir, "note.txt"), []byte("x"), 0o600)
		if err := Verify(dir); !errors.Is(err, ErrUnlisted) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("changed payload", func(t *testing.T) {
		dir := extract(t)
		os.WriteFile(filepath.Join(dir, "data", "a file.txt"), []byte("evidencE"), 0o600)
		if err := Verify(dir); !errors.Is(err, ErrChecksum) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing payload", func(t *testing.T) {
		dir := extract(t)
		os.Remove(filepath.Join(dir, "data", "a file.txt"))
		if err := Verify(dir); !errors.Is(err, ErrChecksum) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("traversal in a manifest line", func(t *testing.T) {
		dir := extract(t)
		f, _ := os.OpenFile(filepath.Join(dir, "manifest-sha256.txt"), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("00  data/../../../etc/passwd\n")
		f.Close()
		if err := Verify(dir); !errors.Is(err, ErrPath) && !errors.Is(err, ErrChecksum) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("symlink in the bag", func(t *testing.T) {
		dir := extract(t)
		os.Symlink("/etc/passwd", filepath.Join(dir, "data", "link"))
		if err := Verify(dir); !errors.Is(err, ErrPath) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestWriterCutsOffOnMismatch: a payload that does not match its entry
// leaves the stream without a trailer, so Extract fails.
func TestWriterCutsOffOnMismatch(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, []Entry{entry("a", []byte("right"))}, nil, time.Now())
	if err := w.AddPayload("a", bytes.NewReader([]byte("wrong"))); !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a mismatch succeeded")
	}
	if err := Extract(&buf, filepath.Join(t.TempDir(), "bag")); err == nil {
		t.Fatal("extracted a cut-off bag")
	}
}
