package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/node/identity"
)

var profiles = []identity.Profile{identity.ProfileDefault, identity.ProfileRFC9580}

func newIdentity(t testing.TB, name string, p identity.Profile) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(name, strings.ReplaceAll(strings.ToLower(name), " ", ".")+"@kurier.test", p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func publicOf(t testing.TB, id *identity.Identity) *openpgp.Entity {
	t.Helper()
	e, err := id.PublicEntity()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func seal(t testing.TB, s *Sealer, plain []byte, to ...*openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := s.SealTo(&buf, to...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// closeFailer fails the test if SealTo's writer closes the destination.
type closeFailer struct {
	bytes.Buffer
	t *testing.T
}

func (c *closeFailer) Close() error { c.t.Error("SealTo closed the destination writer"); return nil }

func TestSealOpenRoundTrip(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			alice, bob := newIdentity(t, "Alice", p), newIdentity(t, "Bob", p)
			sa := New(alice, openpgp.EntityList{publicOf(t, bob)})
			sb := New(bob, openpgp.EntityList{publicOf(t, alice)})

			for _, size := range []int{0, 1, 1000, 300 << 10} {
				plain := randomBytes(t, size)
				dst := &closeFailer{t: t}
				w, err := sa.SealTo(dst, publicOf(t, bob))
				if err != nil {
					t.Fatal(err)
				}
				// Many small writes, as a streaming producer does.
				for chunk := range slicesChunk(plain, 4096) {
					if _, err := w.Write(chunk); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				ct := dst.Bytes()
				if size > 64 && bytes.Contains(ct, plain[:64]) {
					t.Fatal("plaintext visible in ciphertext")
				}
				// Both the recipient and the sender (self) can open it.
				for name, s := range map[string]*Sealer{"recipient": sb, "self": sa} {
					got, signer, err := s.OpenBytes(ct)
					if err != nil {
						t.Fatalf("size %d, %s: %v", size, name, err)
					}
					if !bytes.Equal(got, plain) {
						t.Fatalf("size %d, %s: plaintext mismatch", size, name)
					}
					if signer.Fingerprint != alice.Fingerprint() || signer.Entity == nil || signer.CreationTime.IsZero() || signer.KeyID == 0 {
						t.Fatalf("size %d, %s: signer %+v", size, name, signer)
					}
				}
			}
		})
	}
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// TestPacketFormat checks what goes on the wire: AEAD only between rfc9580
// keys, SEIPD v1 (with MDC) whenever a GnuPG-2.2 compatible key is involved.
func TestPacketFormat(t *testing.T) {
	for _, tc := range []struct {
		from, to identity.Profile
		wantV2   bool
	}{
		{identity.ProfileDefault, identity.ProfileDefault, false},
		{identity.ProfileRFC9580, identity.ProfileRFC9580, true},
		{identity.ProfileDefault, identity.ProfileRFC9580, false},
		{identity.ProfileRFC9580, identity.ProfileDefault, false},
	} {
		t.Run(fmt.Sprintf("%s-to-%s", tc.from, tc.to), func(t *testing.T) {
			a, b := newIdentity(t, "Alice", tc.from), newIdentity(t, "Bob", tc.to)
			sa := New(a, nil)
			sb := New(b, openpgp.EntityList{publicOf(t, a)})
			ct := seal(t, sa, []byte("hello"), publicOf(t, b))
			var seipd *packet.SymmetricallyEncrypted
			pr := packet.NewReader(bytes.NewReader(ct))
			for seipd == nil {
				p, err := pr.Next()
				if err != nil {
					t.Fatal(err)
				}
				seipd, _ = p.(*packet.SymmetricallyEncrypted)
			}
			if !seipd.IntegrityProtected {
				t.Fatal("not integrity protected")
			}
			if got := seipd.Version == 2; got != tc.wantV2 {
				t.Errorf("SEIPD version %d, want v2=%v", seipd.Version, tc.wantV2)
			}
			if seipd.Version == 2 && seipd.Mode != packet.AEADModeGCM {
				t.Errorf("AEAD mode %d, want GCM", seipd.Mode)
			}
			if got, _, err := sb.OpenBytes(ct); err != nil || string(got) != "hello" {
				t.Fatalf("open: %q %v", got, err)
			}
		})
	}
}

// sealBadSignature builds a correctly encrypted message whose inner
// signature has one flipped byte, which SealTo can never produce.
func sealBadSignature(t *testing.T, signer *identity.Identity, to *openpgp.Entity, plain []byte) []byte {
	t.Helper()
	cfg := signer.Profile().Config()
	var signed bytes.Buffer
	w, err := openpgp.SignWithParams(&signed, []*openpgp.Entity{signer.Entity()}, &openpgp.SignParams{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	inner := signed.Bytes()
	inner[len(inner)-1] ^= 0x01 // last byte of the signature value

	key, ok := to.EncryptionKey(time.Now(), cfg)
	if !ok {
		t.Fatal("no encryption key")
	}
	aead := to.PrimaryKey.Version == 6
	sessionKey := randomBytes(t, 32)
	var out bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&out, key.PublicKey, packet.CipherAES256, aead, sessionKey, cfg); err != nil {
		t.Fatal(err)
	}
	ew, err := packet.SerializeSymmetricallyEncrypted(&out, packet.CipherAES256, aead,
		packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeGCM}, sessionKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ew.Write(inner)
	if err := ew.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// lastByteOfFirstPacket is the offset of the last byte of the first packet
// (the recipient's encrypted session key).
func lastByteOfFirstPacket(t *testing.T, b []byte) int {
	t.Helper()
	if b[0]&0x40 == 0 || b[1] >= 192 {
		t.Fatalf("unexpected packet header % x", b[:3])
	}
	return 1 + int(b[1])
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestOpenErrors(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			alice, bob, carol := newIdentity(t, "Alice", p), newIdentity(t, "Bob", p), newIdentity(t, "Carol", p)
			// Bob trusts Alice only; Carol is a stranger to him.
			sa := New(alice, openpgp.EntityList{publicOf(t, bob)})
			sb := New(bob, openpgp.EntityList{publicOf(t, alice)})
			sc := New(carol, nil)
			plain := randomBytes(t, 4000)
			good := seal(t, sa, plain, publicOf(t, bob))

			var unsigned bytes.Buffer
			w, err := openpgp.EncryptWithParams(&unsigned, []*openpgp.Entity{publicOf(t, bob)}, nil, &openpgp.EncryptParams{Config: p.Config()})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(plain)
			w.Close()

			var signedOnly bytes.Buffer
			if w, err = openpgp.SignWithParams(&signedOnly, []*openpgp.Entity{alice.Entity()}, &openpgp.SignParams{Config: p.Config()}); err != nil {
				t.Fatal(err)
			}
			w.Write(plain)
			w.Close()

			for _, tc := range []struct {
				name   string
				opener *Sealer
				msg    []byte
				want   error
			}{
				{"unknown signer", sb, seal(t, sc, plain, publicOf(t, bob)), ErrUnknownSigner},
				{"bad signature", sb, sealBadSignature(t, alice, publicOf(t, bob), plain), ErrBadSignature},
				{"flipped body byte", sb, flip(good, len(good)/2), ErrTampered},
				{"flipped last byte", sb, flip(good, len(good)-1), ErrTampered},
				{"flipped session key", sb, flip(good, lastByteOfFirstPacket(t, good)), ErrTampered},
				{"truncated by one", sb, good[:len(good)-1], ErrTampered},
				{"truncated by half", sb, good[:len(good)/2], ErrTampered},
				{"empty", sb, nil, ErrTampered},
				{"garbage", sb, bytes.Repeat([]byte("not openpgp "), 20), ErrTampered},
				// Random bytes can read as a packet header: here an
				// encrypted-data packet of a version nobody defined.
				{"unknown packet version", sb, []byte{0xd2, 0x05, 0x09, 0x00, 0x00, 0x00, 0x00}, ErrTampered},
				{"not for us", sc, good, ErrNotForUs},
				{"not signed", sb, unsigned.Bytes(), ErrNotSigned},
				{"not encrypted", sb, signedOnly.Bytes(), ErrNotEncrypted},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var out bytes.Buffer
					_, err := tc.opener.Open(bytes.NewReader(tc.msg), &out)
					if !errors.Is(err, tc.want) {
						t.Fatalf("got %v, want %v", err, tc.want)
					}
					if !strings.HasPrefix(err.Error(), "seal: open: ") {
						t.Errorf("error lacks context: %v", err)
					}
					for _, other := range []error{ErrNotSigned, ErrUnknownSigner, ErrBadSignature, ErrTampered, ErrNotForUs, ErrNotEncrypted} {
						if other != tc.want && errors.Is(err, other) {
							t.Errorf("%v also matches %v", err, other)
						}
					}
					if got, _, err := tc.opener.OpenBytes(tc.msg); got != nil || err == nil {
						t.Errorf("OpenBytes returned plaintext on error")
					}
				})
			}
		})
	}
}

type failingIO struct{ err error }

func (f failingIO) Read([]byte) (int, error)  { return 0, f.err }
func (f failingIO) Write([]byte) (int, error) { return 0, f.err }

func TestOpenPassesIOErrors(t *testing.T) {
	alice := newIdentity(t, "Alice", identity.ProfileDefault)
	s := New(alice, nil)
	ct := seal(t, s, randomBytes(t, 100<<10), nil...)
	boom := errors.New("connection reset")

	_, err := s.Open(io.MultiReader(bytes.NewReader(ct[:len(ct)/2]), failingIO{boom}), io.Discard)
	if !errors.Is(err, boom) || errors.Is(err, ErrTampered) {
		t.Errorf("reader failure: %v", err)
	}
	_, err = s.Open(bytes.NewReader(ct), failingIO{boom})
	if !errors.Is(err, boom) || errors.Is(err, ErrTampered) {
		t.Errorf("writer failure: %v", err)
	}
	if _, err := s.SealTo(io.Discard, nil); err == nil {
		t.Error("SealTo(nil recipient): want error")
	}
}

func TestDetached(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			alice, bob, carol := newIdentity(t, "Alice", p), newIdentity(t, "Bob", p), newIdentity(t, "Carol", p)
			sa := New(alice, nil)
			sb := New(bob, openpgp.EntityList{publicOf(t, alice)})
			sc := New(carol, nil)
			data := randomBytes(t, 10000)

			var bin, arm bytes.Buffer
			if err := sa.SignDetached(&bin, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if err := sa.SignDetachedArmored(&arm, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(arm.Bytes(), []byte("-----BEGIN PGP SIGNATURE-----")) {
				t.Fatalf("not armored: %q", arm.String())
			}
			for name, sig := range map[string][]byte{"binary": bin.Bytes(), "armored": arm.Bytes()} {
				signer, err := sb.VerifyDetached(bytes.NewReader(data), bytes.NewReader(sig))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if signer.Fingerprint != alice.Fingerprint() {
					t.Errorf("%s: signer %s", name, signer.Fingerprint)
				}
				// The signer can verify its own signatures.
				if _, err := sa.VerifyDetached(bytes.NewReader(data), bytes.NewReader(sig)); err != nil {
					t.Errorf("%s: self verify: %v", name, err)
				}
			}

			var pub bytes.Buffer
			publicOf(t, alice).Serialize(&pub)
			sig := bin.Bytes()
			for _, tc := range []struct {
				name      string
				v         *Sealer
				data, sig []byte
				want      error
			}{
				{"unknown signer", sc, data, sig, ErrUnknownSigner},
				{"flipped signature byte", sb, data, flip(sig, len(sig)-1), ErrBadSignature},
				{"flipped data byte", sb, flip(data, 5000), sig, ErrBadSignature},
				{"truncated data", sb, data[:9999], sig, ErrBadSignature},
				{"truncated signature", sb, data, sig[:len(sig)-3], ErrBadSignature},
				{"garbage signature", sb, data, []byte("\xc2garbage"), ErrBadSignature},
				{"empty signature", sb, data, nil, ErrNotSigned},
				{"key instead of signature", sb, data, pub.Bytes(), ErrBadSignature},
				{"blank signature", sb, data, []byte("\n"), ErrNotSigned},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := tc.v.VerifyDetached(bytes.NewReader(tc.data), bytes.NewReader(tc.sig))
					if !errors.Is(err, tc.want) {
						t.Fatalf("got %v, want %v", err, tc.want)
					}
					if !strings.HasPrefix(err.Error(), "seal: verify: ") {
						t.Errorf("error lacks context: %v", err)
					}
				})
			}
		})
	}
}

