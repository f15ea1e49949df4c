package taxii

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kurier/kurier/node/internal/stixschema"
)

// TestServedObjectsMatchSchemas: what the node emits through its real
// paths validates against the OASIS STIX 2.1 JSON schemas: a quick-add
// indicator and its observable, a sighting made with /api/v1/sightings, the
// revoked version /revoke issues, and every object TAXII serves (objects,
// one object, versions) and /api/v1/export writes.
func TestServedObjectsMatchSchemas(t *testing.T) {
	f := newFixture(t)
	api := func(method, path string, body any, want int, v any) {
		t.Helper()
		var b []byte
		if body != nil {
			var err error
			if b, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		r := f.do(method, "analyst", path, b, "Content-Type", "application/json", "Accept", "application/json")
		if r.code != want {
			t.Fatalf("%s %s: %d %s", method, path, r.code, r.body)
		}
		if v != nil {
			r.json(t, v)
		}
	}
	checked := map[string]int{} // type → objects validated
	check := func(where string, raw json.RawMessage) map[string]any {
		t.Helper()
		var o map[string]any
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := stixschema.Validate(raw); err != nil {
			t.Errorf("%s: %v %v: %v\n%s", where, o["type"], o["id"], err, raw)
		}
		checked[where+" "+o["type"].(string)]++
		return o
	}

	var added struct {
		Objects []json.RawMessage `json:"objects"`
	}
	api(http.MethodPost, "/api/v1/indicators", map[string]any{
		"kind": "ipv4-addr", "value": "203.0.113.9", "tlp": "green", "labels": []string{"c2"}, "name": "c2 server",
	}, http.StatusCreated, &added)
	var indID string
	for _, raw := range added.Objects {
		if o := check("quick add", raw); o["type"] == "indicator" {
			indID = o["id"].(string)
		}
	}
	if indID == "" || checked["quick add ipv4-addr"] != 1 {
		t.Fatalf("quick add gave no indicator with its observable: %v", checked)
	}

	var sighting json.RawMessage
	api(http.MethodPost, "/api/v1/sightings", map[string]any{
		"sighting_of_ref": indID, "count": 3, "first_seen": "2026-11-24T10:00:00Z", "last_seen": "2026-11-24T12:00:00Z", "tlp": "green",
	}, http.StatusCreated, &sighting)
	check("sighting", sighting)

	var revoked json.RawMessage
	api(http.MethodPost, "/api/v1/objects/"+indID+"/revoke", nil, http.StatusOK, &revoked)
	if o := check("revoke", revoked); o["revoked"] != true || o["modified"] == o["created"] {
		t.Fatalf("revoke answered %s", revoked)
	}

	// TAXII serves every version, the revoked one included.
	var env envelope
	f.get("analyst", objectsPath(CollectionGreen, "match[version]", "all"), &env)
	revokedServed := false
	for _, raw := range env.Objects {
		if o := check("taxii objects", raw); o["id"] == indID && o["revoked"] == true {
			revokedServed = true
		}
	}
	if !revokedServed || checked["taxii objects sighting"] != 1 || checked["taxii objects ipv4-addr"] != 1 {
		t.Fatalf("TAXII objects lacks the revoked version, the sighting or the observable: %v", checked)
	}
	f.get("analyst", collectionPath(CollectionGreen)+"objects/"+indID+"/"+query("match[version]", "all"), &env)
	if len(env.Objects) != 2 {
		t.Fatalf("TAXII object %s: %d versions, want 2", indID, len(env.Objects))
	}
	for _, raw := range env.Objects {
		check("taxii object", raw)
	}

	var export json.RawMessage
	api(http.MethodGet, "/api/v1/export?all_versions=true&include_revoked=true", nil, http.StatusOK, &export)
	if err := stixschema.ValidateType("bundle", export); err != nil {
		t.Errorf("export bundle: %v", err)
	}
	var b struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(export, &b); err != nil {
		t.Fatal(err)
	}
	for _, raw := range b.Objects {
		check("export", raw)
	}
	if checked["export indicator"] != 2 {
		t.Errorf("export has %d indicator versions, want 2 (%v)", checked["export indicator"], checked)
	}
}
