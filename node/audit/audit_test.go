package audit

import (
	"context"
	"sync"
	"testing"
	"time"

	fsstore "github.com/kurier/kurier/node/store/fs"
)

func TestAppendAndReadInOrder(t *testing.T) {
	ctx := context.Background()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(ctx, "objects", false); err != nil {
		t.Fatal(err)
	}
	log := New(st.Bucket("objects"), 0)
	base := time.Date(2026, 11, 24, 23, 59, 59, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := Event{Time: base.Add(time.Duration(i) * time.Second), Actor: "a", Action: "POST /x"}
			if err := log.Record(ctx, e); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var got []Event
	for e, err := range log.Events(ctx, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 20 {
		t.Fatalf("got %d events, want 20", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.Before(got[i-1].Time) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	// since= starts at the day of since: the next day's events only.
	n := 0
	for _, err := range log.Events(ctx, base.Add(2*time.Second)) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 19 {
		t.Fatalf("since next day: %d events, want 19", n)
	}
}
