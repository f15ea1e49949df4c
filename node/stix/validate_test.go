package stix

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// obj builds an object from a base JSON document with top-level overrides;
// a nil value deletes the property.
func obj(t *testing.T, base string, override map[string]any) *Object {
	t.Helper()
	o, err := DecodeObject([]byte(base))
	if err != nil {
		t.Fatalf("base: %v", err)
	}
	for k, v := range override {
		if v == nil {
			o.Delete(k)
			continue
		}
		if err := o.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

const (
	baseIndicator = `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
		"created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z",
		"pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"}`
	baseRelationship = `{"type":"relationship","spec_version":"2.1","id":"relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
		"created":"2016-04-06T20:06:37.000Z","modified":"2016-04-06T20:06:37.000Z","relationship_type":"indicates",
		"source_ref":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","target_ref":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}`
	baseSighting = `{"type":"sighting","spec_version":"2.1","id":"sighting--ee20065d-2555-424f-ad9e-0f8428623c75",
		"created":"2016-04-06T20:08:31.000Z","modified":"2016-04-06T20:08:31.000Z",
		"sighting_of_ref":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","count":3,
		"first_seen":"2016-04-06T20:00:00Z","last_seen":"2016-04-06T21:00:00Z",
		"where_sighted_refs":["identity--b67d30ff-02ac-498a-92f9-32f845f448ff"],
		"observed_data_refs":["observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf"]}`
	baseIPv4 = `{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4","value":"198.51.100.3"}`
)

func TestValidateRules(t *testing.T) {
	type tc struct {
		name   string
		base   string
		change map[string]any
		prop   string // expected property of an error ("" = must be valid)
		reason string // substring of the reason
	}
	cases := []tc{
		{"valid indicator", baseIndicator, nil, "", ""},
		{"valid relationship", baseRelationship, nil, "", ""},
		{"valid sighting", baseSighting, nil, "", ""},
		{"valid ipv4", baseIPv4, nil, "", ""},
		{"sco without spec_version", baseIPv4, map[string]any{"spec_version": nil}, "", ""},

		// identifiers
		{"id not type--uuid", baseIndicator, map[string]any{"id": "indicator-8e2e2d2b"}, "id", "type--UUID"},
		{"id bad uuid", baseIndicator, map[string]any{"id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cdzz"}, "id", "non-hex"},
		{"id wrong type prefix", baseIndicator, map[string]any{"id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "id", "does not match"},
		{"id not rfc4122 variant", baseIndicator, map[string]any{"id": "indicator--8e2e2d2b-17d4-4cbf-c38f-98ee46b3cd3f"}, "id", "RFC 4122"},
		{"id missing", baseIndicator, map[string]any{"id": nil}, "id", "required"},
		{"type missing", baseIndicator, map[string]any{"type": nil}, "type", "required"},
		{"type invalid", baseIndicator, map[string]any{"type": "Indicator"}, "type", "valid STIX type"},

		// spec_version
		{"spec_version 2.0", baseIndicator, map[string]any{"spec_version": "2.0"}, "spec_version", `"2.1"`},
		{"spec_version missing on SDO", baseIndicator, map[string]any{"spec_version": nil}, "spec_version", "required"},
		{"spec_version wrong on SCO", baseIPv4, map[string]any{"spec_version": "2.0"}, "spec_version", `"2.1"`},
		{"spec_version not string", baseIndicator, map[string]any{"spec_version": 2.1}, "spec_version", "string"},

		// required properties
		{"indicator without pattern", baseIndicator, map[string]any{"pattern": nil}, "pattern", "required"},
		{"indicator without pattern_type", baseIndicator, map[string]any{"pattern_type": nil}, "pattern_type", "required"},
		{"indicator without valid_from", baseIndicator, map[string]any{"valid_from": nil}, "valid_from", "required"},
		{"relationship without relationship_type", baseRelationship, map[string]any{"relationship_type": nil}, "relationship_type", "required"},
		{"relationship without source_ref", baseRelationship, map[string]any{"source_ref": nil}, "source_ref", "required"},
		{"relationship without target_ref", baseRelationship, map[string]any{"target_ref": nil}, "target_ref", "required"},
		{"sighting without sighting_of_ref", baseSighting, map[string]any{"sighting_of_ref": nil}, "sighting_of_ref", "required"},
		{"sdo without created", baseIndicator, map[string]any{"created": nil}, "created", "required"},
		{"ipv4 without value", baseIPv4, map[string]any{"value": nil}, "value", "required"},

		// timestamps
		{"bad created", baseIndicator, map[string]any{"created": "2016-04-06 20:03:48"}, "created", "invalid timestamp"},
		{"created not millisecond", baseIndicator, map[string]any{"created": "2016-04-06T20:03:48Z", "modified": "2016-04-06T20:03:48Z"}, "created", "millisecond"},
		{"modified before created", baseIndicator, map[string]any{"modified": "2016-04-06T20:03:47.999Z"}, "modified", "later than or equal to created"},
		{"valid_until before valid_from", baseIndicator, map[string]any{"valid_until": "2015-12-31T23:59:59Z"}, "valid_until", "later than valid_from"},
		{"valid_until equal valid_from", baseIndicator, map[string]any{"valid_until": "2016-01-01T00:00:00.000Z"}, "valid_until", "later than valid_from"},
		{"valid_until after valid_from", baseIndicator, map[string]any{"valid_until": "2016-01-01T00:00:00.001Z"}, "", ""},
		{"sighting last_seen before first_seen", baseSighting, map[string]any{"last_seen": "2016-04-06T19:00:00Z"}, "last_seen", "first_seen"},
		{"relationship stop before start", baseRelationship, map[string]any{"start_time": "2016-01-02T00:00:00Z", "stop_time": "2016-01-01T00:00:00Z"}, "stop_time", "start_time"},

		// references
		{"created_by_ref not identity", baseIndicator, map[string]any{"created_by_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}, "created_by_ref", "must reference identity"},
		{"created_by_ref malformed", baseIndicator, map[string]any{"created_by_ref": "identity"}, "created_by_ref", "type--UUID"},
		{"object_marking_refs wrong type", baseIndicator, map[string]any{"object_marking_refs": []string{"identity--b67d30ff-02ac-498a-92f9-32f845f448ff"}}, "object_marking_refs[0]", "marking-definition"},
		{"object_marking_refs empty", baseIndicator, map[string]any{"object_marking_refs": []string{}}, "object_marking_refs", "empty"},
		{"sighting_of_ref to SCO", baseSighting, map[string]any{"sighting_of_ref": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"}, "sighting_of_ref", "an SDO"},
		{"sighting_of_ref to relationship", baseSighting, map[string]any{"sighting_of_ref": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad"}, "sighting_of_ref", "an SDO"},
		{"sighting_of_ref to custom object", baseSighting, map[string]any{"sighting_of_ref": "x-acme-thing--44298a74-ba52-4f0c-87a3-1824e67d7fad"}, "", ""},
		{"where_sighted_refs wrong", baseSighting, map[string]any{"where_sighted_refs": []string{"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}}, "where_sighted_refs[0]", "identity or location"},
		{"where_sighted_refs location", baseSighting, map[string]any{"where_sighted_refs": []string{"location--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}}, "", ""},
		{"observed_data_refs wrong", baseSighting, map[string]any{"observed_data_refs": []string{"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}}, "observed_data_refs[0]", "observed-data"},
		{"relationship source is marking", baseRelationship, map[string]any{"source_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"}, "source_ref", "an SDO or an SCO"},
		{"relationship target SCO ok", baseRelationship, map[string]any{"target_ref": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"}, "", ""},
		{"ipv4 resolves_to wrong", baseIPv4, map[string]any{"resolves_to_refs": []string{"domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"}}, "resolves_to_refs[0]", "mac-addr"},

		// numbers
		{"confidence too high", baseIndicator, map[string]any{"confidence": 101}, "confidence", "between 0 and 100"},
		{"confidence negative", baseIndicator, map[string]any{"confidence": -1}, "confidence", "between 0 and 100"},
		{"confidence not int", baseIndicator, map[string]any{"confidence": "high"}, "confidence", "integer"},
		{"confidence ok", baseIndicator, map[string]any{"confidence": 100}, "", ""},
		{"sighting count too big", baseSighting, map[string]any{"count": 1000000000}, "count", "between"},

		// property names
		{"custom property uppercase", baseIndicator, map[string]any{"x_Acme": 1}, "x_Acme", "^[a-z0-9_]{3,250}$"},
		{"custom property too short", baseIndicator, map[string]any{"xy": 1}, "xy", "^[a-z0-9_]{3,250}$"},
		{"custom property hyphen", baseIndicator, map[string]any{"x-acme": 1}, "x-acme", "^[a-z0-9_]{3,250}$"},
		{"custom property too long", baseIndicator, map[string]any{strings.Repeat("x", 251): 1}, strings.Repeat("x", 251), "^[a-z0-9_]{3,250}$"},
		{"custom property ok", baseIndicator, map[string]any{"x_acme_score": 1, "acme_no_prefix": "v"}, "", ""},
		{"reserved property", baseIndicator, map[string]any{"severity": "high"}, "severity", "reserved"},
		{"null property", baseIndicator, map[string]any{"description": json.RawMessage(`null`)}, "description", "null"},

		// patterns
		{"invalid stix pattern", baseIndicator, map[string]any{"pattern": "[ipv4-addr:value = '1.2.3.4'"}, "pattern", "offset 28"},
		{"non-stix pattern not parsed", baseIndicator, map[string]any{"pattern": "alert tcp any any", "pattern_type": "snort"}, "", ""},

		// structures
		{"external reference without source_name", baseIndicator, map[string]any{"external_references": []map[string]string{{"url": "http://x"}}}, "external_references[0].source_name", "required"},
		{"granular marking without selectors", baseIndicator, map[string]any{"granular_markings": []map[string]any{{"marking_ref": TLPRedID}}}, "granular_markings[0].selectors", "required"},
		{"kill chain phase incomplete", baseIndicator, map[string]any{"kill_chain_phases": []map[string]string{{"kill_chain_name": "lockheed"}}}, "kill_chain_phases[0].phase_name", "required"},
		{"labels not strings", baseIndicator, map[string]any{"labels": []int{1}}, "labels", "list of strings"},
		{"extension without extension_type", baseIndicator, map[string]any{"extensions": map[string]any{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": map[string]any{"a_b": 1}}}, "extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.extension_type", "required"},
		{"bad extension name", baseIndicator, map[string]any{"extensions": map[string]any{"acme": map[string]any{"a_b": 1}}}, "extensions.acme", "-ext"},

		// type specifics
		{"ipv4 value invalid", baseIPv4, map[string]any{"value": "999.1.1.1"}, "value", "not a valid"},
		{"ipv4 cidr ok", baseIPv4, map[string]any{"value": "198.51.100.0/24"}, "", ""},
		{"mac upper case", `{"type":"mac-addr","id":"mac-addr--65cfcf98-8a6e-5a1b-8f61-379ac4f92d00","value":"D2:FB:49:24:37:18"}`, nil, "value", "lower-case"},
		{"file needs hashes or name", `{"type":"file","id":"file--65cfcf98-8a6e-5a1b-8f61-379ac4f92d00","size":1}`, nil, "", "at least one of hashes, name"},
		{"bad md5", `{"type":"file","id":"file--65cfcf98-8a6e-5a1b-8f61-379ac4f92d00","hashes":{"MD5":"xyz"}}`, nil, "hashes.MD5", "32 hex"},
		{"malware is_family missing", `{"type":"malware","spec_version":"2.1","id":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","name":"x"}`, nil, "is_family", "required"},
		{"malware family without name", `{"type":"malware","spec_version":"2.1","id":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","is_family":true}`, nil, "name", "is_family"},
		{"opinion value", `{"type":"opinion","spec_version":"2.1","id":"opinion--b01efc25-77b4-4003-b18b-f6e24b5cd9f7","created":"2016-05-12T08:17:27.000Z","modified":"2016-05-12T08:17:27.000Z","opinion":"maybe","object_refs":["relationship--16d2358f-3b0d-4c88-b047-0da2f7ed4471"]}`, nil, "opinion", "strongly-disagree"},
		{"report without object_refs", `{"type":"report","spec_version":"2.1","id":"report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3","created":"2015-12-21T19:59:11.000Z","modified":"2015-12-21T19:59:11.000Z","name":"r","published":"2016-01-20T17:00:00.000Z"}`, nil, "object_refs", "required"},
		{"observed-data both objects and refs", `{"type":"observed-data","spec_version":"2.1","id":"observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf","created":"2016-04-06T19:58:16.000Z","modified":"2016-04-06T19:58:16.000Z","first_observed":"2015-12-21T19:00:00Z","last_observed":"2015-12-21T19:00:00Z","number_observed":50,"object_refs":["ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"],"objects":{"0":{"type":"ipv4-addr","value":"1.2.3.4"}}}`, nil, "object_refs", "objects"},
		{"location needs place", `{"type":"location","spec_version":"2.1","id":"location--a6e9345f-5a15-4c29-8bb3-7dcc5d168d64","created":"2016-04-06T20:03:00.000Z","modified":"2016-04-06T20:03:00.000Z","latitude":48.8566}`, nil, "latitude", "together"},
		{"marking without definition", `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41db","created":"2016-08-01T00:00:00.000Z"}`, nil, "definition_type", "required"},
		{"statement marking ok", `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41db","created":"2016-08-01T00:00:00.000Z","definition_type":"statement","definition":{"statement":"Copyright 2016, Example Corp"}}`, nil, "", ""},
		{"TLP 1.0 marking ok", `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:WHITE","definition":{"tlp":"white"}}`, nil, "", ""},
		{"TLP 2.0 level mismatch", `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1","created":"2022-10-01T00:00:00.000Z","name":"TLP:RED","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"clear"}}}`, nil, "extensions", "does not match"},
		{"email-message body with multipart", `{"type":"email-message","spec_version":"2.1","id":"email-message--72b7698f-10c2-565a-a2a6-b4996a2f2265","is_multipart":true,"body":"x"}`, nil, "body", "is_multipart"},
		{"network-traffic needs endpoint", `{"type":"network-traffic","id":"network-traffic--2568d22a-8998-58eb-99ec-3c8ca74f527d","protocols":["tcp"]}`, nil, "", "src_ref, dst_ref"},
		{"network-traffic port range", `{"type":"network-traffic","id":"network-traffic--2568d22a-8998-58eb-99ec-3c8ca74f527d","protocols":["tcp"],"dst_ref":"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4","dst_port":70000}`, nil, "dst_port", "between 0 and 65535"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := obj(t, c.base, c.change)
			err := Validate(o)
			if c.prop == "" && c.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %s: %s", c.prop, c.reason)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T does not contain *ValidationError", err)
			}
			for _, e := range err.(ValidationErrors) {
				if e.Property == c.prop && strings.Contains(e.Reason, c.reason) {
					if e.ObjectID != o.ID {
						t.Errorf("ObjectID = %q, want %q", e.ObjectID, o.ID)
					}
					return
				}
			}
			t.Fatalf("want error on %q containing %q, got %v", c.prop, c.reason, []*ValidationError(err.(ValidationErrors)))
		})
	}
}

func TestValidateWarnings(t *testing.T) {
	// A random (v4) id on an SCO is allowed (SHOULD use the deterministic id).
	o := obj(t, baseIPv4, map[string]any{"id": "ipv4-addr--1e4ffad7-0b88-41d4-ba4d-77d27490b956"})
	r := Check(o, nil)
	if !r.OK() || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0].Reason, "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4") {
		t.Fatalf("got %+v", r)
	}
	if Check(o, &Options{StrictSCOIDs: true}).OK() {
		t.Fatal("StrictSCOIDs accepted a non-deterministic id")
	}
	// A v1 UUID on an SDO is a SHOULD violation only.
	o = obj(t, baseIndicator, map[string]any{"id": "indicator--1621d4d4-b67d-11e3-9670-f01faf20d111"})
	if r := Check(o, nil); !r.OK() || len(r.Warnings) != 1 {
		t.Fatalf("v1 uuid: %+v", r)
	}
	if Check(o, &Options{StrictUUIDVersion: true}).OK() {
		t.Fatal("StrictUUIDVersion accepted a v1 UUID")
	}
	// Upper-case UUID digits (as in the OASIS infrastructure example) warn.
	o = obj(t, baseRelationship, map[string]any{"id": "relationship--81f12913-1372-4c96-85ec-E9034ac98aba"})
	if r := Check(o, nil); !r.OK() || len(r.Warnings) != 1 {
		t.Fatalf("upper-case uuid: %+v", r)
	}
	// Unknown marking via Options.KnownMarking.
	o = obj(t, baseIndicator, map[string]any{"object_marking_refs": []string{TLPAmberID, "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41db"}})
	if !Check(o, nil).OK() {
		t.Fatal("marking refs are only checked with KnownMarking")
	}
	if Check(o, &Options{KnownMarking: func(string) bool { return false }}).OK() {
		t.Fatal("unknown marking accepted")
	}
}

func mustBundle(t *testing.T, objs ...*Object) *Bundle {
	t.Helper()
	b := NewBundle(objs...)
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := DecodeBundle(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return b2
}

func TestValidateBundle(t *testing.T) {
	good := obj(t, baseIndicator, nil)
	bad := obj(t, baseIndicator, map[string]any{"id": "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade", "spec_version": "2.0"})
	dup1 := obj(t, baseRelationship, nil)
	dup2 := obj(t, baseRelationship, map[string]any{"modified": "2017-01-01T00:00:00.000Z"})
	statement := obj(t, `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41db","created":"2016-08-01T00:00:00.000Z","definition_type":"statement","definition":{"statement":"c"}}`, nil)
	markedLocal := obj(t, baseSighting, map[string]any{"object_marking_refs": []string{statement.ID, TLPGreenID}})
	markedUnknown := obj(t, baseIPv4, map[string]any{"object_marking_refs": []string{"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec"}})
	granularUnknown := obj(t, `{"type":"campaign","spec_version":"2.1","id":"campaign--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061","created":"2016-05-12T08:17:27.000Z","modified":"2016-05-12T08:17:27.000Z","name":"c"}`,
		map[string]any{"granular_markings": []map[string]any{{"marking_ref": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec", "selectors": []string{"name"}}}})

	b := mustBundle(t, good, bad, dup1, dup2, statement, markedLocal, markedUnknown, granularUnknown)
	res := ValidateBundle(b, nil)
	if len(res.BundleErrors) != 0 {
		t.Fatalf("bundle errors: %v", res.BundleErrors)
	}
	wantOK := []bool{true, false, false, false, true, true, false, false}
	wantProp := []string{"", "spec_version", "id", "id", "", "", "object_marking_refs", "granular_markings"}
	for i, r := range res.Objects {
		if r.OK() != wantOK[i] {
			t.Errorf("object %d (%s): OK=%v errors=%v", i, r.ID, r.OK(), r.Errors)
			continue
		}
		if !r.OK() && r.Errors[len(r.Errors)-1].Property != wantProp[i] {
			t.Errorf("object %d: errors %v, want property %s", i, r.Errors, wantProp[i])
		}
		if r.Index != i || r.ID != b.Objects[i].ID {
			t.Errorf("object %d: index/id %d %s", i, r.Index, r.ID)
		}
	}
	if len(res.Accepted()) != 3 || len(res.Rejected()) != 5 {
		t.Errorf("accepted %d rejected %d", len(res.Accepted()), len(res.Rejected()))
	}
	if res.Objects[2].Version != "2016-04-06T20:06:37.000Z" {
		t.Errorf("version = %s", res.Objects[2].Version)
	}

	// With AllowVersions, two versions of one object are fine; an exact
	// duplicate is not.
	res = ValidateBundle(mustBundle(t, dup1, dup2), &BundleOptions{AllowVersions: true})
	if len(res.Rejected()) != 0 {
		t.Errorf("versions rejected: %v", res.Rejected()[0].Errors)
	}
	res = ValidateBundle(mustBundle(t, dup1, dup1.Clone()), &BundleOptions{AllowVersions: true})
	if len(res.Rejected()) != 2 {
		t.Errorf("exact duplicates accepted")
	}

	// Markings known to the store.
	res = ValidateBundle(mustBundle(t, markedUnknown), &BundleOptions{Options: Options{KnownMarking: func(id string) bool {
		return id == "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec"
	}}})
	if len(res.Rejected()) != 0 {
		t.Errorf("known marking rejected")
	}

	// Bundle-level errors.
	bb := &Bundle{ID: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}
	if res := ValidateBundle(bb, nil); len(res.BundleErrors) != 1 {
		t.Errorf("bundle id type not checked: %v", res.BundleErrors)
	}
}
