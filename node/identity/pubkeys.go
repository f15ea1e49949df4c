package identity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// ReadPublicKeys reads one or more public keys, ASCII-armored or binary (as
// `gpg --export` writes them), e.g. a peer's key. Keys whose self-signature
// does not verify are rejected, and so is private key material: a peer's
// secret key has no business in our keyring.
func ReadPublicKeys(r io.Reader) (openpgp.EntityList, error) {
	br := bufio.NewReader(r)
	var el openpgp.EntityList
	var err error
	if looksArmored(br) {
		var block *armor.Block
		block, err = armor.Decode(br)
		if err != nil {
			return nil, fmt.Errorf("identity: read public keys: %w", err)
		}
		if block.Type != openpgp.PublicKeyType {
			return nil, fmt.Errorf("identity: read public keys: expected %q, got %q", openpgp.PublicKeyType, block.Type)
		}
		el, err = openpgp.ReadKeyRing(block.Body)
	} else {
		el, err = openpgp.ReadKeyRing(br)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: read public keys: %w", err)
	}
	if len(el) == 0 {
		return nil, errors.New("identity: read public keys: no key found")
	}
	for _, e := range el {
		fpr := Fingerprint(e)
		if e.PrivateKey != nil {
			return nil, fmt.Errorf("identity: read public keys: %s contains private key material", fpr)
		}
		// Zero time: check signatures and revocation, not expiry, so old
		// signatures by an expired key can still be attributed.
		if _, err := e.VerifyPrimaryKey(time.Time{}, nil); err != nil {
			return nil, fmt.Errorf("identity: read public keys: %s: %w", fpr, err)
		}
	}
	return el, nil
}

// looksArmored reports whether the stream starts, after blank space, with an
// armor header line. Binary OpenPGP packets always start with a byte >= 0x80.
func looksArmored(br *bufio.Reader) bool {
	b, _ := br.Peek(512)
	return bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("-----BEGIN PGP"))
}
