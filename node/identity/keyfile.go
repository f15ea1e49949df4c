package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/node/durable"
)

// ErrBadPassphrase means the key file could not be decrypted with the given
// passphrase (or the passphrase was empty).
var ErrBadPassphrase = errors.New("wrong passphrase")

// maxKeyFile bounds what Load reads; a node key file is a few KiB.
const maxKeyFile = 1 << 20

// Save writes the private key, encrypted with passphrase using the profile's
// S2K (iterated+salted SHA-256 for default, Argon2 with AEAD for rfc9580),
// ASCII-armored, to path with mode 0600. The write is atomic (temp file,
// fsync, rename, fsync of the directory) so a crash never leaves a truncated
// key. The in-memory Identity stays decrypted.
func (id *Identity) Save(path string, passphrase []byte) error {
	if len(passphrase) == 0 {
		return fmt.Errorf("identity: save %s: refusing to store the private key with an empty passphrase", path)
	}
	// Encrypt a copy: EncryptPrivateKeys works in place and the in-memory
	// identity must stay usable (and must not change under concurrent use).
	var plain bytes.Buffer
	if err := id.entity.SerializePrivateWithoutSigning(&plain, nil); err != nil {
		return fmt.Errorf("identity: save %s: serialize: %w", path, err)
	}
	clone, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(plain.Bytes())))
	clear(plain.Bytes())
	if err != nil {
		return fmt.Errorf("identity: save %s: copy key: %w", path, err)
	}
	if err := clone.EncryptPrivateKeys(passphrase, id.profile.Config()); err != nil {
		return fmt.Errorf("identity: save %s: encrypt key: %w", path, err)
	}
	var out bytes.Buffer
	w, err := armor.EncodeWithChecksumOption(&out, openpgp.PrivateKeyType, nil, id.profile != ProfileRFC9580)
	if err != nil {
		return fmt.Errorf("identity: save %s: armor: %w", path, err)
	}
	if err := clone.SerializePrivateWithoutSigning(w, nil); err != nil {
		return fmt.Errorf("identity: save %s: serialize: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("identity: save %s: armor: %w", path, err)
	}
	out.WriteByte('\n')
	if err := durable.WriteFile(path, out.Bytes(), 0o600); err != nil {
		return fmt.Errorf("identity: save: %w", err)
	}
	return nil
}

// Load reads a key file written by Save and decrypts it with passphrase.
// The profile is derived from the key version. A missing file wraps
// fs.ErrNotExist; a wrong passphrase wraps ErrBadPassphrase; a file that
// group or others may access is refused, since the passphrase is then the
// only protection left.
func Load(path string, passphrase []byte) (*Identity, error) {
	if err := checkPrivateFile(path); err != nil {
		return nil, fmt.Errorf("identity: load: %w", err)
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("identity: load %s: empty passphrase: %w", path, ErrBadPassphrase)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: load: %w", err)
	}
	defer f.Close()
	block, err := armor.Decode(&limitedReader{f, maxKeyFile})
	if err != nil {
		return nil, fmt.Errorf("identity: load %s: not an armored key: %w", path, err)
	}
	if block.Type != openpgp.PrivateKeyType {
		return nil, fmt.Errorf("identity: load %s: expected %q, got %q", path, openpgp.PrivateKeyType, block.Type)
	}
	e, err := openpgp.ReadEntity(packet.NewReader(block.Body))
	if err != nil {
		return nil, fmt.Errorf("identity: load %s: parse key: %w", path, err)
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("identity: load %s: file holds no private key", path)
	}
	if !e.PrivateKey.Encrypted {
		return nil, fmt.Errorf("identity: load %s: private key is not passphrase-protected; refusing it", path)
	}
	// Any failure here (CFB checksum, AEAD tag, unparsable key material) is
	// what a wrong passphrase looks like.
	if err := e.DecryptPrivateKeys(passphrase); err != nil {
		return nil, fmt.Errorf("identity: load %s: %w (%v)", path, ErrBadPassphrase, err)
	}
	id, err := fromEntity(e)
	if err != nil {
		return nil, fmt.Errorf("identity: load %s: %w", path, err)
	}
	return id, nil
}

// checkPrivateFile refuses secrets that group or others can access.
func checkPrivateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err // *fs.PathError names the path and wraps fs.ErrNotExist
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o, accessible by group or others; fix with: chmod 600 %s", path, perm, path)
	}
	return nil
}

// limitedReader is io.LimitedReader that fails instead of silently
// truncating, so an oversized file is an error rather than a parse error.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("file too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
