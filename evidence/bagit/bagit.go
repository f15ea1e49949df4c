// Package bagit writes and checks BagIt bags (RFC 8493) as evidence leaves
// Kurier for a court: SHA-512 and SHA-256 payload and tag manifests, no
// fetch.txt, readable with sha512sum -c / sha256sum -c from the bag
// directory. A bag travels as a tar stream (Writer) and is unpacked only by
// Extract, which refuses anything but regular files at safe paths, then
// checked by Verify, which refuses files no manifest lists.
package bagit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Errors of Extract and Verify; test with errors.Is.
var (
	// ErrPath: an entry's path is absolute, climbs out of the bag, is not a
	// regular file or directory (links, devices), or is not portable.
	ErrPath = errors.New("bagit: unsafe path")
	// ErrUnlisted: a file in the bag is not listed in any manifest.
	ErrUnlisted = errors.New("bagit: unlisted file")
	// ErrChecksum: a file does not match its manifest entry, or is missing.
	ErrChecksum = errors.New("bagit: checksum mismatch")
	// ErrInvalid: the bag's structure breaks RFC 8493.
	ErrInvalid = errors.New("bagit: invalid bag")
)

// Entry is one payload file: its path under data/ and its digests.
type Entry struct {
	Name   string // path relative to data/
	Size   int64
	SHA256 string
	SHA512 string
}

// Writer writes a bag as a tar stream: bagit.txt, bag-info.txt and the
// payload manifests first (the payload digests are known beforehand: they
// are in the signed evidence manifest), then tag files, then payload, and
// the tag manifests last.
type Writer struct {
	tw      *tar.Writer
	mod     time.Time
	payload map[string]Entry
	tags    []string
	tagSums map[string][2]string
	err     error
}

// NewWriter starts a bag with the given payload and bag-info fields.
func NewWriter(w io.Writer, entries []Entry, info [][2]string, mod time.Time) (*Writer, error) {
	b := &Writer{tw: tar.NewWriter(w), mod: mod.UTC().Truncate(time.Second), payload: map[string]Entry{}, tagSums: map[string][2]string{}}
	var octets int64
	var m256, m512 bytes.Buffer
	for _, e := range entries {
		if err := safeName("data/" + e.Name); err != nil {
			return nil, err
		}
		b.payload[e.Name] = e
		octets += e.Size
		fmt.Fprintf(&m256, "%s  data/%s\n", e.SHA256, e.Name)
		fmt.Fprintf(&m512, "%s  data/%s\n", e.SHA512, e.Name)
	}
	var bi bytes.Buffer
	for _, kv := range info {
		fmt.Fprintf(&bi, "%s: %s\n", kv[0], oneLine(kv[1]))
	}
	fmt.Fprintf(&bi, "Bagging-Date: %s\nPayload-Oxum: %d.%d\n", b.mod.Format(time.DateOnly), octets, len(entries))
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"bagit.txt", []byte("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")},
		{"bag-info.txt", bi.Bytes()},
		{"manifest-sha256.txt", m256.Bytes()},
		{"manifest-sha512.txt", m512.Bytes()},
	} {
		if err := b.AddTagFile(f.name, f.data); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// AddTagFile adds a small file outside data/ (held in memory for the tag
// manifests' digests).
func (b *Writer) AddTagFile(name string, data []byte) error {
	if b.err != nil {
		return b.err
	}
	if err := safeName(name); err != nil || strings.HasPrefix(name, "data/") || strings.HasPrefix(name, "tagmanifest-") {
		return fmt.Errorf("%w: tag file %q", ErrPath, name)
	}
	if err := b.header(name, int64(len(data))); err != nil {
		return err
	}
	if _, err := b.tw.Write(data); err != nil {
		b.err = err
		return err
	}
	s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
	b.tags = append(b.tags, name)
	b.tagSums[name] = [2]string{hex.EncodeToString(s256[:]), hex.EncodeToString(s512[:])}
	return nil
}

func (b *Writer) header(name string, size int64) error {
	err := b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: b.mod, Format: tar.FormatPAX})
	if err != nil {
		b.err = err
	}
	return err
}

// AddPayload streams the payload file name (relative to data/) from r and
// checks it against its entry; on a mismatch the stream is left
// unfinished (no tar trailer), so no reader mistakes it for a good bag.
func (b *Writer) AddPayload(name string, r io.Reader) error {
	if b.err != nil {
		return b.err
	}
	e, ok := b.payload[name]
	if !ok {
		return fmt.Errorf("%w: data/%s", ErrUnlisted, name)
	}
	if err := b.header("data/"+name, e.Size); err != nil {
		return err
	}
	h256, h512 := sha256.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(b.tw, h256, h512), io.LimitReader(r, e.Size+1))
	switch {
	case err != nil:
		b.err = err
	case n != e.Size || hex.EncodeToString(h256.Sum(nil)) != e.SHA256 || hex.EncodeToString(h512.Sum(nil)) != e.SHA512:
		b.err = fmt.Errorf("%w: data/%s", ErrChecksum, name)
	}
	return b.err
}

