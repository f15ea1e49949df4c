package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func exampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example files: %v", err)
	}
	return files
}

func jsonValue(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("unmarshal: %v\n%s", err, b)
	}
	return v
}

// loadExample returns the objects of an example file (a bundle, or a single
// object for interop-objectmarking-test.json).
func loadExample(t testing.TB, f string) (*Bundle, []*Object) {
	t.Helper()
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var probe struct{ Type string }
	_ = json.Unmarshal(data, &probe)
	if probe.Type != "bundle" {
		o, err := DecodeObject(data)
		if err != nil {
			t.Fatalf("%s: DecodeObject: %v", f, err)
		}
		return nil, []*Object{o}
	}
	b, err := DecodeBundle(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: DecodeBundle: %v", f, err)
	}
	return b, b.Objects
}

func TestExamplesRoundTrip(t *testing.T) {
	for _, f := range exampleFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			b, objs := loadExample(t, f)
			in := jsonValue(t, data)
			if b != nil {
				out, err := json.Marshal(b)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(in, jsonValue(t, out)) {
					t.Fatalf("bundle round trip differs:\n%s", out)
				}
				inObjs := in.(map[string]any)["objects"].([]any)
				if len(inObjs) != len(objs) {
					t.Fatalf("got %d objects, want %d", len(objs), len(inObjs))
				}
				for i, o := range objs {
					ob, err := o.MarshalJSON()
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(inObjs[i], jsonValue(t, ob)) {
						t.Errorf("object %d (%s) differs after round trip", i, o.ID)
					}
					// A second decode/encode is byte-stable.
					o2, err := DecodeObject(ob)
					if err != nil {
						t.Fatal(err)
					}
					ob2, _ := o2.MarshalJSON()
					if !bytes.Equal(ob, ob2) {
						t.Errorf("object %s not byte-stable", o.ID)
					}
				}
			} else {
				ob, _ := objs[0].MarshalJSON()
				if !reflect.DeepEqual(in, jsonValue(t, ob)) {
					t.Fatalf("object round trip differs")
				}
			}
		})
	}
}

func TestExamplesValidate(t *testing.T) {
	for _, f := range exampleFiles(t) {
		b, objs := loadExample(t, f)
		for _, o := range objs {
			if err := Validate(o); err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
			}
			if _, err := o.Typed(); err != nil {
				t.Errorf("%s: Typed: %v", o.ID, err)
			}
		}
		if b != nil {
			res := ValidateBundle(b, nil)
			if len(res.BundleErrors) > 0 {
				t.Errorf("%s: bundle errors %v", f, res.BundleErrors)
			}
			if n := len(res.Rejected()); n > 0 {
				t.Errorf("%s: %d objects rejected: %v", f, n, res.Rejected()[0].Errors)
			}
			if len(res.Accepted()) != len(b.Objects) {
				t.Errorf("%s: accepted %d of %d", f, len(res.Accepted()), len(b.Objects))
			}
		}
	}
}

