package seal

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kurier/kurier/node/identity"
)

// requireTool returns the path of an external tool. A missing tool skips the
// test locally but fails it when KURIER_REQUIRE_TOOLS=1, so CI never passes
// by silently skipping interop tests.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KURIER_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found on PATH and KURIER_REQUIRE_TOOLS=1: %v", name, err)
		}
		t.Skipf("%s not found on PATH (set KURIER_REQUIRE_TOOLS=1 to make this fatal)", name)
	}
	return path
}

// gnupg is a throw-away GnuPG home.
type gnupg struct {
	bin        string
	home       string
	passphrase string // for --passphrase; empty for gpg-generated keys
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	bin := requireTool(t, "gpg")
	// Short path under /tmp: gpg-agent's socket path must fit in sun_path
	// (108 bytes), which t.TempDir() paths can exceed.
	home, err := os.MkdirTemp("/tmp", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if gpgconf, err := exec.LookPath("gpgconf"); err == nil {
			exec.Command(gpgconf, "--homedir", home, "--kill", "all").Run()
		}
		os.RemoveAll(home)
	})
	return &gnupg{bin: bin, home: home}
}

// run executes gpg and returns stdout and the --status-fd lines. A non-zero
// exit fails the test unless allowFail.
func (g *gnupg) run(t *testing.T, stdin []byte, allowFail bool, args ...string) (stdout []byte, status string, err error) {
	t.Helper()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer statusR.Close()
	full := append([]string{
		"--homedir", g.home, "--batch", "--no-tty", "--no-auto-key-locate",
		"--pinentry-mode", "loopback", "--passphrase", g.passphrase,
		"--trust-model", "always", "--status-fd", "3",
	}, args...)
	cmd := exec.Command(g.bin, full...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.ExtraFiles = []*os.File{statusW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	statusW.Close()
	var st bytes.Buffer
	st.ReadFrom(statusR)
	err = cmd.Wait()
	if err != nil && !allowFail {
		t.Fatalf("gpg %s: %v\nstderr: %s\nstatus: %s", strings.Join(args, " "), err, errOut.String(), st.String())
	}
	return out.Bytes(), st.String(), err
}

func (g *gnupg) file(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(g.home, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// genKey creates an Ed25519 signing key with a Cv25519 subkey, as a peer
// running stock GnuPG would, and returns its fingerprint.
func (g *gnupg) genKey(t *testing.T, uid string) string {
	t.Helper()
	g.run(t, nil, false, "--quick-gen-key", uid, "ed25519", "sign", "never")
	out, _, _ := g.run(t, nil, false, "--with-colons", "--list-keys", uid)
	var fpr string
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		t.Fatalf("no fingerprint in %s", out)
	}
	g.run(t, nil, false, "--quick-add-key", fpr, "cv25519", "encr", "never")
	return fpr
}

func wantStatus(t *testing.T, status string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(status, "[GNUPG:] "+l) {
			t.Errorf("gpg status lacks %q:\n%s", l, status)
		}
	}
}

func TestGnuPGInterop(t *testing.T) {
	g := newGnuPG(t)
	peerFpr := g.genKey(t, "Peer <peer@cert.example>")
	peerArmored, _, _ := g.run(t, nil, false, "--armor", "--export", peerFpr)
	peerKeys, err := identity.ReadPublicKeys(bytes.NewReader(peerArmored))
	if err != nil {
		t.Fatal(err)
	}
	if identity.Fingerprint(peerKeys[0]) != peerFpr {
		t.Fatalf("fingerprint %s, gpg says %s", identity.Fingerprint(peerKeys[0]), peerFpr)
	}
	peerBinary, _, _ := g.run(t, nil, false, "--export", peerFpr)
	if el, err := identity.ReadPublicKeys(bytes.NewReader(peerBinary)); err != nil || identity.Fingerprint(el[0]) != peerFpr {
		t.Fatalf("binary export: %v", err)
	}

	node := newIdentity(t, "Kurier Node", identity.ProfileDefault)
	s := New(node, peerKeys)
	nodeFpr := node.Fingerprint()

	// gpg must know the node key to check its signatures.
	pub, err := node.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	_, importStatus, _ := g.run(t, pub, false, "--import")

	t.Run("import", func(t *testing.T) {
		wantStatus(t, importStatus, "IMPORT_OK 1 "+nodeFpr)
		out, _, _ := g.run(t, nil, false, "--with-colons", "--list-keys", nodeFpr)
		// pub: algo 22 (EdDSA) on ed25519; sub: algo 18 (ECDH) on cv25519.
		for _, want := range []string{":22:", ":ed25519:", ":18:", ":cv25519:"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("gpg key listing lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("gpg decrypts and verifies SealTo", func(t *testing.T) {
		plain := []byte("indicator: 198.51.100.7 is a C2 server\n")
		ct := seal(t, s, plain, peerKeys[0])
		out, status, _ := g.run(t, nil, false, "--decrypt", g.file(t, "sealed.gpg", ct))
		if !bytes.Equal(out, plain) {
			t.Errorf("gpg plaintext %q, want %q", out, plain)
		}
		// DECRYPTION_INFO 2 9 0: SEIPD v1 with MDC, AES-256, no AEAD.
		wantStatus(t, status, "GOODSIG "+nodeFpr[24:], "VALIDSIG "+nodeFpr, "DECRYPTION_INFO 2 9 0", "DECRYPTION_OKAY", "GOODMDC")
		for _, bad := range []string{"BADMDC", "DECRYPTION_FAILED", "BADSIG", "ERRSIG"} {
			if strings.Contains(status, bad) {
				t.Errorf("gpg status has %s:\n%s", bad, status)
			}
		}
	})

	t.Run("gpg verifies detached signatures", func(t *testing.T) {
		data := []byte("evidence package manifest\r\nline 2\n\x00\xff binary")
		dataPath := g.file(t, "data.bin", data)
		var bin, arm bytes.Buffer
		if err := s.SignDetached(&bin, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := s.SignDetachedArmored(&arm, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		for name, sig := range map[string][]byte{"binary": bin.Bytes(), "armored": arm.Bytes()} {
			_, status, _ := g.run(t, nil, false, "--verify", g.file(t, "data."+name+".sig", sig), dataPath)
			wantStatus(t, status, "VALIDSIG "+nodeFpr)
		}
		// And gpg rejects the signature over changed data.
		_, status, err := g.run(t, nil, true, "--verify", g.file(t, "bad.sig", bin.Bytes()), g.file(t, "data2.bin", append(data, '!')))
		if err == nil || !strings.Contains(status, "BADSIG") {
			t.Errorf("gpg accepted a signature over changed data: %v %s", err, status)
		}
	})

	t.Run("Kurier verifies gpg detached signatures", func(t *testing.T) {
		data := []byte("report from a peer CERT\n")
		dataPath := g.file(t, "peer.txt", data)
		for name, args := range map[string][]string{
			"binary":  {"--detach-sign"},
			"armored": {"--armor", "--detach-sign"},
		} {
			sigPath := filepath.Join(g.home, "peer."+name+".sig")
			g.run(t, nil, false, append([]string{"--local-user", peerFpr, "--output", sigPath}, append(args, dataPath)...)...)
			sig, err := os.ReadFile(sigPath)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := s.VerifyDetached(bytes.NewReader(data), bytes.NewReader(sig))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if signer.Fingerprint != peerFpr {
				t.Errorf("%s: signer %s, want %s", name, signer.Fingerprint, peerFpr)
			}
			// Without the peer key in the keyring the signer is unknown.
			if _, err := New(node, nil).VerifyDetached(bytes.NewReader(data), bytes.NewReader(sig)); !errors.Is(err, ErrUnknownSigner) {
				t.Errorf("%s without peer key: %v", name, err)
			}
		}
	})

	t.Run("Kurier opens gpg sign+encrypt", func(t *testing.T) {
		plain := []byte("sealed by GnuPG for Kurier\n")
		ct, _, _ := g.run(t, plain, false, "--local-user", peerFpr, "--recipient", nodeFpr, "--sign", "--encrypt")
		got, signer, err := s.OpenBytes(ct)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) || signer.Fingerprint != peerFpr {
			t.Errorf("got %q from %s", got, signer.Fingerprint)
		}
		// Encrypted by gpg but not signed.
		ct, _, _ = g.run(t, plain, false, "--recipient", nodeFpr, "--encrypt")
		if _, _, err := s.OpenBytes(ct); !errors.Is(err, ErrNotSigned) {
			t.Errorf("unsigned: %v", err)
		}
		// Signed and encrypted only to the peer itself.
		ct, _, _ = g.run(t, plain, false, "--local-user", peerFpr, "--recipient", peerFpr, "--sign", "--encrypt")
		if _, _, err := s.OpenBytes(ct); !errors.Is(err, ErrNotForUs) {
			t.Errorf("not for us: %v", err)
		}
	})
}

// TestGnuPGImportsKeyFile checks that the default profile's passphrase
// protected key file is usable by gpg, e.g. for recovery or inspection.
func TestGnuPGImportsKeyFile(t *testing.T) {
	g := newGnuPG(t)
	node := newIdentity(t, "Kurier Node", identity.ProfileDefault)
	g.passphrase = "node key passphrase"
	keyPath := filepath.Join(g.home, "node.key")
	if err := node.Save(keyPath, []byte(g.passphrase)); err != nil {
		t.Fatal(err)
	}
	_, status, _ := g.run(t, nil, false, "--import", keyPath)
	wantStatus(t, status, "IMPORT_OK 17 "+node.Fingerprint()) // 1 new key + 16 secret key
	// Signing proves gpg decrypted the key with the passphrase.
	data := g.file(t, "data", []byte("recovered"))
	sig := filepath.Join(g.home, "data.sig")
	g.run(t, nil, false, "--local-user", node.Fingerprint(), "--output", sig, "--detach-sign", data)
	sigBytes, err := os.ReadFile(sig)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := New(node, nil).VerifyDetached(strings.NewReader("recovered"), bytes.NewReader(sigBytes))
	if err != nil || signer.Fingerprint != node.Fingerprint() {
		t.Fatalf("verify gpg signature by imported key: %v", err)
	}
}

// TestGnuPGRejectsRFC9580 documents that the rfc9580 profile does not work
// with GnuPG 2.2: it cannot import v6 keys. If a newer gpg starts to accept
// them the test only logs, so upgrading gpg does not break the build.
func TestGnuPGRejectsRFC9580(t *testing.T) {
	g := newGnuPG(t)
	node := newIdentity(t, "Kurier Node", identity.ProfileRFC9580)
	pub, err := node.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	_, status, err := g.run(t, pub, true, "--import")
	if err == nil && strings.Contains(status, "IMPORT_OK") {
		t.Logf("this gpg imports v6 keys; the rfc9580 profile may interoperate with it")
		return
	}
	t.Logf("gpg cannot import an rfc9580 key, as expected (err=%v)", err)
}
