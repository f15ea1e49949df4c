package identity

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

var profiles = []Profile{ProfileDefault, ProfileRFC9580}

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]Profile{"": ProfileDefault, "default": ProfileDefault, "rfc9580": ProfileRFC9580} {
		got, err := ParseProfile(in)
		if err != nil || got != want {
			t.Errorf("ParseProfile(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseProfile("rfc4880"); err == nil {
		t.Error("ParseProfile(rfc4880): want error")
	}
}

func TestGenerateAlgorithms(t *testing.T) {
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	for _, tc := range []struct {
		p                Profile
		version          int
		sign, encrypt    packet.PublicKeyAlgorithm
		fprLen           int
		seipdv2, hasAEAD bool
	}{
		{ProfileDefault, 4, packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDH, 40, false, false},
		{ProfileRFC9580, 6, packet.PubKeyAlgoEd25519, packet.PubKeyAlgoX25519, 64, true, true},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			id, err := Generate("Kurier Test", "node@example.org", tc.p, now)
			if err != nil {
				t.Fatal(err)
			}
			e := id.Entity()
			if id.Profile() != tc.p {
				t.Errorf("profile %q", id.Profile())
			}
			if v := e.PrimaryKey.Version; v != tc.version {
				t.Errorf("key version %d, want %d", v, tc.version)
			}
			if a := e.PrimaryKey.PubKeyAlgo; a != tc.sign {
				t.Errorf("primary algo %d, want %d", a, tc.sign)
			}
			if !e.PrimaryKey.CreationTime.Equal(now) {
				t.Errorf("creation time %v, want %v", e.PrimaryKey.CreationTime, now)
			}
			enc, ok := e.EncryptionKey(time.Now(), tc.p.Config())
			if !ok || enc.PublicKey.PubKeyAlgo != tc.encrypt {
				t.Fatalf("encryption key %v ok=%v, want algo %d", enc.PublicKey, ok, tc.encrypt)
			}
			if fpr := id.Fingerprint(); len(fpr) != tc.fprLen || fpr != strings.ToUpper(fpr) {
				t.Errorf("fingerprint %q", fpr)
			}
			sig, err := e.PrimarySelfSignature(time.Time{}, tc.p.Config())
			if err != nil {
				t.Fatal(err)
			}
			if sig.PreferredSymmetric[0] != uint8(packet.CipherAES256) {
				t.Errorf("preferred ciphers %v, want AES-256 first", sig.PreferredSymmetric)
			}
			if sig.SEIPDv2 != tc.seipdv2 || (len(sig.PreferredCipherSuites) > 0) != tc.hasAEAD {
				t.Errorf("SEIPDv2=%v suites=%v", sig.SEIPDv2, sig.PreferredCipherSuites)
			}
		})
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	if _, err := Generate("x", "x@y", "pgp2", time.Now()); err == nil {
		t.Error("unknown profile: want error")
	}
	if _, err := Generate(" ", "x@y", ProfileDefault, time.Now()); err == nil {
		t.Error("empty name: want error")
	}
	if _, err := Generate("a<b", "x@y", ProfileDefault, time.Now()); err == nil {
		t.Error("name with '<': want error")
	}
}

func TestSaveLoad(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			id, err := Generate("Kurier Test", "node@example.org", p, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "node.key")
			pass := []byte("correct horse battery staple")

			if err := id.Save(path, nil); err == nil {
				t.Fatal("Save with empty passphrase: want error")
			}
			if err := id.Save(path, pass); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("mode %04o, want 0600", perm)
			}
			raw, _ := os.ReadFile(path)
			if !bytes.HasPrefix(raw, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
				t.Errorf("not armored: %.40q", raw)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("temp files left behind: %v", entries)
			}
			// The in-memory identity must stay decrypted after Save.
			if id.Entity().PrivateKey.Encrypted {
				t.Error("Save encrypted the in-memory key")
			}

			got, err := Load(path, pass)
			if err != nil {
				t.Fatal(err)
			}
			if got.Fingerprint() != id.Fingerprint() || got.Profile() != p {
				t.Errorf("loaded %s/%s, want %s/%s", got.Fingerprint(), got.Profile(), id.Fingerprint(), p)
			}
			if got.Entity().PrivateKey.Encrypted {
				t.Error("loaded key still encrypted")
			}

			if _, err := Load(path, []byte("wrong")); !errors.Is(err, ErrBadPassphrase) {
				t.Errorf("wrong passphrase: %v, want ErrBadPassphrase", err)
			}
			if _, err := Load(path, nil); !errors.Is(err, ErrBadPassphrase) {
				t.Errorf("empty passphrase: %v, want ErrBadPassphrase", err)
			}

			// Overwrite (passphrase rotation) keeps the file valid.
			if err := got.Save(path, []byte("new")); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path, []byte("new")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.key"), []byte("x"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}

	id, err := Generate("Kurier Test", "", ProfileDefault, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "node.key")
	if err := id.Save(path, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, []byte("pw"))
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: %v, want refusal naming path and chmod 600", mode, err)
		}
	}
	os.Chmod(path, 0o600)

	pub, err := id.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "pub.asc")
	os.WriteFile(pubPath, pub, 0o600)
	if _, err := Load(pubPath, []byte("pw")); err == nil {
		t.Error("Load of a public key: want error")
	}
}

