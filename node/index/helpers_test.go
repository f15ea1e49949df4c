package index

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openTest(t testing.TB, opts Options) *Index {
	t.Helper()
	ix, err := Open(filepath.Join(t.TempDir(), "index.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

type eopt func(*Entry)

// mk builds an entry: mod is the version (seconds after t0), added orders
// entries (milliseconds after t0+1h; unique per test unless said otherwise).
func mk(id string, mod, added int, opts ...eopt) Entry {
	typ, _, _ := strings.Cut(id, "--")
	e := Entry{
		ID: id, Type: typ, SpecVersion: "2.1",
		Created:  t0,
		Modified: t0.Add(time.Duration(mod) * time.Second),
		Added:    t0.Add(time.Hour + time.Duration(added)*time.Millisecond),
		Origin:   "A1B2", TLP: "amber",
		Loc: Location{Segment: "seg-0001", Offset: int64(added) * 512, Length: 512},
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

// vals adds values written "kind:value".
func vals(vs ...string) eopt {
	return func(e *Entry) {
		for _, v := range vs {
			k, s, _ := strings.Cut(v, ":")
			e.Values = append(e.Values, Value{Kind: k, Value: s})
		}
	}
}
func tlp(s string) eopt        { return func(e *Entry) { e.TLP = s } }
func origin(s string) eopt     { return func(e *Entry) { e.Origin = s } }
func labels(ls ...string) eopt { return func(e *Entry) { e.Labels = ls } }
func revoked() eopt            { return func(e *Entry) { e.Revoked = true } }
func modNanos(ns int) eopt     { return func(e *Entry) { e.Modified = e.Modified.Add(time.Duration(ns)) } }

func mustPut(t testing.TB, ix *Index, es ...Entry) []Outcome {
	t.Helper()
	outs, err := ix.PutBatch(es)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// hitKeys renders hits as sorted "id match [via]" strings.
func hitKeys(hs []Hit) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		s := fmt.Sprintf("%s %s", h.Entry.ID, h.Match)
		if h.Via != (Value{}) {
			s += " via " + h.Via.Value
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func ids(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// versionIDs renders entries as "id@mod-seconds".
func versionIDs(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s@%d", e.ID, int(e.Modified.Sub(t0)/time.Second))
	}
	return out
}
