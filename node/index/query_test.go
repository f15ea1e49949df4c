package index

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func queryFixture(t *testing.T) *Index {
	ix := openTest(t, Options{NoSync: true})
	mustPut(t, ix,
		mk("indicator--1", 1, 1, labels("c2"), tlp("green"), origin("N1")),
		mk("indicator--2", 1, 2, labels("c2", "botnet"), tlp("amber"), origin("N1")),
		mk("malware--3", 1, 3, labels("botnet"), tlp("red"), origin("N2")),
		mk("indicator--4", 1, 4, tlp("clear"), origin("N2")),
		mk("report--5", 1, 5, tlp("amber+strict"), origin("N1")),
		mk("indicator--1", 2, 6, labels("phishing"), tlp("amber"), origin("N1")), // new version of 1
		mk("indicator--6", 1, 7, labels("c2"), tlp("green"), origin("N2"), revoked()),
		mk("indicator--2", 0, 8, labels("old"), tlp("green"), origin("N1")), // older version of 2, added later
	)
	return ix
}

func TestQueryFilters(t *testing.T) {
	ix := queryFixture(t)
	tests := []struct {
		name string
		q    Query
		want []string // id@mod in Added order
	}{
		{"all current", Query{}, []string{"indicator--2@1", "malware--3@1", "indicator--4@1", "report--5@1", "indicator--1@2"}},
		{"include revoked", Query{IncludeRevoked: true}, []string{"indicator--2@1", "malware--3@1", "indicator--4@1", "report--5@1", "indicator--1@2", "indicator--6@1"}},
		{"all versions", Query{AllVersions: true}, []string{"indicator--1@1", "indicator--2@1", "malware--3@1", "indicator--4@1", "report--5@1", "indicator--1@2", "indicator--2@0"}},
		{"type", Query{Types: []string{"indicator"}}, []string{"indicator--2@1", "indicator--4@1", "indicator--1@2"}},
		{"types", Query{Types: []string{"malware", "report", "malware"}}, []string{"malware--3@1", "report--5@1"}},
		{"tlps", Query{TLPs: []string{"green", "clear"}}, []string{"indicator--4@1"}},
		{"tlps all versions", Query{TLPs: []string{"green", "clear"}, AllVersions: true}, []string{"indicator--1@1", "indicator--4@1", "indicator--2@0"}},
		{"origin", Query{Origin: "N2"}, []string{"malware--3@1", "indicator--4@1"}},
		{"label", Query{Label: "c2"}, []string{"indicator--2@1"}},
		{"label all versions", Query{Label: "c2", AllVersions: true}, []string{"indicator--1@1", "indicator--2@1"}},
		{"label gone in new version", Query{Label: "phishing"}, []string{"indicator--1@2"}},
		{"and", Query{Types: []string{"indicator"}, TLPs: []string{"amber"}, Origin: "N1"}, []string{"indicator--2@1", "indicator--1@2"}},
		{"and nothing", Query{Types: []string{"malware"}, Origin: "N1"}, nil},
		{"added after", Query{AddedAfter: t0.Add(time.Hour + 4*time.Millisecond)}, []string{"report--5@1", "indicator--1@2"}},
		{"added after, exact instant excluded", Query{AddedAfter: t0.Add(time.Hour + 5*time.Millisecond), AllVersions: true}, []string{"indicator--1@2", "indicator--2@0"}},
		{"ids", Query{IDs: []string{"indicator--1", "malware--3", "nope--0", "indicator--1"}}, []string{"malware--3@1", "indicator--1@2"}},
		{"ids all versions", Query{IDs: []string{"indicator--2", "indicator--1"}, AllVersions: true}, []string{"indicator--1@1", "indicator--2@1", "indicator--1@2", "indicator--2@0"}},
		{"ids and type", Query{IDs: []string{"indicator--1", "malware--3"}, Types: []string{"malware"}}, []string{"malware--3@1"}},
		{"ids revoked", Query{IDs: []string{"indicator--6"}}, nil},
		{"spec version", Query{SpecVersions: []string{"2.1"}, Types: []string{"malware"}}, []string{"malware--3@1"}},
		{"other spec version", Query{SpecVersions: []string{"2.0"}}, nil},
		{"ids added after", Query{IDs: []string{"indicator--2"}, AllVersions: true, AddedAfter: t0.Add(time.Hour + 2*time.Millisecond)}, []string{"indicator--2@0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ix.Query(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := versionIDs(p.Entries); !slices.Equal(got, tt.want) {
				t.Errorf("\n got %v\nwant %v", got, tt.want)
			}
			if p.Next != "" {
				t.Errorf("Next = %q on a single page", p.Next)
			}
			// Every page size gives the same sequence.
			for limit := 1; limit <= len(tt.want); limit++ {
				q := tt.q
				q.Limit = limit
				var all []Entry
				for pages := 0; ; pages++ {
					p, err := ix.Query(q)
					if err != nil {
						t.Fatal(err)
					}
					if len(p.Entries) > limit || pages > len(tt.want) {
						t.Fatalf("limit %d: page of %d, %d pages", limit, len(p.Entries), pages)
					}
					all = append(all, p.Entries...)
					if p.Next == "" {
						break
					}
					q.Cursor = p.Next
				}
				if got := versionIDs(all); !slices.Equal(got, tt.want) {
					t.Errorf("limit %d:\n got %v\nwant %v", limit, got, tt.want)
				}
			}
		})
	}
	if _, err := ix.Query(Query{Cursor: "garbage"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestQueryCursorStableUnderInserts(t *testing.T) {
	ix := openTest(t, Options{NoSync: true})
	added := 0
	put := func(id string, mod int) {
		added++
		mustPut(t, ix, mk(id, mod, added))
	}
	for i := range 10 {
		put(fmt.Sprintf("indicator--%02d", i), 1)
	}
	p, err := ix.Query(Query{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	got := versionIDs(p.Entries)
	// Meanwhile: new objects, a new version of an object already paged
	// (00) and of one not yet paged (07), an older version of 08.
	put("indicator--10", 1)
	put("indicator--00", 2)
	put("indicator--07", 2)
	put("indicator--08", 0)
	for p.Next != "" {
		p, err = ix.Query(Query{Limit: 4, Cursor: p.Next})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, versionIDs(p.Entries)...)
		if len(got) == 8 {
			put("indicator--11", 1) // during paging again
		}
	}
	want := []string{
		"indicator--00@1", "indicator--01@1", "indicator--02@1", "indicator--03@1",
		"indicator--04@1", "indicator--05@1", "indicator--06@1", "indicator--08@1", "indicator--09@1",
		"indicator--10@1", "indicator--00@2", "indicator--07@2", "indicator--11@1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("\n got %v\nwant %v", got, want)
	}
	// A page boundary on an object later superseded: its cursor still works.
	ix2 := openTest(t, Options{NoSync: true})
	mustPut(t, ix2, mk("indicator--a", 1, 1), mk("indicator--b", 1, 2), mk("indicator--c", 1, 3))
	p, _ = ix2.Query(Query{Limit: 2})
	mustPut(t, ix2, mk("indicator--b", 2, 4))
	p, _ = ix2.Query(Query{Limit: 2, Cursor: p.Next})
	if got := versionIDs(p.Entries); !slices.Equal(got, []string{"indicator--c@1", "indicator--b@2"}) || p.Next != "" {
		t.Errorf("after superseded boundary: %v next %q", got, p.Next)
	}
}

func TestQueryDefaultLimit(t *testing.T) {
	ix := openTest(t, Options{NoSync: true})
	es := make([]Entry, DefaultLimit+5)
	for i := range es {
		es[i] = mk(fmt.Sprintf("indicator--%05d", i), 0, i)
	}
	mustPut(t, ix, es...)
	p, err := ix.Query(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != DefaultLimit || p.Next == "" {
		t.Fatalf("%d entries, next %q", len(p.Entries), p.Next)
	}
	p, _ = ix.Query(Query{Cursor: p.Next})
	if len(p.Entries) != 5 || p.Next != "" || p.Entries[0].ID != "indicator--01000" {
		t.Fatalf("second page: %d entries, next %q", len(p.Entries), p.Next)
	}
}