func TestCustomPropertiesSurvive(t *testing.T) {
	in := `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	"created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.123456Z","pattern":"[ipv4-addr:value = '198.51.100.7']",
	"pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z","x_acme_score":1e400,"x_acme_nested":{"b":[1,2,{"c":null}],"a":"\u00e9"},
	"zzz_custom":"v","big":12345678901234567890123}`
	o, err := DecodeObject([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := o.MarshalJSON()
	// Number text survives verbatim (no float conversion).
	for _, s := range []string{`1e400`, `12345678901234567890123`, `"2016-04-06T20:03:48.123456Z"`, `"x_acme_nested":{"b":[1,2,{"c":null}],"a":"\u00e9"}`} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("output lost %s:\n%s", s, out)
		}
	}
	// Key order is preserved.
	if !bytes.HasPrefix(out, []byte(`{"type":"indicator","spec_version":"2.1","id":`)) {
		t.Errorf("key order lost: %s", out)
	}
	if got := o.Modified.String(); got != "2016-04-06T20:03:48.123456Z" || o.Modified.Precision() != 6 {
		t.Errorf("modified = %q precision %d", got, o.Modified.Precision())
	}
	// The decoder keeps them, but validation refuses numbers the signed
	// RFC 8785 form would change (see numbers.go): exactly these two.
	var lossy []string
	for _, e := range Check(o, nil).Errors {
		lossy = append(lossy, e.Property)
	}
	if !slices.Equal(lossy, []string{"x_acme_score", "big"}) {
		t.Errorf("Validate: errors on %v, want [x_acme_score big]: %v", lossy, Validate(o))
	}
	ind, err := As[Indicator](o)
	if err != nil {
		t.Fatal(err)
	}
	if ind.PatternType != "stix" || ind.ValidFrom.String() != "2016-01-01T00:00:00Z" {
		t.Errorf("typed view: %+v", ind)
	}
	if _, err := As[Malware](o); err == nil {
		t.Error("As[Malware] on an indicator succeeded")
	}

	// Set/Delete keep the view in sync and order stable.
	if err := o.Set("revoked", true); err != nil {
		t.Fatal(err)
	}
	if !o.Revoked || o.Keys()[len(o.Keys())-1] != "revoked" {
		t.Errorf("Set revoked: %v %v", o.Revoked, o.Keys())
	}
	o.Delete("revoked")
	if o.Revoked || o.Has("revoked") {
		t.Errorf("Delete revoked failed")
	}
	c := o.Clone()
	_ = c.Set("name", "changed")
	if o.Has("name") {
		t.Error("Clone shares state")
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := map[string]string{
		"not json":     `{"type":`,
		"not object":   `["a"]`,
		"duplicate":    `{"type":"indicator","type":"malware"}`,
		"trailing":     `{"type":"indicator"} {}`,
		"string":       `"x"`,
		"empty":        ``,
		"bad utf8 key": "{\"a\xff\":1, ",
	}
	for name, in := range cases {
		if _, err := DecodeObject([]byte(in)); err == nil {
			t.Errorf("%s: DecodeObject(%q) succeeded", name, in)
		} else {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("%s: error %T not *DecodeError", name, err)
			}
		}
	}
	big := `{"type":"x-big","id":"x-big--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","x_pad":"` + strings.Repeat("a", DefaultLimits.MaxObjectBytes) + `"}`
	if _, err := DecodeObject([]byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize object: %v", err)
	}

	bundles := map[string]string{
		"not bundle":       `{"type":"indicator","objects":[]}`,
		"no type":          `{"id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[]}`,
		"objects not list": `{"type":"bundle","objects":{}}`,
		"element not obj":  `{"type":"bundle","objects":[1]}`,
		"truncated":        `{"type":"bundle","objects":[{"type":"x"}`,
		"dup key":          `{"type":"bundle","type":"bundle"}`,
		"trailing":         `{"type":"bundle"}x`,
	}
	for name, in := range bundles {
		if _, err := DecodeBundle(strings.NewReader(in)); err == nil {
			t.Errorf("%s: DecodeBundle(%q) succeeded", name, in)
		}
	}
	var de *DecodeError
	_, err := DecodeBundle(strings.NewReader(`{"type":"bundle","objects":[{"type":"a"},{"type":"b","type":"c"}]}`))
	if !errors.As(err, &de) || de.Index != 1 {
		t.Errorf("want DecodeError at index 1, got %v", err)
	}
}

