package stix

import (
	"testing"

	"github.com/kurier/kurier/node/stix/pattern"
)

func BenchmarkDecodeValidateValues(b *testing.B) {
	data := []byte(baseIndicator)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		o, err := DecodeObject(data)
		if err != nil {
			b.Fatal(err)
		}
		if err := Validate(o); err != nil {
			b.Fatal(err)
		}
		_ = Values(o)
		if _, err := o.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePattern(b *testing.B) {
	src := `[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' OR file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f'] FOLLOWEDBY [ipv4-addr:value = '198.51.100.1'] WITHIN 300 SECONDS`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := pattern.Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}
