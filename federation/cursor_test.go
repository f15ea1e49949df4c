package federation

import (
	"strings"
	"testing"
	"time"
)

func TestFeedCursor(t *testing.T) {
	c := feedCursor{A: time.Date(2026, 11, 25, 10, 0, 0, 123000, time.UTC), P: 3, S: &sweep{To: 4, Pos: time.Unix(5, 7).UTC()}}
	got, err := decodeFeedCursor(c.encode())
	if err != nil || !got.A.Equal(c.A) || got.P != 3 || got.S == nil || got.S.To != 4 || !got.S.Pos.Equal(c.S.Pos) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if z, err := decodeFeedCursor(""); err != nil || !z.A.IsZero() {
		t.Fatalf("empty cursor: %+v %v", z, err)
	}
	for _, bad := range []string{"x", "1.!!!", "1." + strings.Repeat("A", 2000), "2.e30", "1.eyJwIjotMX0"} {
		if _, err := decodeFeedCursor(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCursorStore(t *testing.T) {
	cs := &cursorStore{dir: t.TempDir()}
	s, err := cs.load("p", "FPR1")
	if err != nil || s.Cursor != "" {
		t.Fatal(s, err)
	}
	s.Cursor, s.Position = "1.abc", 42
	if err := cs.save(s); err != nil {
		t.Fatal(err)
	}
	if s, _ := cs.load("p", "FPR1"); s.Cursor != "1.abc" || s.Position != 42 {
		t.Fatalf("reloaded %+v", s)
	}
	// Another key under the same name is another node: start over.
	if s, _ := cs.load("p", "FPR2"); s.Cursor != "" {
		t.Fatalf("cursor kept across keys: %+v", s)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 30: 5 * time.Minute} {
		for range 50 {
			d := backoff(n, 5*time.Minute)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", n, d, want/2, want)
			}
		}
	}
}
