package federation

import (
	"context"
	"testing"
	"time"
)

// TestUploadLocks: one holder per part file, a waiter gets it on release,
// tryLock does not wait, and no entry is left once nobody holds or waits.
func TestUploadLocks(t *testing.T) {
	var l uploadLocks
	ctx := context.Background()
	unlock, err := l.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.tryLock("a"); ok {
		t.Fatal("tryLock got a held lock")
	}
	other, ok := l.tryLock("b")
	if !ok {
		t.Fatal("tryLock of a free part failed")
	}
	other()
	got := make(chan func(), 1)
	go func() {
		u, err := l.lock(ctx, "a")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("a second holder while the first holds")
	case <-time.After(50 * time.Millisecond):
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := l.lock(short, "a"); err == nil {
		t.Fatal("lock did not give up with its context")
	}
	unlock()
	(<-got)()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) != 0 {
		t.Fatalf("entries left: %v", l.m)
	}
}