func TestJSON(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			alice, bob := newIdentity(t, "Alice", p), newIdentity(t, "Bob", p)
			sa := New(alice, nil)
			sb := New(bob, openpgp.EntityList{publicOf(t, alice)})
			doc := []byte(`{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '198.51.100.1']","confidence":80.0,"labels":["c2","botnet"]}`)
			canonical, sig, err := sa.SignJSON(doc)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"confidence":80,"id":"indicator--1","labels":["c2","botnet"],"pattern":"[ipv4-addr:value = '198.51.100.1']","type":"indicator"}`
			if string(canonical) != want {
				t.Errorf("canonical:\n%s\nwant\n%s", canonical, want)
			}
			reordered := []byte("{\n  \"labels\": [\"c2\", \"botnet\"],\n  \"confidence\": 8e1,\n  \"pattern\": \"[ipv4-addr:value = '198.51.100.1']\",\n  \"id\": \"indicator--1\", \"type\": \"indicator\"\n}\n")
			for name, d := range map[string][]byte{"original": doc, "canonical": canonical, "reordered": reordered} {
				signer, err := sb.VerifyJSON(d, sig)
				if err != nil || signer.Fingerprint != alice.Fingerprint() {
					t.Errorf("%s: %v %s", name, err, signer.Fingerprint)
				}
			}
			for name, d := range map[string][]byte{
				"changed value":  bytes.Replace(doc, []byte("80.0"), []byte("81"), 1),
				"label order":    bytes.Replace(doc, []byte(`["c2","botnet"]`), []byte(`["botnet","c2"]`), 1),
				"added property": bytes.Replace(doc, []byte(`{`), []byte(`{"x":1,`), 1),
			} {
				if _, err := sb.VerifyJSON(d, sig); !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: %v, want ErrBadSignature", name, err)
				}
			}
			if _, _, err := sa.SignJSON([]byte(`{"a":`)); err == nil {
				t.Error("SignJSON accepted invalid JSON")
			}
			if _, err := Canonicalize([]byte(`{"a":1,"a":2}`)); err == nil {
				t.Error("Canonicalize accepted duplicate keys")
			}
		})
	}
}

func TestNewDeduplicatesSelf(t *testing.T) {
	alice := newIdentity(t, "Alice", identity.ProfileDefault)
	// A public copy of our own key in the trusted keyring must not stop
	// us decrypting what we sealed for ourselves.
	s := New(alice, openpgp.EntityList{publicOf(t, alice), nil})
	ct := seal(t, s, []byte("x"), publicOf(t, alice))
	if _, _, err := s.OpenBytes(ct); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent exercises one Sealer from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	alice := newIdentity(t, "Alice", identity.ProfileRFC9580)
	s := New(alice, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			plain := bytes.Repeat([]byte{byte(i)}, 5000)
			var ct bytes.Buffer
			w, err := s.SealTo(&ct)
			if err != nil {
				t.Error(err)
				return
			}
			w.Write(plain)
			if err := w.Close(); err != nil {
				t.Error(err)
				return
			}
			got, _, err := s.OpenBytes(ct.Bytes())
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("open: %v", err)
			}
			var sig bytes.Buffer
			if err := s.SignDetached(&sig, bytes.NewReader(plain)); err != nil {
				t.Error(err)
			}
			if _, err := s.VerifyDetached(bytes.NewReader(plain), &sig); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
