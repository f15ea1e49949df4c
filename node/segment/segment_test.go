package segment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/store"
	fsstore "github.com/kurier/kurier/node/store/fs"
)

func newLog(t *testing.T) (*Log, store.Bucket, *seal.Sealer) {
	t.Helper()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.EnsureBucket(ctx, "objects", false); err != nil {
		t.Fatal(err)
	}
	id, err := identity.Generate("test", "", identity.ProfileDefault, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := seal.New(id, nil)
	l, err := Open(ctx, st.Bucket("objects"), s)
	if err != nil {
		t.Fatal(err)
	}
	return l, st.Bucket("objects"), s
}

func records(n int, tag string) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{
			Object: json.RawMessage(fmt.Sprintf(`{"id":"indicator--%s-%d","type":"indicator"}`, tag, i)),
			Sig:    []byte{1, 2, 3}, Origin: "F00D", Added: time.Now().UTC(), TLP: "green",
		}
	}
	return out
}

func TestAppendReadAndReopen(t *testing.T) {
	ctx := context.Background()
	l, bucket, s := newLog(t)
	name1, locs1, err := l.Append(ctx, records(3, "a"))
	if err != nil {
		t.Fatal(err)
	}
	name2, _, err := l.Append(ctx, records(2, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if name1 >= name2 {
		t.Fatalf("segment names not increasing: %s, %s", name1, name2)
	}
	r, err := l.Get(ctx, locs1[2])
	if err != nil || !strings.Contains(string(r.Object), "a-2") || r.Kind != KindObject || r.TLP != "green" {
		t.Fatalf("get = %+v, %v", r, err)
	}

	// A new Log on the same bucket (a restart) continues the sequence and
	// reads the sealed segments back without the cache.
	l2, err := Open(ctx, bucket, s)
	if err != nil {
		t.Fatal(err)
	}
	name3, _, err := l2.Append(ctx, records(1, "c"))
	if err != nil || name3 <= name2 {
		t.Fatalf("after reopen: %s (%v), want after %s", name3, err, name2)
	}
	var names []string
	for n, err := range l2.Segments(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if len(names) != 3 || names[0] != name1 || names[2] != name3 {
		t.Fatalf("segments = %v", names)
	}
	es, err := l2.Records(ctx, name1)
	if err != nil || len(es) != 3 || es[1].Loc != locs1[1] {
		t.Fatalf("records = %+v, %v", es, err)
	}
	var after []string
	for n := range l2.Segments(ctx, name1) {
		after = append(after, n)
	}
	if len(after) != 2 {
		t.Fatalf("segments after %s = %v", name1, after)
	}
}

func TestSegmentsAreSealed(t *testing.T) {
	ctx := context.Background()
	l, bucket, _ := newLog(t)
	name, _, err := l.Append(ctx, records(1, "secret-value"))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := bucket.Get(ctx, name, "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 1<<16)
	n, _ := rc.Read(buf)
	if strings.Contains(string(buf[:n]), "secret-value") {
		t.Fatal("segment stored in clear text")
	}

	// A node with another key cannot read it.
	other, err := identity.Generate("other", "", identity.ProfileDefault, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Open(ctx, bucket, seal.New(other, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Read(ctx, name); !errors.Is(err, seal.ErrNotForUs) {
		t.Fatalf("foreign key read: %v", err)
	}
}

func TestTamperedSegmentRefused(t *testing.T) {
	ctx := context.Background()
	l, bucket, s := newLog(t)
	name, _, err := l.Append(ctx, records(2, "x"))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := bucket.Get(ctx, name, "")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 0, 4096)
	buf := make([]byte, 4096)
	for {
		n, err := rc.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			break
		}
	}
	rc.Close()
	data[len(data)/2] ^= 0xff
	if _, err := bucket.Put(ctx, name, strings.NewReader(string(data)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(ctx, bucket, s) // no cache
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Read(ctx, name); err == nil {
		t.Fatal("tampered segment accepted")
	}
}
