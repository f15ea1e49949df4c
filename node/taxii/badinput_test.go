package taxii

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
)

// rejected reads kurier_indicators_rejected_total{reason}.
func (f *fixture) rejected(reason string) float64 {
	f.t.Helper()
	mfs, err := f.indReg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kurier_indicators_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestBadInputOverHTTP: bad bundles and envelopes sent to /api/v1/bundles
// and to the TAXII inbox are answered with problem+json of a stable type
// naming the object and property, counted by reason, and nothing of a
// rejected object is stored.
func TestBadInputOverHTTP(t *testing.T) {
	const bodyLimit = 12 << 20 // above stix.DefaultLimits.MaxObjectBytes, to reach the per-object limit
	f := newFixture(t, fixtureOpts{bodyLimit: bodyLimit})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := func(id string) string { return string(indicatorJSON(id, base, stix.TLPGreen, 7)) }
	with := func(id, extra string) string { // an indicator with one more property
		s := good(id)
		return s[:len(s)-1] + "," + extra + "}"
	}
	bundle := func(objs ...string) string {
		return `{"type":"bundle","id":"bundle--` + uuid4(t) + `","objects":[` + strings.Join(objs, ",") + `]}`
	}
	envelope := func(objs ...string) string { return `{"objects":[` + strings.Join(objs, ",") + `]}` }
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "indicator--" + uuid4(t)
		}
		return out
	}

	type tc struct {
		name, path, ctype, body string
		code                    int
		typ                     string // problem type; "" for a TAXII status
		object, property        string
		objectIndex             int // -1 if not named
		reason                  string
		count                   float64 // how much the reason's counter grows
		notStored               []string
		// chunked sends the body without Content-Length, so the limit is
		// met while reading it; declared sends only a Content-Length over
		// the limit, refused by node/api before any route runs (and
		// counted through api.Server.OnTooLarge).
		chunked, declared bool
	}
	bundles := "/api/v1/bundles"
	inbox := objectsPath(CollectionInbox)
	var cases []tc
	{
		id := ids(2)
		cases = append(cases, tc{name: "bundle: malformed JSON in a property", path: bundles, ctype: "application/stix+json",
			body: bundle(good(id[0]), `{"type":"indicator","spec_version":"2.1","id":"`+id[1]+`","pattern":[ipv4}`),
			code: 400, typ: problem.BadRequest, object: id[1], property: "pattern", objectIndex: 1,
			reason: indicator.ReasonMalformed, count: 1, notStored: id})
	}
	{
		id := ids(2)
		cases = append(cases, tc{name: "bundle: oversized object", path: bundles, ctype: "application/json",
			body: bundle(good(id[0]), with(id[1], `"x_pad":"`+strings.Repeat("a", stix.DefaultLimits.MaxObjectBytes)+`"`)),
			code: 413, typ: problem.TooLarge, object: id[1], objectIndex: 1,
			reason: indicator.ReasonTooLarge, count: 1, notStored: id})
	}
	{
		id := ids(1)
		cases = append(cases, tc{name: "bundle: body over the limit", path: bundles, ctype: "application/json",
			body: bundle(with(id[0], `"x_pad":"`+strings.Repeat("a", bodyLimit)+`"`)), chunked: true,
			code: 413, typ: problem.TooLarge, objectIndex: -1, reason: indicator.ReasonTooLarge, count: 1, notStored: id})
	}
	cases = append(cases, tc{name: "bundle: declared Content-Length over the limit", path: bundles, ctype: "application/json",
		declared: true, code: 413, typ: problem.TooLarge, objectIndex: -1, reason: indicator.ReasonTooLarge, count: 1})
	{
		id := ids(1)
		cases = append(cases, tc{name: "bundle: wrong media type", path: bundles, ctype: "text/plain",
			body: bundle(good(id[0])), code: 415, typ: problem.UnsupportedMedia, objectIndex: -1,
			reason: indicator.ReasonMediaType, count: 1, notStored: id})
	}
	{
		id := ids(1)
		cases = append(cases, tc{name: "bundle: duplicate ids", path: bundles, ctype: "application/json",
			body: bundle(good(id[0]), good(id[0])), code: 422, typ: problem.Validation, object: id[0], property: "id",
			objectIndex: -1, reason: indicator.ReasonDuplicate, count: 2, notStored: id})
	}
	{
		id := ids(1)
		cases = append(cases, tc{name: "bundle: big integer custom property", path: bundles, ctype: "application/json",
			body: bundle(with(id[0], `"x_count":12345678901234567890123`)), code: 422, typ: problem.Validation,
			object: id[0], property: "x_count", objectIndex: -1, reason: indicator.ReasonLossyNumber, count: 1, notStored: id})
	}
	{
		id := ids(1)
		cases = append(cases, tc{name: "bundle: 1e400", path: bundles, ctype: "application/json",
			body: bundle(with(id[0], `"x_score":{"v":[1e400]}`)), code: 422, typ: problem.Validation,
			object: id[0], property: "x_score", objectIndex: -1, reason: indicator.ReasonLossyNumber, count: 1, notStored: id})
	}
	{
		id := ids(1)
		s := strings.Replace(good(id[0]), `"spec_version":"2.1"`, `"spec_version":"2.0"`, 1)
		cases = append(cases, tc{name: "bundle: wrong spec_version", path: bundles, ctype: "application/json",
			body: bundle(s), code: 422, typ: problem.Validation, object: id[0], property: "spec_version",
			objectIndex: -1, reason: indicator.ReasonSpecVersion, count: 1, notStored: id})
	}
	{
		id := ids(3)
		cases = append(cases, tc{name: "taxii: malformed envelope", path: inbox, ctype: MediaType,
			body: envelope(good(id[0]), good(id[1]), `{"type":"indicator","id":"`+id[2]+`","name":"x",}`),
			code: 400, typ: problem.BadRequest, object: id[2], property: "name", objectIndex: 2,
			reason: indicator.ReasonMalformed, count: 1, notStored: id})
	}
	{
		id := ids(1)
		cases = append(cases, tc{name: "taxii: envelope over max_content_length", path: inbox, ctype: MediaType,
			body: envelope(with(id[0], `"x_pad":"`+strings.Repeat("a", bodyLimit)+`"`)), chunked: true,
			code: 413, typ: problem.TooLarge, objectIndex: -1, reason: indicator.ReasonTooLarge, count: 1, notStored: id})
	}
	cases = append(cases, tc{name: "taxii: declared Content-Length over the limit", path: inbox, ctype: MediaType,
		declared: true, code: 413, typ: problem.TooLarge, objectIndex: -1, reason: indicator.ReasonTooLarge, count: 1})
	{
		id := ids(1)
		cases = append(cases, tc{name: "taxii: wrong media type", path: inbox, ctype: "application/json",
			body: envelope(good(id[0])), code: 415, typ: problem.UnsupportedMedia, objectIndex: -1,
			reason: indicator.ReasonMediaType, count: 1, notStored: id})
	}
	{
		id := ids(2)
		cases = append(cases, tc{name: "taxii: oversized object is a per-object failure", path: inbox, ctype: MediaType,
			body: envelope(good(id[0]), with(id[1], `"x_pad":"`+strings.Repeat("a", stix.DefaultLimits.MaxObjectBytes)+`"`)),
			code: 202, object: id[1], objectIndex: -1, reason: indicator.ReasonTooLarge, count: 1, notStored: id[1:]})
	}
	{
		id := ids(2)
		cases = append(cases, tc{name: "taxii: duplicate ids", path: inbox, ctype: MediaType,
			body: envelope(good(id[0]), good(id[0]), with(id[1], `"x_n":1e400`)), code: 202, object: id[0],
			objectIndex: -1, reason: indicator.ReasonDuplicate, count: 2, notStored: id})
	}

	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.rejected(c.reason)
			var r response
			switch {
			case c.declared:
				r = f.doDeclared(c.path, c.ctype, bodyLimit+1)
			case c.chunked:
				r = f.doChunked(c.path, c.ctype, c.body)
			default:
				r = f.do(http.MethodPost, "analyst", c.path, []byte(c.body),
					"Content-Type", c.ctype, "Accept", acceptFor(c.path))
			}
			if r.code != c.code {
				t.Fatalf("status %d, want %d: %.400s", r.code, c.code, r.body)
			}
			if got := f.rejected(c.reason) - before; got != c.count {
				t.Errorf("rejected{%s} grew by %v, want %v", c.reason, got, c.count)
			}
			for _, id := range c.notStored {
				if _, ok, err := f.svc.Current(ctx, id); err != nil || ok {
					t.Errorf("%s stored (err %v)", id, err)
				}
			}
			if c.typ == "" {
				var st status
				r.json(t, &st)
				found := false
				for _, fl := range st.Failures {
					if fl.ID == c.object && strings.Contains(fl.Message, c.reason) {
						found = true
					}
				}
				if !found {
					t.Errorf("no failure for %s with reason %s in %+v", c.object, c.reason, st.Failures)
				}
				return
			}
			if ct := r.header.Get("Content-Type"); ct != problem.MediaType {
				t.Errorf("Content-Type %q", ct)
			}
			var p map[string]any
			r.json(t, &p)
			if p["type"] != c.typ || p["status"] != float64(c.code) {
				t.Errorf("problem type %v status %v, want %s %d", p["type"], p["status"], c.typ, c.code)
			}
			if c.object != "" && p["object"] != c.object {
				t.Errorf("object %v, want %s (%s)", p["object"], c.object, p["detail"])
			}
			if c.property != "" && p["property"] != c.property {
				t.Errorf("property %v, want %s (%s)", p["property"], c.property, p["detail"])
			}
			if c.objectIndex >= 0 && p["object_index"] != float64(c.objectIndex) {
				t.Errorf("object_index %v, want %d", p["object_index"], c.objectIndex)
			}
			if c.code == 422 {
				fs, _ := p["failures"].([]any)
				if len(fs) != int(c.count) {
					t.Errorf("failures %v, want %v of them", p["failures"], c.count)
				}
				for _, x := range fs {
					if m, _ := x.(map[string]any); m["reason"] != c.reason {
						t.Errorf("failure %v, want reason %s", x, c.reason)
					}
				}
			}
		})
	}
	// The node still takes good input on both doors afterwards.
	id := ids(2)
	if r := f.do(http.MethodPost, "analyst", bundles, []byte(bundle(good(id[0]))), "Content-Type", "application/json", "Accept", "application/json"); r.code != 200 {
		t.Fatalf("good bundle: %d %s", r.code, r.body)
	}
	f.mustPost(json.RawMessage(good(id[1])))
	for _, x := range id {
		if _, ok, _ := f.svc.Current(ctx, x); !ok {
			t.Errorf("%s not stored", x)
		}
	}
}

