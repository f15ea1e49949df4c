package putcheck

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/kurier/kurier/node/store"
)

func TestReader(t *testing.T) {
	cases := []struct {
		data string
		size int64
		ok   bool
	}{
		{"hello", 5, true},
		{"hello", 4, false},
		{"hello", 6, false},
		{"", -1, true},
		{"anything", 0, true}, // unknown size: passed through
		{"", 1, false},
	}
	for _, c := range cases {
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.data)
			if one {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(Reader(r, c.size))
			if c.ok != (err == nil) {
				t.Errorf("%q as %d (one byte %v): err = %v", c.data, c.size, one, err)
			}
			if err == nil && string(got) != c.data {
				t.Errorf("%q as %d: got %q", c.data, c.size, got)
			}
			if err != nil && !errors.Is(err, ErrSize) {
				t.Errorf("%q as %d: err = %v, want ErrSize", c.data, c.size, err)
			}
		}
	}
	// The surplus is detected in the Read that returns the last byte, so a
	// consumer that stops at the announced length still sees the error.
	r := Reader(strings.NewReader("abcdef"), 3)
	buf := make([]byte, 3)
	if n, err := r.Read(buf); err == nil {
		t.Errorf("Read of the last announced byte = %d, nil; want ErrSize", n)
	}
	// Errors from the source pass through.
	boom := errors.New("boom")
	if _, err := io.ReadAll(Reader(iotest.ErrReader(boom), 3)); !errors.Is(err, boom) {
		t.Errorf("source error = %v", err)
	}
}

func TestMetadata(t *testing.T) {
	m, err := Metadata(map[string]string{"Case-ID": "X-1", "note": "a b"})
	if err != nil || m["case-id"] != "X-1" || m["note"] != "a b" || len(m) != 2 {
		t.Fatalf("Metadata = %v, %v", m, err)
	}
	if m, err := Metadata(nil); m != nil || err != nil {
		t.Errorf("Metadata(nil) = %v, %v", m, err)
	}
	for _, bad := range []map[string]string{
		{"": "x"}, {"a b": "x"}, {"k": "\u00e9"}, {"k": "a\r\nb"}, {"k": " padded"},
		{"x-amz-meta-k": "v"}, {"A": "1", "a": "2"}, {"k": strings.Repeat("v", MaxMetadata)},
	} {
		if _, err := Metadata(bad); err == nil {
			t.Errorf("Metadata(%q): no error", bad)
		}
	}
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r, err := Retention(store.Retention{Mode: store.Compliance, Until: now.Add(90*time.Second + time.Millisecond)}, now)
	if err != nil || !r.Until.Equal(now.Add(91*time.Second)) || r.Until.Location() != time.UTC {
		t.Errorf("Retention = %+v, %v; want until rounded up to %v", r, err, now.Add(91*time.Second))
	}
	for _, bad := range []store.Retention{
		{Mode: store.Governance, Until: now},
		{Mode: store.Governance, Until: now.Add(-time.Hour)},
		{Mode: "governance", Until: now.Add(time.Hour)},
		{Until: now.Add(time.Hour)},
	} {
		if _, err := Retention(bad, now); !errors.Is(err, store.ErrRetention) {
			t.Errorf("Retention(%+v) = %v, want ErrRetention", bad, err)
		}
	}
}
