package stix

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kurier/kurier/node/internal/stixschema"
)

// The OASIS STIX 2.1 JSON schemas (draft 2020-12) live in
// testdata/schemas; stixschema loads them for every package's tests.

func schemaFor(t testing.TB, typ string) *jsonschema.Schema {
	t.Helper()
	s, err := stixschema.Schema(typ)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateAgainstSchema(t testing.TB, typ string, data []byte) error {
	t.Helper()
	schemaFor(t, typ)
	return stixschema.ValidateType(typ, data)
}

func TestSchemasCompile(t *testing.T) {
	files, _ := filepath.Glob("testdata/schemas/*/*.json")
	for _, f := range files {
		dir := filepath.Base(filepath.Dir(f))
		if dir == "common" {
			continue
		}
		typ := strings.TrimSuffix(filepath.Base(f), ".json")
		schemaFor(t, typ)
	}
	schemaFor(t, "bundle")
	schemaFor(t, "marking-definition")
}

func TestExamplesMatchSchemas(t *testing.T) {
	for _, f := range exampleFiles(t) {
		b, objs := loadExample(t, f)
		for _, o := range objs {
			out, _ := o.MarshalJSON()
			if err := validateAgainstSchema(t, o.Type, out); err != nil {
				t.Errorf("%s %s: %v", filepath.Base(f), o.ID, err)
			}
		}
		if b != nil {
			out, _ := json.Marshal(b)
			if err := validateAgainstSchema(t, "bundle", out); err != nil {
				t.Errorf("%s bundle: %v", filepath.Base(f), err)
			}
		}
	}
}

func TestEmittedObjectsMatchSchemas(t *testing.T) {
	var emitted []*Object
	emitted = append(emitted, TLPMarkingDefinitions()...)
	for _, v := range []Value{
		{KindIPv4, "203.0.113.7"}, {KindIPv4, "203.0.113.0/24"}, {KindIPv6, "2001:db8::1"},
		{KindDomain, "evil.example"}, {KindURL, "http://evil.example/x"}, {KindEmail, "bad@evil.example"},
		{KindHash, "SHA-256:aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"},
		{KindHash, "MD5:cead3f77f6cda6ec00f57d76c9a6879f"},
	} {
		objs, err := QuickIndicator(QuickIndicatorSpec{
			Value: v, TLP: TLPGreen, Labels: []string{"c2"}, Name: "test",
			CreatedByRef: "identity--f690c992-8e7d-4b9a-9303-3312616c0220",
		})
		if err != nil {
			t.Fatalf("QuickIndicator(%v): %v", v, err)
		}
		emitted = append(emitted, objs...)
	}
	sighting, err := NewSighting(SightingSpec{
		SightingOfRef: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", Count: 3,
		WhereSightedRefs: []string{"identity--f690c992-8e7d-4b9a-9303-3312616c0220"}, TLP: TLPAmber,
	})
	if err != nil {
		t.Fatal(err)
	}
	emitted = append(emitted, sighting)
	for _, o := range emitted {
		if err := Validate(o); err != nil {
			t.Errorf("%s: Validate: %v", o.ID, err)
		}
		out, _ := o.MarshalJSON()
		if err := validateAgainstSchema(t, o.Type, out); err != nil {
			t.Errorf("%s: schema: %v\n%s", o.ID, err, out)
		}
	}
	out, _ := json.Marshal(NewBundle(emitted...))
	if err := validateAgainstSchema(t, "bundle", out); err != nil {
		t.Errorf("bundle: %v", err)
	}
}

func TestSchemaRejectsInvalid(t *testing.T) {
	bad := map[string]string{
		"indicator":          `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"}`,
		"malware":            `{"type":"malware","spec_version":"2.1","id":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b","created":"2016-04-06T20:03:48Z","modified":"2016-04-06T20:03:48.000Z","name":"x","is_family":false}`,
		"ipv4-addr":          `{"type":"ipv4-addr","id":"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"}`,
		"marking-definition": `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41db","created":"2016-08-01T00:00:00.000Z"}`,
	}
	for typ, js := range bad {
		if err := validateAgainstSchema(t, typ, []byte(js)); err == nil {
			t.Errorf("%s: schema accepted invalid object", typ)
		}
		// And Kurier's own validation agrees.
		o, err := DecodeObject([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if Validate(o) == nil {
			t.Errorf("%s: Validate accepted invalid object", typ)
		}
	}
}
