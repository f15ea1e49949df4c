package wire

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"testing"
	"time"

	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
)

func TestTarget(t *testing.T) {
	for in, want := range map[string]string{
		"/federation/v1/feed":                   "/feed",
		"/kurier/federation/v1/feed":            "/feed",
		"/federation/v1/notify":                 "/notify",
		"/x/federation/v1/y/federation/v1/feed": "/feed",
	} {
		got, err := Target(in, "")
		if err != nil || got != want {
			t.Errorf("Target(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := Target("/federation/v1/feed", "cursor=a&limit=5"); got != "/feed?cursor=a&limit=5" {
		t.Errorf("with query: %q", got)
	}
	if _, err := Target("/api/v1/status", ""); err == nil {
		t.Error("non-federation path accepted")
	}
}

func TestSignVerifies(t *testing.T) {
	id, err := identity.Generate("n", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s := seal.New(id, nil)
	req, _ := http.NewRequest(http.MethodPost, "https://peer.example/federation/v1/notify", nil)
	body := []byte(`{"head":"2026-01-01T00:00:00Z"}`)
	nonce, err := Sign(req, s, "TOFPR", body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(HeaderNode) != id.Fingerprint() || req.Header.Get(HeaderNonce) != nonce || len(nonce) != 32 {
		t.Fatalf("headers: %v", req.Header)
	}
	msg := SigningString(http.MethodPost, "/notify", "TOFPR", req.Header.Get(HeaderDate), nonce, body)
	sig, _ := decodeB64(req.Header.Get(HeaderSignature))
	if _, err := s.VerifyDetached(bytes.NewReader(msg), bytes.NewReader(sig)); err != nil {
		t.Fatal(err)
	}
	// Any other recipient, body or target breaks it.
	for _, m := range [][]byte{
		SigningString(http.MethodPost, "/notify", "OTHER", req.Header.Get(HeaderDate), nonce, body),
		SigningString(http.MethodPost, "/notify", "TOFPR", req.Header.Get(HeaderDate), nonce, []byte(`{}`)),
		SigningString(http.MethodPost, "/feed", "TOFPR", req.Header.Get(HeaderDate), nonce, body),
	} {
		if _, err := s.VerifyDetached(bytes.NewReader(m), bytes.NewReader(sig)); err == nil {
			t.Fatal("signature verified over another request")
		}
	}
}

func encodeBatch(recs []Record) []byte {
	var b bytes.Buffer
	e := NewEncoder(&b)
	_ = e.Encode(Line{Header: &Header{Protocol: Protocol, Server: "S", Peer: "P"}})
	_ = e.Encode(Line{Key: &Key{Fingerprint: "K", PublicKey: "armored"}})
	for i := range recs {
		_ = e.Encode(Line{Record: &recs[i]})
	}
	_ = e.Encode(Line{Trailer: &Trailer{Next: "n", Records: len(recs)}})
	return b.Bytes()
}

func TestBatchRoundTrip(t *testing.T) {
	// Objects travel as raw bytes: characters a JSON encoder would escape
	// (<, >, &, U+2028) and even newlines stay exactly as signed.
	objs := [][]byte{[]byte(`{"a":"<&>\u2028"}`), []byte("{\"x\":\n1}"), {}}
	recs := []Record{
		{Object: objs[0], Sig: []byte{1, 2}, Origin: "O", TLP: "green", Added: time.Unix(1, 0).UTC()},
		{Object: objs[1], Sig: []byte{3}, Origin: "O", Path: []string{"S"}, TLP: "clear", Attachment: &Attachment{Object: []byte(`{"revoked":true}`), Sig: []byte{4}}},
		{Object: objs[2], Origin: "O", TLP: "amber", Tombstone: true},
	}
	b, err := DecodeBatch(encodeBatch(recs))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 3 || len(b.Keys) != 1 || b.Trailer.Next != "n" || b.Header.Server != "S" {
		t.Fatalf("decoded %+v", b)
	}
	for i, r := range b.Records {
		if !bytes.Equal(r.Object, objs[i]) {
			t.Errorf("record %d object %q, want %q", i, r.Object, objs[i])
		}
	}
	if string(b.Records[1].Attachment.Object) != `{"revoked":true}` || !b.Records[2].Tombstone {
		t.Fatalf("attachment or flag lost: %+v", b.Records)
	}
}

func TestBatchMalformed(t *testing.T) {
	good := encodeBatch([]Record{{Object: []byte(`{"a":1}`), Origin: "O", TLP: "green"}})
	cases := map[string][]byte{
		"empty":            nil,
		"cut":              good[:len(good)-30],
		"no header":        good[bytes.IndexByte(good, '\n')+1:],
		"trailing data":    append(append([]byte{}, good...), []byte("{\"key\":{}}\n")...),
		"object too short": bytes.Replace(good, []byte(`"size":7`), []byte(`"size":70`), 1),
		"object too long":  bytes.Replace(good, []byte(`"size":7`), []byte(`"size":3`), 1),
		"negative size":    bytes.Replace(good, []byte(`"size":7`), []byte(`"size":-1`), 1),
		"record count":     bytes.Replace(good, []byte(`"records":1`), []byte(`"records":2`), 1),
		"other protocol":   bytes.Replace(good, []byte(Protocol), []byte("kurier-federation-v0"), 1),
	}
	for name, in := range cases {
		if _, err := DecodeBatch(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([]Record{{Object: []byte(`{"a":1}`), Origin: "O", TLP: "green", Attachment: &Attachment{Object: []byte("{}")}}}))
	f.Add([]byte("{\"header\":{\"protocol\":\"kurier-federation-v1\"}}\n{\"record\":{\"size\":2}}\n{}\n{\"trailer\":{\"records\":1}}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := DecodeBatch(in)
		if err != nil {
			return
		}
		for _, r := range b.Records {
			if len(r.Object) != r.Size || r.Size > len(in) {
				t.Fatalf("object of %d bytes for size %d", len(r.Object), r.Size)
			}
		}
	})
}

func TestSigningStringHashed(t *testing.T) {
	body := []byte(`{"head":"2026-01-01T00:00:00Z"}`)
	a := SigningString("POST", "/evidence", "FPR", "2026-01-01T00:00:00Z", "0123456789abcdef", body)
	b := SigningStringHashed("POST", "/evidence", "FPR", "2026-01-01T00:00:00Z", "0123456789abcdef", sha256.Sum256(body))
	if !bytes.Equal(a, b) {
		t.Fatalf("%q != %q", a, b)
	}
}
