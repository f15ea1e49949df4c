package federation

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/stix"
)

func (tn *testNode) api(method, path string, body any, out any) int {
	tn.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, tn.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+tn.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			tn.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

func TestIdentityDocument(t *testing.T) {
	a := startNode(t, "a", func(c *configT) { c.Node.Country = "DE"; c.Node.Organization = "CERT-Bund" })
	resp, err := http.Get(a.url + wire.BasePath + wire.PathIdentity)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d wire.Identity
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(); err != nil {
		t.Fatal(err)
	}
	if d.Fingerprint != a.fpr() || d.Country != "DE" || d.Name != "a" || d.KeyProfile != "default" || d.Endpoints["feed"] != "/federation/v1/feed" {
		t.Fatalf("identity: %+v", d)
	}
	o, err := stix.DecodeObject(d.STIX)
	if err != nil {
		t.Fatal(err)
	}
	if err := stix.Validate(o); err != nil || o.ID != STIXIdentityID(a.fpr()) {
		t.Fatalf("STIX identity %s: %v", o.ID, err)
	}
	// A changed document no longer verifies.
	d.Name = "evil"
	if d.Verify() == nil {
		t.Fatal("altered identity verified")
	}
}

// TestOperatorAPI: status, a forced pull, the policy preview (with a draft
// policy) and retraction through the API.
func TestOperatorAPI(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b")
	a.peer(b, policy.Policy{MaxTLP: "green", Types: []string{"indicator"}})
	b.peer(a, policy.Policy{MaxTLP: "green"})
	green := a.indicator(stix.TLPGreen)
	amber := a.indicator(stix.TLPAmber)
	red := a.indicator(stix.TLPRed)

	var res SyncResult
	if code := b.api(http.MethodPost, "/api/v1/federation/peers/a/sync", nil, &res); code != 200 || res.Error != "" || !res.CaughtUp {
		t.Fatalf("sync now: %d %+v", code, res)
	}
	var status struct{ Peers []PeerStatus }
	b.api(http.MethodGet, "/api/v1/federation/peers", nil, &status)
	if len(status.Peers) != 1 || !status.Peers[0].Up || status.Peers[0].LastSuccess.IsZero() || status.Peers[0].Fingerprint != a.fpr() {
		t.Fatalf("status: %+v", status)
	}
	if code := b.api(http.MethodPost, "/api/v1/federation/peers/nobody/sync", nil, nil); code != 404 {
		t.Fatalf("sync of an unknown peer: %d", code)
	}

	var pv Preview
	a.api(http.MethodGet, "/api/v1/federation/peers/b/preview", nil, &pv)
	rules := map[string]string{}
	for _, it := range pv.Items {
		rules[it.ID] = it.Decision.Rule
	}
	if rules[green] != policy.RuleAllowed || rules[amber] != policy.RuleTLPAmber || rules[red] != policy.RuleTLPRed || pv.Draft {
		t.Fatalf("preview: %+v", rules)
	}
	a.api(http.MethodGet, "/api/v1/federation/peers/b/preview?max_tlp=amber", nil, &pv)
	if !pv.Draft || pv.Summary[policy.RuleAllowed] != 2 {
		t.Fatalf("draft preview: %+v", pv.Summary)
	}
	if code := a.api(http.MethodGet, "/api/v1/federation/peers/b/preview?max_tlp=red", nil, nil); code != 422 {
		t.Fatalf("draft with max_tlp=red: %d", code)
	}

	var out map[string]json.RawMessage
	if code := a.api(http.MethodPost, "/api/v1/federation/objects/"+green+"/retract", RetractRequest{TLP: "amber"}, &out); code != 200 {
		t.Fatalf("retract: %d %s", code, out)
	}
	waitFor(t, "the tombstone to reach B", 5*time.Second, func() bool { return !b.visible(green) })
	if code := b.api(http.MethodPost, "/api/v1/federation/objects/"+green+"/retract", RetractRequest{Withdraw: true}, nil); code != 409 {
		t.Fatalf("retract on a non-origin: %d", code)
	}
	if code := a.api(http.MethodPost, "/api/v1/federation/objects/"+green+"/retract", map[string]any{}, nil); code != 422 {
		t.Fatalf("retract without tlp or withdraw: %d", code)
	}
	if !strings.Contains(b.metricsText(), `kurier_federation_last_sync_timestamp_seconds{peer="a"}`) {
		t.Fatal("no last-sync metric")
	}
}

func (tn *testNode) metricsText() string {
	resp, err := http.Get(tn.url + "/metrics")
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
