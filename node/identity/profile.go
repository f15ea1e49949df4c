package identity

import (
	"crypto"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// Profile names a set of OpenPGP algorithm choices. A federation picks one;
// every key generation, signature and encryption of a node uses the settings
// of its profile, so they are defined once, in Config.
type Profile string

const (
	// ProfileDefault interoperates with stock GnuPG 2.2: v4 key, Ed25519
	// (EdDSA legacy) primary signing key, Cv25519 (ECDH) encryption subkey,
	// AES-256, SHA-256, SEIPD v1 with MDC. No AEAD, no v6 packets.
	ProfileDefault Profile = "default"
	// ProfileRFC9580 uses RFC 9580 (v6) keys with the new-format Ed25519 and
	// X25519 algorithms and advertises AEAD (SEIPD v2). GnuPG 2.2 cannot read
	// these keys; use it only in federations where every member supports
	// RFC 9580.
	ProfileRFC9580 Profile = "rfc9580"
)

// ParseProfile validates a profile name from configuration. The empty string
// selects ProfileDefault so a missing setting keeps GnuPG compatibility.
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case ProfileDefault, "":
		return ProfileDefault, nil
	case ProfileRFC9580:
		return ProfileRFC9580, nil
	}
	return "", fmt.Errorf("identity: unknown profile %q (want %q or %q)", s, ProfileDefault, ProfileRFC9580)
}

// String returns the profile name.
func (p Profile) String() string { return string(p) }

// Config returns a fresh *packet.Config for the profile. It is used for key
// generation and for signing, encrypting and private-key protection, so the
// algorithm choices of a profile live in exactly one place. A new value is
// returned on each call; callers may adjust it (e.g. Time) without affecting
// others.
func (p Profile) Config() *packet.Config {
	// Never compress: compression before encryption leaks plaintext
	// information (CRIME-style) and costs throughput on already-compressed
	// evidence files.
	cfg := &packet.Config{
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
	}
	switch p {
	case ProfileRFC9580:
		cfg.V6Keys = true
		cfg.Algorithm = packet.PubKeyAlgoEd25519
		// GCM rather than OCB: Go's AES-GCM uses AES-NI/CLMUL and is several
		// times faster than the pure-Go OCB. Key generation still advertises
		// OCB, the RFC 9580 mandatory-to-implement mode, as a fallback.
		cfg.AEADConfig = &packet.AEADConfig{DefaultMode: packet.AEADModeGCM}
		// Argon2 (64 MiB, 3 passes, 4 lanes: RFC 9106 second recommendation)
		// for the private key; RFC 9580 only allows it with AEAD key
		// protection, which this profile has.
		cfg.S2KConfig = &s2k.Config{S2KMode: s2k.Argon2S2K}
	default:
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
		cfg.Curve = packet.Curve25519
		// Iterated+salted SHA-256, the strongest S2K GnuPG 2.2 understands.
		cfg.S2KConfig = &s2k.Config{
			S2KMode:  s2k.IteratedSaltedS2K,
			Hash:     crypto.SHA256,
			S2KCount: 65011712,
		}
	}
	return cfg
}
