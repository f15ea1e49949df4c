package taxii

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/stix"
)

// No TAXII 2.1 client library for Go is available through the module proxy
// (the Go TAXII code found is server-side or message structs only), so
// specClient is written strictly from the TAXII 2.1 specification, and
// behaves as the OASIS reference client (cti-taxii-client, taxii2client.v21)
// does: it sends Accept: application/taxii+json;version=2.1, checks every
// response's Content-Type against it, resolves api_roots against the
// discovery URL, derives collection URLs as <api-root>collections/<id>/,
// the status URL as <collection>../../status/<id>/, and pages with
// limit and next while "more" is true.
type specClient struct {
	t      *testing.T
	bearer string
}

const accept = "application/taxii+json;version=2.1"

// validContentType is taxii2client's check: every token of the Accept
// value appears in the Content-Type, whose type is application/taxii+json.
func validContentType(ct string) bool {
	acc := strings.Split(strings.ReplaceAll(accept, " ", ""), ";")
	got := strings.Split(strings.ReplaceAll(ct, " ", ""), ";")
	for _, a := range acc {
		if !slices.Contains(got, a) {
			return false
		}
	}
	return got[0] == "application/taxii+json"
}

func (c *specClient) request(method, u string, params url.Values, body []byte) (*http.Response, []byte) {
	c.t.Helper()
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+c.bearer)
	if body != nil {
		req.Header.Set("Content-Type", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	if !validContentType(resp.Header.Get("Content-Type")) {
		c.t.Fatalf("%s %s: Content-Type %q for Accept %q", method, u, resp.Header.Get("Content-Type"), accept)
	}
	return resp, b
}

func (c *specClient) get(u string, params url.Values) map[string]any {
	c.t.Helper()
	_, b := c.request(http.MethodGet, u, params, nil)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("GET %s: %v", u, err)
	}
	return m
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

// asPages follows taxii2client.v21.as_pages: first page with limit, then
// next while more. It returns every item of the given list member.
func (c *specClient) asPages(u, member string, perRequest int, params url.Values) []any {
	c.t.Helper()
	var out []any
	next := ""
	for i := 0; ; i++ {
		if i > 10000 {
			c.t.Fatal("paging does not end")
		}
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		p.Set("limit", strconv.Itoa(perRequest))
		if i > 0 {
			p.Set("next", next)
		}
		m := c.get(u, p)
		items, _ := m[member].([]any)
		out = append(out, items...)
		more, _ := m["more"].(bool)
		if !more {
			return out
		}
		next, _ = m["next"].(string)
		if next == "" {
			c.t.Fatalf("%s: more without next", u)
		}
	}
}

// TestStandardClient runs the TAXII 2.1 client flow end to end: discovery,
// API root, collections, add objects, status, get objects (paged),
// manifest (paged), get an object, object versions.
func TestStandardClient(t *testing.T) {
	f := newFixture(t)
	c := &specClient{t: t, bearer: f.bearer["analyst-red"]}
	discoveryURL := f.srv.URL + DiscoveryPath

	// Server Discovery (4.1).
	d := c.get(discoveryURL, nil)
	if d["title"] != "Kurier test node" || d["contact"] != "cert@example.org" {
		t.Fatalf("discovery: %v", d)
	}
	roots, _ := d["api_roots"].([]any)
	if len(roots) != 1 || d["default"] != roots[0] {
		t.Fatalf("api_roots %v default %v", roots, d["default"])
	}
	root := resolve(t, discoveryURL, roots[0].(string))
	if !strings.HasSuffix(root, "/") {
		root += "/"
	}

	// API Root information (4.2).
	ar := c.get(root, nil)
	if ar["title"] == "" || ar["max_content_length"] != float64(testBodyLimit) ||
		!slices.Contains(ar["versions"].([]any), any(accept)) {
		t.Fatalf("api root: %v", ar)
	}

	// Collections (5.1) and each collection (5.2).
	cols := c.get(root+"collections/", nil)["collections"].([]any)
	if len(cols) != 6 {
		t.Fatalf("analyst sees %d collections", len(cols))
	}
	urls := map[string]string{} // title -> collection URL
	var inbox string
	for _, x := range cols {
		col := x.(map[string]any)
		id, _ := col["id"].(string)
		title, _ := col["title"].(string)
		_, hasRead := col["can_read"].(bool)
		_, hasWrite := col["can_write"].(bool)
		if id == "" || title == "" || !hasRead || !hasWrite {
			t.Fatalf("collection misses required properties: %v", col)
		}
		cu := root + "collections/" + id + "/"
		if got := c.get(cu, nil); got["id"] != id || got["title"] != title {
			t.Fatalf("GET %s: %v", cu, got)
		}
		urls[title] = cu
		if col["can_write"] == true {
			inbox = cu
		}
	}
	if inbox == "" {
		t.Fatal("no writable collection")
	}

	// Add Objects (5.4): five indicators, unmarked (the node's default
	// TLP:AMBER) and one TLP:GREEN.
	var sent []json.RawMessage
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		sent = append(sent, indicatorJSON("indicator--"+uuid4(t), base, stix.TLPNone, i))
	}
	green := indicatorJSON("indicator--"+uuid4(t), base, stix.TLPGreen, 9)
	env, _ := json.Marshal(map[string]any{"objects": append(slices.Clone(sent), green)})
	_, b := c.request(http.MethodPost, inbox+"objects/", nil, env)
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	statusURL := resolve(t, inbox, "../../status/"+st["id"].(string)) + "/"
	for range 10 { // taxii2client's wait_until_final
		if st["status"] == "complete" {
			break
		}
		time.Sleep(10 * time.Millisecond)
		st = c.get(statusURL, nil)
	}
	st = c.get(statusURL, nil) // Get Status (4.3)
	if st["status"] != "complete" || st["total_count"] != float64(6) || st["success_count"] != float64(6) ||
		st["failure_count"] != float64(0) || st["pending_count"] != float64(0) {
		t.Fatalf("status: %v", st)
	}

	// Get Objects (5.3), two per page, from TLP:AMBER.
	amber := urls["TLP:AMBER indicators"]
	got := c.asPages(amber+"objects/", "objects", 2, nil)
	if len(got) != len(sent) {
		t.Fatalf("read back %d objects, sent %d", len(got), len(sent))
	}
	for i, o := range got {
		b, _ := json.Marshal(o)
		if !sameJSON(t, b, sent[i]) {
			t.Errorf("object %d differs:\n got %s\nsent %s", i, b, sent[i])
		}
	}
	// The green one is in TLP:GREEN only.
	gotGreen := c.asPages(urls["TLP:GREEN indicators"]+"objects/", "objects", 10, nil)
	if b, _ := json.Marshal(gotGreen); len(gotGreen) != 1 || !sameJSON(t, b, []byte("["+string(green)+"]")) {
		t.Fatalf("green collection: %s", b)
	}

	// Get Object Manifests (5.6), paged with next too.
	man := c.asPages(amber+"manifest/", "objects", 3, nil)
	if len(man) != len(sent) {
		t.Fatalf("manifest has %d records", len(man))
	}
	for i, x := range man {
		rec := x.(map[string]any)
		if rec["id"] != idOf(t, sent[i]) || rec["version"] != ts(base) || rec["media_type"] != STIXMediaType || rec["date_added"] == "" {
			t.Fatalf("manifest record %d: %v", i, rec)
		}
	}

	// Get an Object (5.5) and Get Object Versions (5.8).
	id := idOf(t, sent[0])
	one := c.get(amber+"objects/"+id+"/", nil)
	if objs := one["objects"].([]any); len(objs) != 1 {
		t.Fatalf("get an object: %v", one)
	}
	vers := c.get(amber+"objects/"+id+"/versions/", nil)
	if v := vers["versions"].([]any); len(v) != 1 || v[0] != ts(base) {
		t.Fatalf("versions: %v", vers)
	}
}
