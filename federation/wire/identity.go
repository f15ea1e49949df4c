package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
)

// Identity is a node's public identity document (GET /federation/v1/identity).
// Operators fetch it to check a fingerprint out of band before adding a
// peer; the node signs it with its key.
type Identity struct {
	Protocol     string          `json:"protocol"`
	Name         string          `json:"name"`
	Country      string          `json:"country,omitempty"`
	Organization string          `json:"organization,omitempty"`
	Fingerprint  string          `json:"fingerprint"`
	KeyProfile   string          `json:"key_profile"`
	PublicKey    string          `json:"public_key"`
	STIX         json.RawMessage `json:"stix_identity"`
	// Endpoints are relative to the node's base URL.
	Endpoints map[string]string `json:"endpoints"`
	// Signature is the node's detached signature over the canonical JSON
	// of the document without this member.
	Signature []byte `json:"signature,omitempty"`
}

func (d Identity) signedBytes() ([]byte, error) {
	d.Signature = nil
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return seal.Canonicalize(raw)
}

// SignIdentity signs the document with s.
func SignIdentity(d Identity, s *seal.Sealer) (Identity, error) {
	b, err := d.signedBytes()
	if err != nil {
		return d, err
	}
	var sig bytes.Buffer
	if err := s.SignDetached(&sig, bytes.NewReader(b)); err != nil {
		return d, err
	}
	d.Signature = sig.Bytes()
	return d, nil
}

// Verify checks that the document is signed by the key it carries and
// that the key has the fingerprint it claims. It says nothing about who
// runs the node: compare the fingerprint out of band.
func (d Identity) Verify() error {
	el, err := identity.ReadPublicKeys(strings.NewReader(d.PublicKey))
	if err != nil {
		return fmt.Errorf("wire: identity: %w", err)
	}
	if len(el) != 1 || identity.Fingerprint(el[0]) != d.Fingerprint {
		return fmt.Errorf("wire: identity: key does not match fingerprint %s", d.Fingerprint)
	}
	b, err := d.signedBytes()
	if err != nil {
		return err
	}
	_, signer, err := openpgp.VerifyDetachedSignature(el, bytes.NewReader(b), bytes.NewReader(d.Signature), nil)
	if err != nil {
		return fmt.Errorf("wire: identity signature: %w", err)
	}
	if signer == nil || identity.Fingerprint(signer) != d.Fingerprint {
		return fmt.Errorf("wire: identity not signed by %s", d.Fingerprint)
	}
	return nil
}
