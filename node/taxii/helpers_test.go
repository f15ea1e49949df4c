package taxii

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/audit"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/segment"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
	fsstore "github.com/kurier/kurier/node/store/fs"
)

const testBodyLimit = 1 << 20

// fixture is a real node stack: an fs store, the indicator service on a
// bbolt index, real tokens, the node's api.Server and the TAXII server,
// behind httptest.
type fixture struct {
	t      testing.TB
	bucket store.Bucket
	svc    *indicator.Service
	tokens *auth.Tokens
	// bearer tokens by name: analyst, analyst2, operator, liaison, admin
	bearer map[string]string
	srv    *httptest.Server
	taxii  *Server
	// indReg holds the indicator service's metrics (it outlives restarts).
	indReg *prometheus.Registry
}

type fixtureOpts struct {
	maxLimit  int
	bodyLimit int64 // http.max_body_bytes and max_content_length; testBodyLimit if 0
}

func newFixture(t testing.TB, fo ...fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(ctx, "objects", false); err != nil {
		t.Fatal(err)
	}
	bucket := st.Bucket("objects")
	id, err := identity.Generate("test", "", identity.ProfileDefault, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sealer := seal.New(id, nil)
	seg, err := segment.Open(ctx, bucket, sealer)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(filepath.Join(dir, "index", "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	indReg := prometheus.NewRegistry()
	svc, err := indicator.New(ctx, indicator.Options{Identity: id, Sealer: sealer, Segments: seg, Index: idx,
		StatePath: indicator.StatePath(dir), Registerer: indReg})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, bucket: bucket, svc: svc, tokens: auth.NewTokens(bucket), bearer: map[string]string{}, indReg: indReg}
	for name, role := range map[string]auth.Role{
		"analyst": auth.Analyst, "analyst2": auth.Analyst, "operator": auth.Operator,
		"liaison": auth.Liaison, "admin": auth.Admin,
	} {
		secret, _, err := f.tokens.Create(ctx, name, role)
		if err != nil {
			t.Fatal(err)
		}
		f.bearer[name] = secret
	}
	// A named recipient of TLP:RED.
	secret, _, err := f.tokens.Create(ctx, "analyst-red", auth.Analyst, auth.WithTLPRed())
	if err != nil {
		t.Fatal(err)
	}
	f.bearer["analyst-red"] = secret
	var o fixtureOpts
	if len(fo) > 0 {
		o = fo[0]
	}
	f.start(o)
	return f
}

// start (re)builds the API and TAXII servers on the same store: a node
// restart as far as TAXII is concerned.
func (f *fixture) start(o fixtureOpts) {
	f.t.Helper()
	if f.srv != nil {
		f.srv.Close()
	}
	reg := prometheus.NewRegistry()
	limit := o.bodyLimit
	if limit == 0 {
		limit = testBodyLimit
	}
	a, err := api.New(api.Options{
		Registerer: reg, Gatherer: reg, Auth: f.tokens, Audit: audit.New(f.bucket, 0), MaxBodyBytes: limit,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	ts, err := New(Options{
		Indicators: f.svc, Statuses: f.bucket, Registerer: reg, Title: "Kurier test node",
		Contact: "cert@example.org", MaxContentLength: limit, MaxLimit: o.maxLimit,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	ts.Mount(a)
	f.svc.Mount(a) // /api/v1 too: bad-input tests compare both doors
	f.taxii = ts
	f.srv = httptest.NewServer(a.Handler())
	f.t.Cleanup(f.srv.Close)
}

// response is one HTTP exchange.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request as the named token ("" for none). Headers are given
// as name, value pairs; Accept defaults to the TAXII 2.1 media type.
func (f *fixture) do(method, who, path string, body []byte, headers ...string) response {
	f.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = f.srv.URL + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Accept", MediaType)
	if body != nil {
		req.Header.Set("Content-Type", MediaType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+f.bearer[who])
	}
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

// get is an analyst GET that must answer 200 with the TAXII media type.
func (f *fixture) get(who, path string, v any) response {
	f.t.Helper()
	r := f.do(http.MethodGet, who, path, nil)
	if r.code != http.StatusOK {
		f.t.Fatalf("GET %s as %s: %d %s", path, who, r.code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != MediaType {
		f.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if v != nil {
		r.json(f.t, v)
	}
	return r
}

// envelope is the TAXII envelope as a client reads it.
type envelope struct {
	More    bool              `json:"more"`
	Next    string            `json:"next"`
	Objects []json.RawMessage `json:"objects"`
}

type status struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []statusDetail `json:"successes"`
	FailureCount     int            `json:"failure_count"`
	Failures         []statusDetail `json:"failures"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []statusDetail `json:"pendings"`
}

func collectionPath(id string) string { return APIRootPath + "collections/" + id + "/" }

func objectsPath(id string, params ...string) string {
	p := collectionPath(id) + "objects/"
	return p + query(params...)
}

func query(params ...string) string {
	if len(params) == 0 {
		return ""
	}
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return "?" + v.Encode()
}

// post sends an envelope to the inbox as who and returns the status.
func (f *fixture) post(who string, objects ...json.RawMessage) status {
	f.t.Helper()
	body, err := json.Marshal(map[string]any{"objects": objects})
	if err != nil {
		f.t.Fatal(err)
	}
	r := f.do(http.MethodPost, who, objectsPath(CollectionInbox), body)
	if r.code != http.StatusAccepted {
		f.t.Fatalf("POST inbox: %d %s", r.code, r.body)
	}
	var st status
	r.json(f.t, &st)
	return st
}

// mustPost posts and requires every object to succeed.
func (f *fixture) mustPost(objects ...json.RawMessage) status {
	f.t.Helper()
	st := f.post("analyst", objects...)
	if st.FailureCount != 0 || st.SuccessCount != len(objects) {
		f.t.Fatalf("post: %+v", st)
	}
	return st
}

func uuid4(t *testing.T) string {
	t.Helper()
	u, err := newUUID()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// ts formats a STIX timestamp.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// indicatorJSON makes a valid STIX 2.1 indicator version.
func indicatorJSON(id string, modified time.Time, tlp stix.TLP, n int, extra ...string) json.RawMessage {
	marking := ""
	if tlp.Valid() {
		marking = fmt.Sprintf(`,"object_marking_refs":["%s"]`, tlp.MarkingID())
	}
	more := ""
	for i := 0; i+1 < len(extra); i += 2 {
		more += fmt.Sprintf(`,%q:%s`, extra[i], extra[i+1])
	}
	return json.RawMessage(fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,`+
		`"created":"2024-01-01T00:00:00.000Z","modified":%q,"name":"test indicator %d",`+
		`"pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix",`+
		`"valid_from":"2024-01-01T00:00:00Z","x_kurier_test":{"n":%d,"nested":[1,2.5,"x"]}%s%s}`,
		id, ts(modified), n, n%250, n, marking, more))
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	return reflect.DeepEqual(jsonValue(t, a), jsonValue(t, b))
}

func idOf(t *testing.T, raw []byte) string {
	t.Helper()
	var h struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.ID
}

// loadExample reads an OASIS example (a bundle or a lone object) and
// returns its objects.
func loadExample(t *testing.T, path string) []json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		t.Fatal(err)
	}
	if head.Type != "bundle" {
		return []json.RawMessage{raw}
	}
	return head.Objects
}

// uuidV5 computes an RFC 9562 name-based (SHA-1) UUID, to check the
// documented collection ids.
func uuidV5(t *testing.T, namespace, name string) string {
	t.Helper()
	ns, err := stix.ParseUUID(namespace)
	if err != nil {
		t.Fatal(err)
	}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}