func TestBundleDecoderLimits(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"type":"ipv4-addr","id":"ipv4-addr--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","value":"198.51.100.1"}`)
	}
	sb.WriteString(`],"x_trailer":true}`)
	doc := sb.String()

	d := NewBundleDecoder(strings.NewReader(doc), Limits{})
	n := 0
	for {
		_, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 100 || d.BytesRead() != int64(len(doc)) {
		t.Fatalf("n=%d read=%d", n, d.BytesRead())
	}
	if raw, ok := d.Bundle().Prop("x_trailer"); !ok || string(raw) != "true" {
		t.Fatalf("trailer property lost")
	}

	for name, lim := range map[string]Limits{
		"bytes":   {MaxBundleBytes: 1000},
		"objects": {MaxObjects: 10},
		"object":  {MaxObjectBytes: 50},
	} {
		d := NewBundleDecoder(strings.NewReader(doc), lim)
		var err error
		for err == nil {
			_, err = d.Next()
		}
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: got %v, want ErrTooLarge", name, err)
		}
	}
}

func TestTimestamps(t *testing.T) {
	good := []string{"2016-01-01T00:00:00Z", "2016-01-01T00:00:00.1Z", "2016-12-31T23:59:60.000Z", "2016-02-29T12:00:00.123456789Z"}
	for _, s := range good {
		ts, err := ParseTimestamp(s)
		if err != nil || ts.String() != s {
			t.Errorf("ParseTimestamp(%q) = %v, %v", s, ts, err)
		}
	}
	bad := []string{"", "2016-01-01", "2016-01-01T00:00:00", "2016-01-01T00:00:00+00:00", "2016-01-01 00:00:00Z",
		"2016-13-01T00:00:00Z", "2015-02-29T00:00:00Z", "2016-01-01T24:00:00Z", "2016-01-01T00:00:00.Z", "2016-01-01T00:00:00z"}
	for _, s := range bad {
		if _, err := ParseTimestamp(s); err == nil {
			t.Errorf("ParseTimestamp(%q) succeeded", s)
		}
	}
	ts := NewTimestamp(time.Date(2020, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600)))
	if ts.String() != "2020-01-02T02:04:05.678Z" {
		t.Errorf("NewTimestamp = %s", ts)
	}
}

func TestSCOID(t *testing.T) {
	mk := func(js string) *Object {
		o, err := DecodeObject([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// Vectors from the STIX 2.1 specification (section 2.9) and the
	// python-stix2 reference implementation.
	cases := []struct{ obj, want string }{
		{`{"type":"ipv4-addr","value":"198.51.100.3"}`, "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"},
		{`{"type":"domain-name","value":"example.com"}`, "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"},
		{`{"type":"ipv6-addr","value":"2001:db8::1"}`, "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26"},
		// Non-contributing properties and key order do not matter.
		{`{"id":"x","spec_version":"2.1","value":"198.51.100.3","type":"ipv4-addr","x_foo":1}`, "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"},
	}
	for _, c := range cases {
		got, err := SCOID(mk(c.obj))
		if err != nil || got != c.want {
			t.Errorf("SCOID(%s) = %s, %v; want %s", c.obj, got, err, c.want)
		}
	}
	// Only one hash is used, preferring MD5: adding SHA-256 does not change the id.
	a, _ := SCOID(mk(`{"type":"file","hashes":{"MD5":"cead3f77f6cda6ec00f57d76c9a6879f"},"name":"a.exe"}`))
	b, _ := SCOID(mk(`{"type":"file","hashes":{"SHA-256":"aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f","MD5":"cead3f77f6cda6ec00f57d76c9a6879f"},"name":"a.exe"}`))
	if a == "" || a != b {
		t.Errorf("hash preference: %s vs %s", a, b)
	}
	if _, err := SCOID(mk(`{"type":"process","pid":1}`)); err != ErrNotDeterministic {
		t.Errorf("process: %v", err)
	}
	if _, err := SCOID(mk(`{"type":"file","size":1}`)); err != ErrNotDeterministic {
		t.Errorf("no contributing props: %v", err)
	}
	id, _ := SCOID(mk(`{"type":"url","value":"http://x/"}`))
	if _, u, err := ParseID(id); err != nil || u.Version() != 5 {
		t.Errorf("id %s version %d err %v", id, u.Version(), err)
	}
}

func TestTLP(t *testing.T) {
	if !(TLPClear < TLPGreen && TLPGreen < TLPAmber && TLPAmber < TLPAmberStrict && TLPAmberStrict < TLPRed) {
		t.Fatal("TLP order")
	}
	parse := map[string]TLP{"clear": TLPClear, "TLP:CLEAR": TLPClear, "white": TLPClear, "TLP:WHITE": TLPClear,
		"green": TLPGreen, "Amber": TLPAmber, "amber+strict": TLPAmberStrict, "TLP:AMBER+STRICT": TLPAmberStrict,
		"amber-strict": TLPAmberStrict, "RED": TLPRed, TLPGreenID: TLPGreen, TLP1RedID: TLPRed}
	for s, want := range parse {
		if got, err := ParseTLP(s); err != nil || got != want {
			t.Errorf("ParseTLP(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "purple", "amber+", "tlp"} {
		if _, err := ParseTLP(s); err == nil {
			t.Errorf("ParseTLP(%q) succeeded", s)
		}
	}
	ids := map[TLP]string{
		TLPClear:       "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
		TLPGreen:       "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
		TLPAmber:       "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
		TLPAmberStrict: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
		TLPRed:         "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
	}
	for lvl, id := range ids {
		if lvl.MarkingID() != id {
			t.Errorf("%s id = %s", lvl, lvl.MarkingID())
		}
		md := lvl.MarkingDefinition()
		if md.ID != id || md.Type != "marking-definition" {
			t.Errorf("marking definition %s: %+v", lvl, md)
		}
		if err := Validate(md); err != nil {
			t.Errorf("%s marking definition invalid: %v", lvl, err)
		}
		if got, ok := TLPFromMarkingID(id); !ok || got != lvl {
			t.Errorf("TLPFromMarkingID(%s) = %v", id, got)
		}
		txt, _ := lvl.MarshalText()
		var back TLP
		if err := back.UnmarshalText(txt); err != nil || back != lvl {
			t.Errorf("text round trip %s: %v", txt, err)
		}
	}
	want := `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003","created":"2022-10-01T00:00:00.000Z","name":"TLP:AMBER+STRICT","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"amber+strict"}}}`
	got, _ := TLPAmberStrict.MarkingDefinition().MarshalJSON()
	if string(got) != want {
		t.Errorf("AMBER+STRICT marking definition:\n got %s\nwant %s", got, want)
	}
	if len(TLPMarkingDefinitions()) != 5 {
		t.Error("TLPMarkingDefinitions")
	}

	obj := func(refs ...string) *Object {
		o, _ := NewObject(P("type", "indicator"), P("object_marking_refs", refs))
		return o
	}
	if lvl, ok := TLPOf(obj(TLP1WhiteID)); !ok || lvl != TLPClear {
		t.Errorf("TLP 1.0 white -> %v", lvl)
	}
	if lvl, ok := TLPOf(obj(TLPGreenID, TLP1AmberID, "marking-definition--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")); !ok || lvl != TLPAmber {
		t.Errorf("most restrictive -> %v", lvl)
	}
	if _, ok := TLPOf(obj()); ok {
		t.Error("no marking reported a TLP")
	}
	if got := UnknownMarkingRefs(obj(TLPRedID, "marking-definition--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"), nil); len(got) != 1 {
		t.Errorf("UnknownMarkingRefs = %v", got)
	}
}

func TestValues(t *testing.T) {
	ind := func(p string) *Object {
		o, err := NewObject(P("type", "indicator"), P("pattern_type", "stix"), P("pattern", p))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	cases := []struct {
		pattern string
		want    []Value
	}{
		{`[ipv4-addr:value = '198.51.100.7']`, []Value{{KindIPv4, "198.51.100.7"}}},
		{`[ipv4-addr:value = '198.51.100.7/24']`, []Value{{KindIPv4, "198.51.100.0/24"}}},
		{`[ipv4-addr:value = '198.51.100.7/32']`, []Value{{KindIPv4, "198.51.100.7"}}},
		{`[ipv4-addr:value ISSUBSET '10.0.0.0/8']`, []Value{{KindIPv4, "10.0.0.0/8"}}},
		{`[ipv6-addr:value = '2001:DB8:0:0::1']`, []Value{{KindIPv6, "2001:db8::1"}}},
		{`[ipv6-addr:value ISSUPERSET '2001:db8::/32']`, []Value{{KindIPv6, "2001:db8::/32"}}},
		{`[domain-name:value = 'WWW.Example.COM.']`, []Value{{KindDomain, "www.example.com"}}},
		{`[url:value = 'HTTP://Example.com/Path?Q=1']`, []Value{{KindURL, "http://example.com/Path?Q=1"}}},
		{`[email-addr:value = 'John@Example.com']`, []Value{{KindEmail, "john@example.com"}}},
		{`[email-message:from_ref.value = 'a@b.example' AND email-message:to_refs[*].value = 'c@d.example']`,
			[]Value{{KindEmail, "a@b.example"}, {KindEmail, "c@d.example"}}},
		{`[file:hashes.'SHA-256' = 'AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F']`,
			[]Value{{KindHash, "SHA-256:aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"}}},
		{`[file:hashes.md5 = '001dd76872d80801692ff942308c64e6' OR file:hashes.'SHA1' = '0000000000000000000000000000000000000000']`,
			[]Value{{KindHash, "MD5:001dd76872d80801692ff942308c64e6"}, {KindHash, "SHA-1:0000000000000000000000000000000000000000"}}},
		{`[ipv4-addr:value IN ('198.51.100.1', '198.51.100.2', 'junk')]`, []Value{{KindIPv4, "198.51.100.1"}, {KindIPv4, "198.51.100.2"}}},
		{`[network-traffic:dst_ref.value = '203.0.113.33/32' AND network-traffic:src_ref.value = 'evil.example']`,
			[]Value{{KindIPv4, "203.0.113.33"}, {KindDomain, "evil.example"}}},
		{`[domain-name:value = 'a.example' AND domain-name:resolves_to_refs[*].value = '198.51.100.1']`,
			[]Value{{KindDomain, "a.example"}, {KindIPv4, "198.51.100.1"}}},
		{`[ipv4-addr:value != '198.51.100.7'] AND [ipv4-addr:value NOT = '198.51.100.8'] AND [domain-name:value LIKE '%.example'] AND [ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.4']`,
			[]Value{{KindIPv4, "1.2.3.4"}}},
		{`[ipv4-addr:value = 'not an ip'] AND [ipv4-addr:value = '2001:db8::1']`, nil},
		{`[x509-certificate:issuer = 'CN=WEBMAIL']`, nil},
		{`[invalid`, nil},
	}
	for _, c := range cases {
		got := Values(ind(c.pattern))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Values(%s) = %v, want %v", c.pattern, got, c.want)
		}
	}
	sco := func(js string) []Value {
		o, err := DecodeObject([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return Values(o)
	}
	if got := sco(`{"type":"ipv4-addr","value":"198.51.100.3"}`); !reflect.DeepEqual(got, []Value{{KindIPv4, "198.51.100.3"}}) {
		t.Errorf("ipv4 sco: %v", got)
	}
	if got := sco(`{"type":"file","hashes":{"MD5":"CEAD3F77F6CDA6EC00F57D76C9A6879F","SSDEEP":"3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"}}`); !reflect.DeepEqual(got,
		[]Value{{KindHash, "MD5:cead3f77f6cda6ec00f57d76c9a6879f"}, {KindHash, "SSDEEP:3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"}}) {
		t.Errorf("file sco: %v", got)
	}
	if got := sco(`{"type":"observed-data","objects":{"0":{"type":"domain-name","value":"x.example"},"1":{"type":"email-addr","value":"A@X.example"}}}`); len(got) != 2 {
		t.Errorf("observed-data objects: %v", got)
	}

	classify := map[string]Value{
		"203.0.113.7":                      {KindIPv4, "203.0.113.7"},
		"10.1.2.3/8":                       {KindIPv4, "10.0.0.0/8"},
		"2001:db8::1":                      {KindIPv6, "2001:db8::1"},
		"::ffff:198.51.100.1":              {KindIPv4, "198.51.100.1"},
		"Evil.Example.":                    {KindDomain, "evil.example"},
		"https://Evil.Example/x":           {KindURL, "https://evil.example/x"},
		"Bob@Evil.Example":                 {KindEmail, "bob@evil.example"},
		"CEAD3F77F6CDA6EC00F57D76C9A6879F": {KindHash, "MD5:cead3f77f6cda6ec00f57d76c9a6879f"},
		"sha256:AB":                        {KindHash, "SHA-256:ab"},
	}
	for in, want := range classify {
		if got, ok := ClassifyValue(in); !ok || got != want {
			t.Errorf("ClassifyValue(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	if _, ok := ClassifyValue("hello"); ok {
		t.Error("ClassifyValue(hello) succeeded")
	}
	p, ok := Value{KindIPv4, "10.0.0.0/8"}.Prefix()
	if !ok || p.Bits() != 8 {
		t.Errorf("Prefix: %v", p)
	}
}

func TestInteropMarkingExample(t *testing.T) {
	_, objs := loadExample(t, "testdata/examples/interop-objectmarking-test.json")
	o := objs[0]
	// It references TLP 1.0 RED (…d5ed) and an undefined marking (…d5ec).
	if lvl, ok := TLPOf(o); !ok || lvl != TLPRed {
		t.Errorf("TLPOf = %v %v", lvl, ok)
	}
	unknown := UnknownMarkingRefs(o, nil)
	if len(unknown) != 1 || unknown[0] != "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec" {
		t.Errorf("UnknownMarkingRefs = %v", unknown)
	}
	res := ValidateBundle(&Bundle{ID: NewID("bundle"), Objects: objs}, nil)
	if len(res.Rejected()) != 1 || res.Rejected()[0].Errors[0].Property != "object_marking_refs" {
		t.Errorf("unknown marking not rejected: %+v", res.Objects)
	}
}

func TestQuickIndicatorAndSighting(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	objs, err := QuickIndicator(QuickIndicatorSpec{Value: Value{KindIPv4, " 203.0.113.7 "}, TLP: TLPGreen, Labels: []string{"c2"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ind, sco := objs[0], objs[1]
	if p, _ := ind.StringProp("pattern"); p != "[ipv4-addr:value = '203.0.113.7']" {
		t.Errorf("pattern = %s", p)
	}
	if ind.Created.String() != "2024-05-06T07:08:09.123Z" || ind.Modified != ind.Created {
		t.Errorf("created = %s", ind.Created)
	}
	if lvl, _ := TLPOf(ind); lvl != TLPGreen {
		t.Errorf("tlp = %v", lvl)
	}
	if det, _ := SCOID(sco); det != sco.ID {
		t.Errorf("sco id %s is not deterministic (%s)", sco.ID, det)
	}
	if !reflect.DeepEqual(Values(ind), Values(sco)) {
		t.Errorf("values differ: %v vs %v", Values(ind), Values(sco))
	}
	h, err := QuickIndicator(QuickIndicatorSpec{Value: Value{KindHash, "sha256:AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F"}})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := h[0].StringProp("pattern"); p != "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']" {
		t.Errorf("hash pattern = %s", p)
	}
	if _, err := QuickIndicator(QuickIndicatorSpec{Value: Value{KindIPv4, "not-an-ip"}}); err == nil {
		t.Error("invalid value accepted")
	}
	s, err := NewSighting(SightingSpec{SightingOfRef: ind.ID, Count: 2, FirstSeen: now, LastSeen: now.Add(time.Hour), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := As[Sighting](s)
	if err != nil || sg.SightingOfRef != ind.ID || *sg.Count != 2 || sg.LastSeen.Time().Sub(sg.FirstSeen.Time()) != time.Hour {
		t.Errorf("sighting = %+v, %v", sg, err)
	}
	if _, err := NewSighting(SightingSpec{SightingOfRef: sco.ID}); err == nil {
		t.Error("sighting of an SCO accepted")
	}
}

// TestNodeIdentityID: a node's STIX identity id is derived from its key
// fingerprint alone and must never change (peers compute it for each
// other, and objects name it in created_by_ref).
func TestNodeIdentityID(t *testing.T) {
	tests := []struct{ fpr, want string }{
		{"7F3A000000000000000000000000000000000000", "identity--41438f61-2c91-5fa8-a1d0-e330ea231c73"},
	}
	for _, tt := range tests {
		if got := NodeIdentityID(tt.fpr); got != tt.want {
			t.Errorf("NodeIdentityID(%s) = %s, want %s", tt.fpr, got, tt.want)
		}
	}
	if NodeIdentityID("A") == NodeIdentityID("B") {
		t.Fatal("two fingerprints, one id")
	}
}
