package evidence

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/seal"
)

// chain makes n events for package pkg signed by sealer, one second apart.
func chain(t *testing.T, sealer *seal.Sealer, pkg string, n int) []SignedEvent {
	t.Helper()
	var out []SignedEvent
	start := time.Now().Add(-time.Hour)
	kinds := []EventKind{EvCreated, EvStored, EvSealed, EvSent, EvAccessed, EvExported}
	for i := range n {
		e := Event{Package: pkg, Seq: int64(i), Kind: kinds[i%len(kinds)], Time: start.Add(time.Duration(i) * time.Second),
			Who: Actor{Node: sealer.Self().Fingerprint(), Person: "p"}, Where: "DE"}
		if i > 0 {
			e.Prev = out[i-1].Hash()
		}
		ev, err := signEvent(sealer, e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func resign(t *testing.T, sealer *seal.Sealer, ev SignedEvent, change func(*Event)) SignedEvent {
	t.Helper()
	e := ev.Event
	change(&e)
	out, err := signEvent(sealer, e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCustodyBreaks: Verify names the first break of each kind.
func TestCustodyBreaks(t *testing.T) {
	a, b, c := identities(t)
	sa := seal.New(a, []*openpgpEntity{public(t, b)})
	sb := seal.New(b, []*openpgpEntity{public(t, a)})
	good := chain(t, sa, "pkg-00000001", 5)
	if brk := VerifyChain(sa, "pkg-00000001", good, a.Fingerprint()); brk != nil {
		t.Fatalf("good chain: %v", brk)
	}
	cases := []struct {
		name   string
		mutate func([]SignedEvent) []SignedEvent
		seq    int64
		rule   Rule
		msg    string
	}{
		{"gap", func(e []SignedEvent) []SignedEvent { return append(e[:2:2], e[3:]...) }, 2, RuleCustodyGap, "event 2 is missing"},
		{"wrong previous hash", func(e []SignedEvent) []SignedEvent {
			e[3] = resign(t, sa, e[3], func(x *Event) { x.Prev = e[1].Hash() })
			return e
		}, 3, RuleCustodyPrev, "does not match event 2"},
		{"event changed after signing", func(e []SignedEvent) []SignedEvent {
			e[2].Canonical = []byte(strings.Replace(string(e[2].Canonical), `"kind":"sealed"`, `"kind":"stored"`, 1))
			e[2].Event.Kind = EvStored
			return e
		}, 2, RuleCustodySig, "does not verify"},
		{"earlier event changed (next link breaks)", func(e []SignedEvent) []SignedEvent {
			e[1] = resign(t, sa, e[1], func(x *Event) { x.Why = "rewritten" })
			return e
		}, 2, RuleCustodyPrev, "does not match event 1"},
		{"time runs backwards", func(e []SignedEvent) []SignedEvent {
			e[4] = resign(t, sa, e[4], func(x *Event) { x.Time = e[3].Event.Time.Add(-time.Millisecond) })
			return e
		}, 4, RuleCustodyTime, "runs backwards"},
		{"unsigned event", func(e []SignedEvent) []SignedEvent { e[1].Signature = nil; return e }, 1, RuleCustodySig, "not signed"},
		{"signed by another node than it names", func(e []SignedEvent) []SignedEvent {
			e[2] = resign(t, sb, e[2], func(*Event) {})
			return e
		}, 2, RuleCustodySigner, "names node"},
		{"unknown signer", func(e []SignedEvent) []SignedEvent {
			e[2] = resign(t, seal.New(c, nil), e[2], func(x *Event) { x.Who.Node = c.Fingerprint() })
			return e
		}, 2, RuleCustodySig, "does not know"},
		{"repeated sequence", func(e []SignedEvent) []SignedEvent { return append(e[:3:3], e[2:]...) }, 2, RuleCustodyGap, "repeats"},
		{"chain not started by the sender", func(e []SignedEvent) []SignedEvent {
			return chain(t, sb, "pkg-00000001", 2)
		}, 0, RuleCustodySigner, "not by the package's sender"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := tc.mutate(append([]SignedEvent(nil), good...))
			brk := VerifyChain(sa, "pkg-00000001", events, a.Fingerprint())
			if brk == nil {
				t.Fatal("break not found")
			}
			if brk.Seq != tc.seq || brk.Rule != tc.rule || !strings.Contains(brk.Message, tc.msg) {
				t.Fatalf("got %v, want event %d [%s] %q", brk, tc.seq, tc.rule, tc.msg)
			}
		})
	}
	// A different node may be a little behind (clock skew), not more.
	e := good[4].Event
	e.Who.Node = b.Fingerprint()
	e.Time = good[3].Event.Time.Add(-time.Minute)
	skewed, _ := signEvent(sb, e)
	if brk := VerifyChain(sa, "pkg-00000001", append(good[:4:4], skewed), a.Fingerprint()); brk != nil {
		t.Fatalf("1 minute skew between nodes: %v", brk)
	}
}

// TestCustodyStoredRoundTrip: the stored envelope keeps the signed bytes,
// and a service's own log verifies after a restart.
func TestCustodyStoredRoundTrip(t *testing.T) {
	a, b, _ := identities(t)
	n := newNode(t, a, "de", "DE", fsBucket(t), b)
	ctx := context.Background()
	pkg, err := n.svc.Create(ctx, liaison, mustJSON(t, preservationRequest(a, b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.Get(ctx, liaison, pkg.ID); err != nil {
		t.Fatal(err)
	}
	n2 := newNode(t, a, "de", "DE", n.bucket, b)
	events, err := n2.svc.Custody(ctx, liaison, pkg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[0].Event.Kind != EvCreated || events[1].Event.Kind != EvAccessed || events[2].Event.Kind != EvAccessed {
		t.Fatalf("events = %+v", events)
	}
	b2, _ := json.Marshal(events[2])
	var back SignedEvent
	if err := json.Unmarshal(b2, &back); err != nil || back.Hash() != events[2].Hash() {
		t.Fatalf("round trip changed the event: %v", err)
	}
	if brk := VerifyChain(n2.svc.sealer, pkg.ID, events, a.Fingerprint()); brk != nil {
		t.Fatal(brk)
	}
	// Appends are create-if-absent: an event can never be overwritten.
	_, err = n.bucket.Put(ctx, keyCustody(pkg.ID, 0), strings.NewReader("{}"), storePutIfAbsent)
	if err == nil {
		t.Fatal("custody event overwritten")
	}
}