// doDeclared POSTs as the analyst a request declaring a Content-Length of
// n without sending the body: a limit judging the header answers at once.
func (f *fixture) doDeclared(path, ctype string, n int64) response {
	f.t.Helper()
	u, err := url.Parse(f.srv.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		f.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nAccept: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		path, u.Host, f.bearer["analyst"], ctype, acceptFor(path), n)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// doChunked POSTs body as the analyst with no Content-Length.
func (f *fixture) doChunked(path, ctype, body string) response {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, io.NopCloser(strings.NewReader(body)))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", acceptFor(path))
	req.Header.Set("Authorization", "Bearer "+f.bearer["analyst"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func acceptFor(path string) string {
	if strings.HasPrefix(path, "/api/v1") {
		return "application/json"
	}
	return MediaType
}

// TestRevokeThirdPartyOverHTTP: revoking an imported object whose
// created_by_ref names another producer is a 409 not-creator problem
// naming the object and property, and stores no new version.
func TestRevokeThirdPartyOverHTTP(t *testing.T) {
	f := newFixture(t)
	id := "indicator--" + uuid4(t)
	creator := "identity--" + uuid4(t)
	s := string(indicatorJSON(id, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), stix.TLPGreen, 3))
	f.mustPost(json.RawMessage(s[:len(s)-1] + `,"created_by_ref":"` + creator + `"}`))
	r := f.do(http.MethodPost, "analyst", "/api/v1/objects/"+id+"/revoke", []byte(`{}`),
		"Content-Type", "application/json", "Accept", "application/json")
	var p map[string]any
	r.json(t, &p)
	if r.code != http.StatusConflict || p["type"] != problem.NotCreator || p["object"] != id || p["property"] != "created_by_ref" {
		t.Fatalf("revoke: %d %v", r.code, p)
	}
	vs, err := f.svc.Versions(context.Background(), id)
	if err != nil || len(vs) != 1 || vs[0].Revoked {
		t.Fatalf("versions after refused revoke: %d %v", len(vs), err)
	}
}