func TestPublicKeys(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			id, err := Generate("Kurier Test", "node@example.org", p, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			armored, err := id.ArmoredPublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(armored, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
				t.Fatalf("not armored: %.40q", armored)
			}
			pub, err := id.PublicEntity()
			if err != nil {
				t.Fatal(err)
			}
			if pub.PrivateKey != nil {
				t.Fatal("PublicEntity has private key")
			}
			var bin bytes.Buffer
			if err := pub.Serialize(&bin); err != nil {
				t.Fatal(err)
			}
			for name, in := range map[string][]byte{
				"armored":           armored,
				"armored+leadingws": append([]byte("\n  \n"), armored...),
				"binary":            bin.Bytes(),
			} {
				el, err := ReadPublicKeys(bytes.NewReader(in))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(el) != 1 || Fingerprint(el[0]) != id.Fingerprint() {
					t.Errorf("%s: got %d keys", name, len(el))
				}
			}

			var priv bytes.Buffer
			if err := id.Entity().SerializePrivateWithoutSigning(&priv, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadPublicKeys(&priv); err == nil {
				t.Error("ReadPublicKeys accepted private key material")
			}
			if _, err := ReadPublicKeys(strings.NewReader("hello")); err == nil {
				t.Error("ReadPublicKeys accepted garbage")
			}
		})
	}
}

func TestResolvePassphrase(t *testing.T) {
	envOf := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	dir := t.TempDir()

	pass, gen, err := ResolvePassphrase(envOf(map[string]string{EnvPassphrase: "from-env", EnvPassphraseFile: "/nonexistent"}), dir, true)
	if err != nil || string(pass) != "from-env" || gen != "" {
		t.Errorf("env: %q %q %v", pass, gen, err)
	}

	pf := filepath.Join(dir, "secret")
	os.WriteFile(pf, []byte("from-file\r\n"), 0o600)
	pass, gen, err = ResolvePassphrase(envOf(map[string]string{EnvPassphraseFile: pf}), dir, true)
	if err != nil || string(pass) != "from-file" || gen != "" {
		t.Errorf("file: %q %q %v", pass, gen, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, _, err := ResolvePassphrase(envOf(map[string]string{EnvPassphraseFile: empty}), dir, true); err == nil {
		t.Error("empty passphrase file: want error")
	}
	if _, _, err := ResolvePassphrase(envOf(map[string]string{EnvPassphraseFile: filepath.Join(dir, "nope")}), dir, true); err == nil {
		t.Error("missing passphrase file: want error")
	}

	data := filepath.Join(dir, "data")
	if _, _, err := ResolvePassphrase(envOf(nil), data, false); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("no source, no generate: %v, want ErrNoPassphrase", err)
	}
	pass, gen, err = ResolvePassphrase(envOf(nil), data, true)
	if err != nil {
		t.Fatal(err)
	}
	if gen != filepath.Join(data, PassphraseFileName) || len(pass) != 43 {
		t.Errorf("generated %q (%d bytes) at %q", pass, len(pass), gen)
	}
	if fi, err := os.Stat(gen); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("generated file: %v %v", fi, err)
	}
	// Second start: the generated passphrase is reused, not regenerated,
	// even when generation is no longer allowed.
	again, gen2, err := ResolvePassphrase(envOf(nil), data, false)
	if err != nil || !bytes.Equal(again, pass) || gen2 != "" {
		t.Errorf("reuse: %q %q %v", again, gen2, err)
	}
	os.Chmod(gen, 0o644)
	if _, _, err := ResolvePassphrase(envOf(nil), data, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable generated passphrase: %v", err)
	}
}
