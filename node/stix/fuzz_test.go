package stix

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func FuzzDecodeObject(f *testing.F) {
	f.Add([]byte(baseIndicator))
	f.Add([]byte(baseSighting))
	f.Add([]byte(baseIPv4))
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := DecodeObject(data)
		// The bundle decoder must not panic either.
		_, _ = DecodeBundle(bytes.NewReader(data))
		if err != nil {
			return
		}
		out, err := o.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("MarshalJSON produced invalid JSON: %q", out)
		}
		var in, back any
		if json.Unmarshal(data, &in) == nil {
			if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(in, back) {
				t.Fatalf("round trip changed the value:\n in: %q\nout: %q", data, out)
			}
		}
		o2, err := DecodeObject(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		out2, _ := o2.MarshalJSON()
		if !bytes.Equal(out, out2) {
			t.Fatalf("not byte-stable:\n%q\n%q", out, out2)
		}
		r := Check(o, nil)
		for _, e := range append(r.Errors, r.Warnings...) {
			_ = e.Error()
		}
		_ = Values(o)
		_, _ = SCOID(o)
		_, _ = o.Typed()
		_, _ = o.Canonical()
		_, _ = TLPOf(o)
	})
}