// Close writes the tag manifests and ends the tar stream.
func (b *Writer) Close() error {
	if b.err != nil {
		return b.err
	}
	slices.Sort(b.tags)
	var t256, t512 bytes.Buffer
	for _, name := range b.tags {
		fmt.Fprintf(&t256, "%s  %s\n", b.tagSums[name][0], name)
		fmt.Fprintf(&t512, "%s  %s\n", b.tagSums[name][1], name)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"tagmanifest-sha256.txt", t256.Bytes()}, {"tagmanifest-sha512.txt", t512.Bytes()}} {
		if err := b.header(f.name, int64(len(f.data))); err != nil {
			return err
		}
		if _, err := b.tw.Write(f.data); err != nil {
			return err
		}
	}
	return b.tw.Close()
}

// safeName checks a '/'-separated relative path inside a bag.
func safeName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrPath, name, why) }
	switch {
	case name == "" || len(name) > 1024:
		return bad("empty or too long")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name) || (len(name) > 1 && name[1] == ':'):
		return bad("absolute")
	case strings.ContainsRune(name, '\\'):
		return bad("backslash")
	case path.Clean(name) != name:
		return bad("not a clean path")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return bad("climbs out of the bag")
		}
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return bad("control character")
		}
	}
	return nil
}

// Extract unpacks a bag tar stream into dir, which must not exist or be
// empty. Only regular files (and directories) at safe relative paths are
// accepted; links, devices, absolute paths and ".." are refused (ErrPath)
// before anything is written outside dir. A stream cut short is an error.
func Extract(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("bagit: extract: %s is not empty", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tail := &tailReader{r: r}
	tr := tar.NewReader(tail)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if !tail.trailer() {
				return fmt.Errorf("%w: the tar stream was cut off (no end-of-archive marker)", ErrInvalid)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("bagit: extract: %w", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if err := safeName(name); err != nil {
			return err
		}
		if seen[name] {
			return fmt.Errorf("%w: %q appears twice", ErrPath, name)
		}
		seen[name] = true
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o750); err != nil {
				return err
			}
			continue
		case tar.TypeReg:
		default:
			return fmt.Errorf("%w: %q is not a regular file (type %q)", ErrPath, name, h.Typeflag)
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o750); err != nil {
				return err
			}
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("bagit: extract %s: %w", name, err)
		}
	}
}

// Verify checks a bag directory: bagit.txt, every payload manifest entry
// (file present, digest matching), every tag manifest entry, and that no
// file under the bag is missing from the manifests (ErrUnlisted) and no
// path is unsafe (ErrPath). It streams every file.
func Verify(dir string) error {
	bt, err := os.ReadFile(filepath.Join(dir, "bagit.txt"))
	if err != nil || !bytes.HasPrefix(bt, []byte("BagIt-Version: ")) {
		return fmt.Errorf("%w: bagit.txt missing or malformed", ErrInvalid)
	}
	listed := map[string]bool{}
	payloadManifests := 0
	for _, m := range []struct {
		file string
		algo string
		tag  bool
	}{
		{"manifest-sha512.txt", "sha512", false}, {"manifest-sha256.txt", "sha256", false},
		{"tagmanifest-sha512.txt", "sha512", true}, {"tagmanifest-sha256.txt", "sha256", true},
	} {
		data, err := os.ReadFile(filepath.Join(dir, m.file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !m.tag {
			payloadManifests++
		}
		listed[m.file] = true
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" {
				continue
			}
			sum, name, ok := strings.Cut(line, " ")
			name = strings.TrimLeft(name, " *")
			if !ok || name == "" {
				return fmt.Errorf("%w: %s: malformed line %q", ErrInvalid, m.file, line)
			}
			if err := safeName(name); err != nil {
				return err
			}
			if m.tag == strings.HasPrefix(name, "data/") {
				return fmt.Errorf("%w: %s lists %s", ErrInvalid, m.file, name)
			}
			listed[name] = true
			got, err := fileSum(filepath.Join(dir, filepath.FromSlash(name)), m.algo)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrChecksum, name, err)
			}
			if got != strings.ToLower(sum) {
				return fmt.Errorf("%w: %s (%s)", ErrChecksum, name, m.algo)
			}
		}
	}
	if payloadManifests == 0 {
		return fmt.Errorf("%w: no payload manifest", ErrInvalid)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." || d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%w: %s is not a regular file", ErrPath, rel)
		}
		if !listed[rel] && !strings.HasPrefix(rel, "tagmanifest-") {
			return fmt.Errorf("%w: %s", ErrUnlisted, rel)
		}
		return nil
	})
}

func fileSum(p, algo string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if algo == "sha512" {
		h = sha512.New()
	}
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tailReader remembers the last 1024 bytes read, so Extract can tell a
// complete tar stream (ending in two zero blocks) from one cut off at an
// entry boundary, which archive/tar reports as a clean EOF too.
type tailReader struct {
	r    io.Reader
	last [1024]byte
	n    int64
}

func (t *tailReader) Read(p []byte) (int, error) {
	k, err := t.r.Read(p)
	if k >= len(t.last) {
		copy(t.last[:], p[k-len(t.last):k])
	} else if k > 0 {
		copy(t.last[:], t.last[k:])
		copy(t.last[len(t.last)-k:], p[:k])
	}
	t.n += int64(k)
	return k, err
}

func (t *tailReader) trailer() bool {
	if t.n < int64(len(t.last)) || t.n%512 != 0 {
		return false
	}
	for _, b := range t.last {
		if b != 0 {
			return false
		}
	}
	return true
}
