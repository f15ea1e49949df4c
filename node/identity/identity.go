// Package identity holds the node's OpenPGP key pair: generating it for a
// profile, protecting it on disk with a passphrase, and reading peers'
// public keys. Everything the node signs or encrypts (see package seal) uses
// this key.
package identity

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Identity is the node's private key together with the profile it was made
// for. Its private key material is decrypted in memory; it is safe for
// concurrent use as long as callers do not modify the Entity.
type Identity struct {
	entity  *openpgp.Entity
	profile Profile
}

// Generate creates a new key pair for the node: a signing primary key and an
// encryption subkey with the profile's algorithms. now is the key creation
// time (pass time.Now(); a zero now means time.Now()); signatures made
// before it would not verify, so it must not be in the future.
func Generate(name, email string, p Profile, now time.Time) (*Identity, error) {
	if _, err := ParseProfile(string(p)); err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("identity: generate: empty name")
	}
	if now.IsZero() {
		now = time.Now()
	}
	cfg := p.Config()
	cfg.Time = func() time.Time { return now }
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("identity: generate %s key: %w", p, err)
	}
	id, err := fromEntity(e)
	if err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	return id, nil
}

// fromEntity checks that e is a usable, decrypted node key and derives the
// profile from the key version.
func fromEntity(e *openpgp.Entity) (*Identity, error) {
	if e.PrivateKey == nil {
		return nil, errors.New("key has no private part")
	}
	var p Profile
	switch e.PrimaryKey.Version {
	case 4:
		p = ProfileDefault
	case 6:
		p = ProfileRFC9580
	default:
		return nil, fmt.Errorf("unsupported key version %d", e.PrimaryKey.Version)
	}
	cfg := p.Config()
	// Zero time: validity is checked without expiry, a node key never
	// expires but may have been created on a machine with a skewed clock.
	if _, err := e.VerifyPrimaryKey(time.Time{}, cfg); err != nil {
		return nil, fmt.Errorf("invalid primary key: %w", err)
	}
	if _, ok := e.SigningKey(time.Time{}, cfg); !ok {
		return nil, errors.New("key has no valid signing key")
	}
	if _, err := e.EncryptionKeyWithError(time.Time{}, cfg); err != nil {
		return nil, fmt.Errorf("key has no valid encryption key: %w", err)
	}
	return &Identity{entity: e, profile: p}, nil
}

// Fingerprint returns the primary key fingerprint in upper-case hex, the
// form GnuPG prints and peers compare out of band.
func (id *Identity) Fingerprint() string { return Fingerprint(id.entity) }

// Fingerprint returns the primary key fingerprint of e in upper-case hex.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// Entity returns the private entity, with decrypted key material, for
// signing and decrypting. Callers must not modify it.
func (id *Identity) Entity() *openpgp.Entity { return id.entity }

// Profile returns the profile the key was made for.
func (id *Identity) Profile() Profile { return id.profile }

// PublicEntity returns a copy of the key without any private material, safe
// to hand to code that should only verify or encrypt.
func (id *Identity) PublicEntity() (*openpgp.Entity, error) {
	var buf bytes.Buffer
	if err := id.entity.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("identity: serialize public key: %w", err)
	}
	e, err := openpgp.ReadEntity(packet.NewReader(&buf))
	if err != nil {
		return nil, fmt.Errorf("identity: reread public key: %w", err)
	}
	return e, nil
}

// ArmoredPublicKey returns the public key as an ASCII-armored block, the form
// exchanged with peers and accepted by `gpg --import`.
func (id *Identity) ArmoredPublicKey() ([]byte, error) {
	var buf bytes.Buffer
	// RFC 9580 says not to emit the armor CRC for v6 data; GnuPG 2.2 expects
	// it for v4 keys.
	w, err := armor.EncodeWithChecksumOption(&buf, openpgp.PublicKeyType, nil, id.profile != ProfileRFC9580)
	if err != nil {
		return nil, fmt.Errorf("identity: armor public key: %w", err)
	}
	if err := id.entity.Serialize(w); err != nil {
		return nil, fmt.Errorf("identity: serialize public key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("identity: armor public key: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
