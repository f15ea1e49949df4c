package taxii

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kurier/kurier/node/stix"
)

// TestCollectionIDs: the documented ids are the UUIDv5 they claim to be.
func TestCollectionIDs(t *testing.T) {
	const nsURL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8" // RFC 9562 NameSpace_URL
	if got := uuidV5(t, nsURL, "https://kurier.dev/taxii/collections"); got != CollectionNamespace {
		t.Fatalf("namespace %s, documented %s", got, CollectionNamespace)
	}
	names := map[string]string{
		CollectionClear: "tlp:clear", CollectionGreen: "tlp:green", CollectionAmber: "tlp:amber",
		CollectionAmberStrict: "tlp:amber+strict", CollectionRed: "tlp:red", CollectionInbox: "inbox",
	}
	for id, name := range names {
		if got := uuidV5(t, CollectionNamespace, name); got != id {
			t.Errorf("%s: %s, documented %s", name, got, id)
		}
	}
	for _, c := range Collections {
		if _, ok := names[c.ID]; !ok {
			t.Errorf("collection %s has an undocumented id", c.Title)
		}
	}
}

// TestExamplesRoundTrip: every OASIS example posted to the inbox reads back
// equal (as JSON values) from the collection of its TLP, and from no other.
func TestExamplesRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../indicator/testdata/*.json")
	if len(files) < 5 {
		t.Fatal("examples missing")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			objs := loadExample(t, file)
			st := f.post("analyst", objs...)
			if st.Status != "complete" || st.TotalCount != len(objs) || st.SuccessCount+st.FailureCount != len(objs) ||
				len(st.Successes) != st.SuccessCount || len(st.Failures) != st.FailureCount || st.PendingCount != 0 {
				t.Fatalf("status: %+v", st)
			}
			if filepath.Base(file) == "interop-objectmarking-test.json" {
				// Its second marking reference names no marking definition
				// the node holds: a per-object failure naming the marking.
				if st.FailureCount != 1 || !strings.Contains(st.Failures[0].Message, "5e57c739-391a-4eb3-b6be-7d15ca92d5ec") {
					t.Fatalf("unknown marking not reported: %+v", st)
				}
				return
			}
			if st.FailureCount != 0 {
				t.Fatalf("failures: %+v", st.Failures)
			}
			// Poll the status as a client does, from the status endpoint.
			var polled status
			f.get("analyst", APIRootPath+"status/"+st.ID+"/", &polled)
			if polled.ID != st.ID || polled.SuccessCount != st.SuccessCount {
				t.Fatalf("polled status %+v", polled)
			}
			for _, raw := range objs {
				o, err := stix.DecodeObject(raw)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := stix.TLPOf(o)
				if !ok {
					want = f.svc.DefaultTLP()
				}
				for _, c := range Collections[:5] {
					r := f.do(http.MethodGet, "analyst", objectsPath(c.ID)+o.ID+"/", nil)
					if c.TLP != want {
						if r.code != http.StatusNotFound {
							t.Errorf("%s found in %s (%d), expected only in %s", o.ID, c.Title, r.code, want)
						}
						continue
					}
					if r.code != http.StatusOK {
						t.Fatalf("%s not in %s: %d %s", o.ID, c.Title, r.code, r.body)
					}
					var env envelope
					r.json(t, &env)
					if len(env.Objects) != 1 || env.More || !sameJSON(t, env.Objects[0], raw) {
						t.Errorf("%s read back as %s, posted %s", o.ID, env.Objects, raw)
					}
				}
			}
		})
	}
}

// TestPaging walks ~250 objects with limit/next and with added_after: no
// duplicates, no gaps, date-added headers matching the manifest.
func TestPaging(t *testing.T) {
	f := newFixture(t, fixtureOpts{maxLimit: 200})
	const n = 250
	base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	var objs []json.RawMessage
	var ids []string
	for i := range n {
		id := "indicator--" + uuid4(t)
		ids = append(ids, id)
		objs = append(objs, indicatorJSON(id, base, stix.TLPGreen, i))
	}
	// Two envelopes, to page across segment boundaries too.
	f.mustPost(objs[:120]...)
	f.mustPost(objs[120:]...)
	// Something in another collection must not leak in.
	f.mustPost(indicatorJSON("indicator--"+uuid4(t), base, stix.TLPAmber, 999))

	type pageInfo struct {
		ids         []string
		first, last string
	}
	walk := func(path string, limit int) []pageInfo {
		var pages []pageInfo
		next := ""
		for {
			params := []string{"limit", fmt.Sprint(limit)}
			if next != "" {
				params = append(params, "next", next)
			}
			var env envelope
			r := f.get("analyst", path+query(params...), &env)
			var p pageInfo
			for _, o := range env.Objects {
				p.ids = append(p.ids, idOf(t, o))
			}
			p.first, p.last = r.header.Get("X-TAXII-Date-Added-First"), r.header.Get("X-TAXII-Date-Added-Last")
			pages = append(pages, p)
			if env.More != (env.Next != "") {
				t.Fatalf("more %v with next %q", env.More, env.Next)
			}
			if !env.More {
				return pages
			}
			next = env.Next
		}
	}
	for _, limit := range []int{1, 7, 100, 250, 1000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			pages := walk(objectsPath(CollectionGreen), limit)
			var got []string
			eff := min(limit, 200)
			for i, p := range pages {
				if len(p.ids) > eff || (i < len(pages)-1 && len(p.ids) != eff) {
					t.Fatalf("page %d has %d objects (limit %d)", i, len(p.ids), eff)
				}
				got = append(got, p.ids...)
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("paged %d ids; want the %d posted, in order (dupes or gaps)", len(got), len(ids))
			}
			// Headers: the manifest, paged alike, gives each page's dates.
			if limit == 7 || limit == 100 {
				var man []manifestResource
				next := ""
				for {
					var m manifestResource
					f.get("analyst", collectionPath(CollectionGreen)+"manifest/"+query(append([]string{"limit", fmt.Sprint(limit)}, nextParam(next)...)...), &m)
					man = append(man, m)
					if !m.More {
						break
					}
					next = m.Next
				}
				if len(man) != len(pages) {
					t.Fatalf("%d manifest pages, %d object pages", len(man), len(pages))
				}
				for i, p := range pages {
					recs := man[i].Objects
					if p.first != recs[0].DateAdded || p.last != recs[len(recs)-1].DateAdded {
						t.Fatalf("page %d headers %s..%s, manifest %s..%s", i, p.first, p.last, recs[0].DateAdded, recs[len(recs)-1].DateAdded)
					}
					for j, rec := range recs {
						if rec.ID != p.ids[j] {
							t.Fatalf("manifest page %d differs from objects page", i)
						}
					}
				}
			}
		})
	}

	t.Run("added_after", func(t *testing.T) {
		var got []string
		after := ""
		for range 100 {
			params := []string{"limit", "60"}
			if after != "" {
				params = append(params, "added_after", after)
			}
			var env envelope
			r := f.get("analyst", objectsPath(CollectionGreen, params...), &env)
			if len(env.Objects) == 0 {
				if r.header.Get("X-TAXII-Date-Added-Last") != "" {
					t.Fatal("date headers on an empty page")
				}
				break
			}
			for _, o := range env.Objects {
				got = append(got, idOf(t, o))
			}
			last := r.header.Get("X-TAXII-Date-Added-Last")
			if _, err := time.Parse(time.RFC3339Nano, last); err != nil || !strings.HasSuffix(last, "Z") || len(last) != len("2006-01-02T15:04:05.000000Z") {
				t.Fatalf("X-TAXII-Date-Added-Last %q", last)
			}
			after = last
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("added_after paging gave %d ids, want %d in order", len(got), len(ids))
		}
	})

	t.Run("next with added_after", func(t *testing.T) {
		// added_after and next together: next continues the filtered walk.
		var env envelope
		r := f.get("analyst", objectsPath(CollectionGreen, "limit", "10"), &env)
		after := r.header.Get("X-TAXII-Date-Added-Last")
		var got []string
		next := ""
		for {
			var e envelope
			f.get("analyst", objectsPath(CollectionGreen, append([]string{"limit", "50", "added_after", after}, nextParam(next)...)...), &e)
			for _, o := range e.Objects {
				got = append(got, idOf(t, o))
			}
			if !e.More {
				break
			}
			next = e.Next
		}
		if !slices.Equal(got, ids[10:]) {
			t.Fatalf("got %d ids, want %d", len(got), len(ids)-10)
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"?limit=0", "?limit=-3", "?limit=x", "?next=garbage", "?added_after=yesterday", "?match[version]=soon"} {
			r := f.do(http.MethodGet, "analyst", objectsPath(CollectionGreen)+q, nil)
			if r.code != http.StatusBadRequest {
				t.Errorf("%s: %d %s", q, r.code, r.body)
			}
		}
	})
}

func nextParam(next string) []string {
	if next == "" {
		return nil
	}
	return []string{"next", next}
}

// TestMatchFilters covers match[id|type|version|spec_version], get an
// object, versions and manifest, before and after a revocation.
func TestMatchFilters(t *testing.T) {
	f := newFixture(t)
	t1 := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.AddDate(0, 1, 0)
	t3 := t1.AddDate(0, 2, 0)
	a := "indicator--" + uuid4(t)
	b := "indicator--" + uuid4(t)
	c := "malware--" + uuid4(t)
	// Versions of a arrive one by one, as its producer issues them.
	f.mustPost(indicatorJSON(a, t1, stix.TLPGreen, 1))
	f.mustPost(indicatorJSON(b, t1, stix.TLPGreen, 2))
	f.mustPost(indicatorJSON(a, t2, stix.TLPGreen, 1))
	f.mustPost(json.RawMessage(fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":%q,"created":"2024-01-01T00:00:00.000Z",`+
		`"modified":"2024-01-01T00:00:00.000Z","name":"Poison Ivy","is_family":true,"object_marking_refs":[%q]}`, c, stix.TLPGreenID)))
	f.mustPost(indicatorJSON(a, t3, stix.TLPGreen, 1))

	type version struct{ id, modified string }
	list := func(path string) []version {
		t.Helper()
		var env envelope
		f.get("analyst", path, &env)
		var out []version
		for _, o := range env.Objects {
			var h struct{ ID, Modified string }
			_ = json.Unmarshal(o, &h)
			out = append(out, version{h.ID, h.Modified})
		}
		return out
	}
	v := func(id string, t time.Time) version { return version{id, ts(t)} }
	malware := version{c, "2024-01-01T00:00:00.000Z"}
	green := objectsPath(CollectionGreen)
	cases := []struct {
		name   string
		params []string
		want   []version
	}{
		{"default is last", nil, []version{v(b, t1), malware, v(a, t3)}},
		{"id", []string{"match[id]", a}, []version{v(a, t3)}},
		{"two ids", []string{"match[id]", a + "," + c}, []version{malware, v(a, t3)}},
		{"id first", []string{"match[id]", a, "match[version]", "first"}, []version{v(a, t1)}},
		{"id last", []string{"match[id]", a, "match[version]", "last"}, []version{v(a, t3)}},
		{"id all", []string{"match[id]", a, "match[version]", "all"}, []version{v(a, t1), v(a, t2), v(a, t3)}},
		{"id first,last", []string{"match[id]", a, "match[version]", "first,last"}, []version{v(a, t1), v(a, t3)}},
		{"timestamp", []string{"match[version]", ts(t2)}, []version{v(a, t2)}},
		{"timestamps", []string{"match[version]", ts(t1) + "," + ts(t2)}, []version{v(a, t1), v(b, t1), v(a, t2)}},
		{"first", []string{"match[version]", "first"}, []version{v(a, t1), v(b, t1), malware}},
		{"all", []string{"match[version]", "all"}, []version{v(a, t1), v(b, t1), v(a, t2), malware, v(a, t3)}},
		{"type", []string{"match[type]", "malware"}, []version{malware}},
		{"types", []string{"match[type]", "indicator,malware"}, []version{v(b, t1), malware, v(a, t3)}},
		{"type all", []string{"match[type]", "indicator", "match[version]", "all"}, []version{v(a, t1), v(b, t1), v(a, t2), v(a, t3)}},
		{"spec 2.1", []string{"match[spec_version]", "2.1"}, []version{v(b, t1), malware, v(a, t3)}},
		{"spec 2.0", []string{"match[spec_version]", "2.0"}, nil},
		{"spec 2.0,2.1 first", []string{"match[spec_version]", "2.0,2.1", "match[version]", "first"}, []version{v(a, t1), v(b, t1), malware}},
		{"unknown id", []string{"match[id]", "indicator--" + uuid4(t)}, nil},
		{"repeated parameter", []string{"match[type]", "malware", "match[type]", "indicator", "match[id]", c}, []version{malware}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(green + query(tc.params...)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	t.Run("paged filter", func(t *testing.T) {
		// match[version]=all one per page: next walks every version.
		var got []version
		next := ""
		for {
			var env envelope
			f.get("analyst", green+query(append([]string{"match[version]", "first", "limit", "1"}, nextParam(next)...)...), &env)
			for _, o := range env.Objects {
				var h struct{ ID, Modified string }
				_ = json.Unmarshal(o, &h)
				got = append(got, version{h.ID, h.Modified})
			}
			if !env.More {
				break
			}
			next = env.Next
		}
		if want := []version{v(a, t1), v(b, t1), malware}; !slices.Equal(got, want) {
			t.Fatalf("got %v want %v", got, want)
		}
	})

	t.Run("get an object", func(t *testing.T) {
		if got := list(green + a + "/"); !slices.Equal(got, []version{v(a, t3)}) {
			t.Fatalf("default: %v", got)
		}
		if got := list(green + a + "/" + query("match[version]", "all")); len(got) != 3 {
			t.Fatalf("all: %v", got)
		}
		if got := list(green + a + "/" + query("match[version]", ts(t2))); !slices.Equal(got, []version{v(a, t2)}) {
			t.Fatalf("timestamp: %v", got)
		}
		if r := f.do(http.MethodGet, "analyst", green+"indicator--"+uuid4(t)+"/", nil); r.code != http.StatusNotFound {
			t.Fatalf("unknown object: %d", r.code)
		}
		if r := f.do(http.MethodGet, "analyst", objectsPath(CollectionAmber)+a+"/", nil); r.code != http.StatusNotFound {
			t.Fatalf("object of another collection: %d", r.code)
		}
		r := f.do(http.MethodDelete, "analyst", green+a+"/", nil)
		if r.code != http.StatusMethodNotAllowed || !strings.Contains(string(r.body), `"http_status":"405"`) {
			t.Fatalf("delete: %d %s", r.code, r.body)
		}
	})

	t.Run("manifest", func(t *testing.T) {
		var m manifestResource
		r := f.get("analyst", collectionPath(CollectionGreen)+"manifest/"+query("match[id]", a, "match[version]", "all"), &m)
		if len(m.Objects) != 3 || m.More {
			t.Fatalf("manifest: %+v", m)
		}
		for i, want := range []time.Time{t1, t2, t3} {
			rec := m.Objects[i]
			if rec.ID != a || rec.Version != ts(want) || rec.MediaType != STIXMediaType {
				t.Fatalf("record %d: %+v", i, rec)
			}
		}
		if r.header.Get("X-TAXII-Date-Added-First") != m.Objects[0].DateAdded || r.header.Get("X-TAXII-Date-Added-Last") != m.Objects[2].DateAdded {
			t.Fatalf("headers %v", r.header)
		}
		var all manifestResource
		f.get("analyst", collectionPath(CollectionGreen)+"manifest/", &all)
		if len(all.Objects) != 3 {
			t.Fatalf("default manifest: %+v", all)
		}
	})

	// Revoke a: its revoked version becomes the last, and is served.
	rv, err := f.svc.Revoke(context.Background(), a, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t4 := rv.Modified.String()

	t.Run("revoked", func(t *testing.T) {
		var env envelope
		f.get("analyst", green+a+"/", &env)
		var h struct {
			Modified string
			Revoked  bool
		}
		if len(env.Objects) != 1 || json.Unmarshal(env.Objects[0], &h) != nil || !h.Revoked || h.Modified != t4 {
			t.Fatalf("default version of a revoked object: %s", env.Objects)
		}
		if got := list(green); !slices.Contains(got, version{a, t4}) || len(got) != 3 {
			t.Fatalf("objects after revoke: %v", got)
		}
		if got := list(green + query("match[id]", a, "match[version]", "first")); !slices.Equal(got, []version{v(a, t1)}) {
			t.Fatalf("first after revoke: %v", got)
		}
	})

	t.Run("versions", func(t *testing.T) {
		var vr versionsResource
		r := f.get("analyst", green+a+"/versions/", &vr)
		if want := []string{ts(t1), ts(t2), ts(t3), t4}; !slices.Equal(vr.Versions, want) || vr.More {
			t.Fatalf("versions %v, want %v", vr.Versions, want)
		}
		if r.header.Get("X-TAXII-Date-Added-First") == "" || r.header.Get("X-TAXII-Date-Added-Last") == "" {
			t.Fatal("versions without date headers")
		}
		// Paged, two at a time.
		var got []string
		next := ""
		for {
			var p versionsResource
			f.get("analyst", green+a+"/versions/"+query(append([]string{"limit", "2"}, nextParam(next)...)...), &p)
			got = append(got, p.Versions...)
			if !p.More {
				break
			}
			next = p.Next
		}
		if !slices.Equal(got, vr.Versions) {
			t.Fatalf("paged versions %v", got)
		}
		if r := f.do(http.MethodGet, "analyst", green+"indicator--"+uuid4(t)+"/versions/", nil); r.code != http.StatusNotFound {
			t.Fatalf("versions of an unknown object: %d", r.code)
		}
	})

	served := testutil.ToFloat64(f.taxii.m.served.WithLabelValues("tlp-green"))
	if served < 10 {
		t.Fatalf("kurier_taxii_objects_served_total{collection=tlp-green} = %v", served)
	}
}

// TestRoles: what each role sees and may do.
func TestRoles(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	red := "indicator--" + uuid4(t)
	f.mustPost(indicatorJSON(red, now, stix.TLPRed, 1), indicatorJSON("indicator--"+uuid4(t), now, stix.TLPClear, 2))

	for _, tc := range []struct {
		who  string
		want []string
	}{
		{"analyst", []string{CollectionClear, CollectionGreen, CollectionAmber, CollectionAmberStrict, CollectionInbox}},
		{"admin", []string{CollectionClear, CollectionGreen, CollectionAmber, CollectionAmberStrict, CollectionInbox}},
		{"analyst-red", []string{CollectionClear, CollectionGreen, CollectionAmber, CollectionAmberStrict, CollectionRed, CollectionInbox}},
		{"operator", []string{CollectionClear, CollectionGreen}},
		{"liaison", []string{CollectionClear, CollectionGreen}},
	} {
		t.Run(tc.who, func(t *testing.T) {
			var cols collectionsResource
			f.get(tc.who, APIRootPath+"collections/", &cols)
			var got []string
			for _, c := range cols.Collections {
				got = append(got, c.ID)
				if c.CanRead == (c.ID == CollectionInbox) || c.CanWrite != (c.ID == CollectionInbox) {
					t.Errorf("%s: can_read %v can_write %v", c.Title, c.CanRead, c.CanWrite)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%s sees %v, want %v", tc.who, got, tc.want)
			}
			for _, c := range Collections {
				r := f.do(http.MethodGet, tc.who, collectionPath(c.ID), nil)
				if visible := slices.Contains(tc.want, c.ID); visible != (r.code == http.StatusOK) || !visible && r.code != http.StatusNotFound {
					t.Errorf("%s GET %s: %d", tc.who, c.Title, r.code)
				}
			}
		})
	}

	for _, tc := range []struct {
		name, who, method, path string
		want                    int
	}{
		{"hidden collection objects", "operator", http.MethodGet, objectsPath(CollectionRed), http.StatusNotFound},
		{"hidden object", "operator", http.MethodGet, objectsPath(CollectionRed) + red + "/", http.StatusNotFound},
		{"hidden manifest", "liaison", http.MethodGet, collectionPath(CollectionAmber) + "manifest/", http.StatusNotFound},
		{"hidden inbox", "operator", http.MethodPost, objectsPath(CollectionInbox), http.StatusNotFound},
		{"red hidden from analysts not named", "analyst", http.MethodGet, objectsPath(CollectionRed) + red + "/", http.StatusNotFound},
		{"red hidden from admin not named", "admin", http.MethodGet, objectsPath(CollectionRed), http.StatusNotFound},
		{"red for named recipients", "analyst-red", http.MethodGet, objectsPath(CollectionRed) + red + "/", http.StatusOK},
		{"clear for operators", "operator", http.MethodGet, objectsPath(CollectionClear), http.StatusOK},
		{"by alias", "operator", http.MethodGet, objectsPath("tlp-clear"), http.StatusOK},
		{"inbox objects", "analyst", http.MethodGet, objectsPath(CollectionInbox), http.StatusForbidden},
		{"inbox manifest", "analyst", http.MethodGet, collectionPath(CollectionInbox) + "manifest/", http.StatusForbidden},
		{"post to a read collection", "analyst", http.MethodPost, objectsPath(CollectionGreen), http.StatusForbidden},
		{"operator post to green", "operator", http.MethodPost, objectsPath(CollectionGreen), http.StatusForbidden},
		{"unknown collection", "analyst", http.MethodGet, objectsPath(uuid4(t)), http.StatusNotFound},
		{"unknown path", "analyst", http.MethodGet, APIRootPath + "nothing/", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == http.MethodPost {
				body = []byte(`{"objects":[]}`)
			}
			r := f.do(tc.method, tc.who, tc.path, body)
			if r.code != tc.want {
				t.Fatalf("%d %s", r.code, r.body)
			}
			if r.code >= 400 && !strings.Contains(string(r.body), fmt.Sprintf(`"http_status":"%d"`, tc.want)) {
				t.Fatalf("problem without TAXII members: %s", r.body)
			}
		})
	}
}

// TestRedOverAPI: /api/v1 hides TLP:RED from every token that does not
// name its holder a recipient of RED, as TAXII does.
func TestRedOverAPI(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	red := "indicator--" + uuid4(t)
	f.mustPost(indicatorJSON(red, now, stix.TLPRed, 1))
	for _, tc := range []struct {
		who  string
		sees bool
	}{
		{"analyst", false}, {"admin", false}, {"analyst-red", true},
	} {
		for _, path := range []string{"/api/v1/search?value=198.51.100.1", "/api/v1/export?type=indicator", "/api/v1/objects/" + red} {
			r := f.do(http.MethodGet, tc.who, path, nil)
			if got := r.code == http.StatusOK && strings.Contains(string(r.body), red); got != tc.sees {
				t.Errorf("%s GET %s: sees the RED object %v, want %v (%d %s)", tc.who, path, got, tc.sees, r.code, r.body)
			}
		}
	}
}

// TestErrors: 401, 406, 415, 413, 400, and per-object failures.
func TestErrors(t *testing.T) {
	f := newFixture(t)
	good := indicatorJSON("indicator--"+uuid4(t), time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC), stix.TLPGreen, 1)
	envelopeOf := func(objs ...json.RawMessage) []byte {
		b, _ := json.Marshal(map[string]any{"objects": objs})
		return b
	}

	t.Run("401", func(t *testing.T) {
		for _, p := range []string{DiscoveryPath, APIRootPath, objectsPath(CollectionGreen)} {
			if r := f.do(http.MethodGet, "", p, nil); r.code != http.StatusUnauthorized {
				t.Errorf("no token %s: %d", p, r.code)
			}
			if r := f.do(http.MethodGet, "", p, nil, "Authorization", "Bearer kur_bogus.token"); r.code != http.StatusUnauthorized {
				t.Errorf("bad token %s: %d", p, r.code)
			}
		}
	})

	t.Run("accept", func(t *testing.T) {
		for _, tc := range []struct {
			accept string
			want   int
		}{
			{"application/taxii+json;version=2.1", 200},
			{"application/taxii+json", 200},
			{"application/taxii+json; version=2.1", 200},
			{"*/*", 200},
			{"application/*", 200},
			{"", 200}, // no Accept header accepts anything
			{"application/json, application/taxii+json;version=2.1;q=0.5", 200},
			{"application/json", 406},
			{"application/taxii+json;version=2.0", 406},
			{"application/stix+json;version=2.1", 406},
			{"text/html", 406},
			{"application/taxii+json;q=0", 406},
		} {
			for _, p := range []string{DiscoveryPath, objectsPath(CollectionGreen)} {
				r := f.do(http.MethodGet, "analyst", p, nil, "Accept", tc.accept)
				if r.code != tc.want {
					t.Errorf("Accept %q %s: %d %s", tc.accept, p, r.code, r.body)
				}
				if tc.want == 406 && !strings.Contains(string(r.body), `"http_status":"406"`) {
					t.Errorf("406 without TAXII members: %s", r.body)
				}
			}
		}
	})

	t.Run("415", func(t *testing.T) {
		for _, ct := range []string{"application/json", "application/stix+json;version=2.1", "application/taxii+json;version=2.0", "text/plain"} {
			r := f.do(http.MethodPost, "analyst", objectsPath(CollectionInbox), envelopeOf(good), "Content-Type", ct)
			if r.code != http.StatusUnsupportedMediaType {
				t.Errorf("Content-Type %q: %d", ct, r.code)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+objectsPath(CollectionInbox), strings.NewReader(string(envelopeOf(good))))
		req.Header.Set("Authorization", "Bearer "+f.bearer["analyst"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("no Content-Type: %d", resp.StatusCode)
		}
	})

	t.Run("413", func(t *testing.T) {
		big := []byte(`{"objects":[{"type":"note","x":"` + strings.Repeat("a", testBodyLimit) + `"}]}`)
		if r := f.do(http.MethodPost, "analyst", objectsPath(CollectionInbox), big); r.code != http.StatusRequestEntityTooLarge {
			t.Errorf("with Content-Length: %d", r.code)
		}
		// Without a Content-Length (chunked): the limit applies while reading.
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+objectsPath(CollectionInbox), io.MultiReader(strings.NewReader(string(big))))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+f.bearer["analyst"])
		req.Header.Set("Content-Type", MediaType)
		req.Header.Set("Accept", MediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"http_status":"413"`) {
			t.Errorf("chunked: %d %s", resp.StatusCode, b)
		}
	})

	t.Run("400", func(t *testing.T) {
		for _, body := range []string{`{"objects":[`, `not json`, `{"objects":{}}`, `{"more":false}`, `[]`, `{"objects":[]} {}`} {
			r := f.do(http.MethodPost, "analyst", objectsPath(CollectionInbox), []byte(body))
			if r.code != http.StatusBadRequest {
				t.Errorf("%s: %d %s", body, r.code, r.body)
				continue
			}
			var p map[string]any
			r.json(t, &p)
			if r.header.Get("Content-Type") != "application/problem+json" || p["http_status"] != "400" || p["title"] == "" ||
				p["description"] == "" || p["type"] == "" {
				t.Errorf("%s: problem %v", body, p)
			}
		}
	})

	t.Run("per-object failures", func(t *testing.T) {
		badSpec := json.RawMessage(strings.Replace(string(indicatorJSON("indicator--"+uuid4(t), time.Now(), stix.TLPGreen, 2)), `"spec_version":"2.1"`, `"spec_version":"2.0"`, 1))
		badPatternID := "indicator--" + uuid4(t)
		badPattern := json.RawMessage(strings.Replace(string(indicatorJSON(badPatternID, time.Now(), stix.TLPGreen, 3)), `[ipv4-addr:value = '198.51.100.3']`, `[ipv4-addr:value = `, 1))
		notObject := json.RawMessage(`42`)
		received := testutil.ToFloat64(f.taxii.m.received.WithLabelValues("failure"))
		st := f.post("analyst", good, badSpec, badPattern, notObject)
		if st.Status != "complete" || st.TotalCount != 4 || st.SuccessCount != 1 || st.FailureCount != 3 || st.PendingCount != 0 ||
			len(st.Successes) != 1 || len(st.Failures) != 3 || st.Pendings == nil {
			t.Fatalf("status: %+v", st)
		}
		if st.Successes[0].ID != idOf(t, good) || st.Successes[0].Version != "2024-08-01T00:00:00.000Z" {
			t.Fatalf("success: %+v", st.Successes[0])
		}
		msgs := map[string]string{}
		for _, x := range st.Failures {
			msgs[x.ID] = x.Message
		}
		if m := msgs[idOf(t, badSpec)]; !strings.Contains(m, "spec_version") {
			t.Errorf("spec_version failure: %q", m)
		}
		if m := msgs[badPatternID]; !strings.Contains(m, "pattern") {
			t.Errorf("pattern failure: %q", m)
		}
		if m := msgs[""]; !strings.Contains(m, "objects[3]") {
			t.Errorf("non-object failure: %q", m)
		}
		if got := testutil.ToFloat64(f.taxii.m.received.WithLabelValues("failure")) - received; got != 3 {
			t.Errorf("kurier_taxii_objects_received_total{result=failure} grew by %v", got)
		}
		// Nothing of the bad objects is stored; the good one is.
		if r := f.do(http.MethodGet, "analyst", objectsPath(CollectionGreen)+badPatternID+"/", nil); r.code != http.StatusNotFound {
			t.Errorf("bad object stored: %d", r.code)
		}
		if r := f.do(http.MethodGet, "analyst", objectsPath(CollectionGreen)+idOf(t, good)+"/", nil); r.code != http.StatusOK {
			t.Errorf("good object not stored: %d", r.code)
		}

		// The status: its creator and admins read it, others do not learn
		// it exists; it survives a restart.
		path := APIRootPath + "status/" + st.ID + "/"
		for who, want := range map[string]int{"analyst": 200, "admin": 200, "analyst2": 404, "operator": 404} {
			if r := f.do(http.MethodGet, who, path, nil); r.code != want {
				t.Errorf("%s GET status: %d", who, r.code)
			}
		}
		f.start(fixtureOpts{})
		var again status
		f.get("analyst", path, &again)
		if again.ID != st.ID || again.FailureCount != 3 || again.Failures[0].Message != st.Failures[0].Message {
			t.Fatalf("status after restart: %+v", again)
		}
		for _, p := range []string{APIRootPath + "status/" + uuid4(t) + "/", APIRootPath + "status/not-a-uuid/"} {
			if r := f.do(http.MethodGet, "admin", p, nil); r.code != http.StatusNotFound {
				t.Errorf("%s: %d", p, r.code)
			}
		}
	})
}
