// Package seal is the one sealing mechanism of the node: OpenPGP signatures
// (detached, over raw bytes or RFC 8785 canonical JSON) for provenance, and
// streaming sign+encrypt for confidentiality at rest and in transit. All of
// it uses the node identity's profile, so algorithm choices live in one
// place (identity.Profile.Config).
package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/node/identity"
)

// Sealer signs and encrypts as the node identity, and opens and verifies
// data from the keys it trusts. It is immutable and safe for concurrent use.
type Sealer struct {
	self    *identity.Identity
	config  *packet.Config
	keyring openpgp.EntityList // self first, then the trusted keys
	// selfKeyIDs are the key IDs of self's subkeys, to tell "encrypted to
	// us but undecryptable" (tampered) from "not encrypted to us".
	selfKeyIDs map[uint64]bool
}

// Signer says who made a verified signature.
type Signer struct {
	// Fingerprint of the signer's primary key, upper-case hex.
	Fingerprint string
	// KeyID of the (sub)key that made the signature.
	KeyID uint64
	// CreationTime of the signature, as claimed by the signer.
	CreationTime time.Time
	// Entity is the keyring entry of the signer.
	Entity *openpgp.Entity
}

// New returns a Sealer for self. keyring holds the public keys whose
// signatures are trusted (peers); self is always included, so data the node
// sealed for itself opens again. self must not be nil.
func New(self *identity.Identity, keyring openpgp.EntityList) *Sealer {
	selfFpr := self.Fingerprint()
	ring := openpgp.EntityList{self.Entity()}
	for _, e := range keyring {
		// A public copy of our own key would shadow the private one.
		if e != nil && identity.Fingerprint(e) != selfFpr {
			ring = append(ring, e)
		}
	}
	ids := make(map[uint64]bool)
	for _, sk := range self.Entity().Subkeys {
		ids[sk.PublicKey.KeyId] = true
	}
	return &Sealer{self: self, config: self.Profile().Config(), keyring: ring, selfKeyIDs: ids}
}

// Self returns the identity the Sealer signs and decrypts with.
func (s *Sealer) Self() *identity.Identity { return s.self }

// SealTo signs data as self and encrypts it to recipients and to self (so
// the node can always read what it wrote), in one streaming pass with
// constant memory. The output is binary OpenPGP. Write the plaintext to the
// returned writer; Close writes the signature and the integrity tag and must
// be called (it does not close w). The packet format follows the keys: SEIPD
// v2 (AEAD) only if every recipient advertises it, otherwise SEIPD v1 + MDC.
// The inline signature names the recipients (intended recipient
// fingerprints), so a sealed message cannot be re-encrypted to a third party
// under our signature; to share an object onwards, use its detached
// signature.
func (s *Sealer) SealTo(w io.Writer, recipients ...*openpgp.Entity) (io.WriteCloser, error) {
	selfFpr := s.self.Fingerprint()
	seen := map[string]bool{selfFpr: true}
	to := make([]*openpgp.Entity, 0, len(recipients)+1)
	for i, r := range recipients {
		if r == nil {
			return nil, fmt.Errorf("seal: seal: recipient %d is nil", i)
		}
		if fpr := identity.Fingerprint(r); !seen[fpr] {
			seen[fpr] = true
			to = append(to, r)
		}
	}
	to = append(to, s.self.Entity())
	pt, err := openpgp.EncryptWithParams(w, to, nil, &openpgp.EncryptParams{
		Signers: []*openpgp.Entity{s.self.Entity()},
		Config:  s.config,
	})
	if err != nil {
		return nil, fmt.Errorf("seal: seal: %w", err)
	}
	return &sealWriter{pt}, nil
}

type sealWriter struct{ w io.WriteCloser }

func (s *sealWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		err = fmt.Errorf("seal: seal: write: %w", err)
	}
	return n, err
}

func (s *sealWriter) Close() error {
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("seal: seal: finish: %w", err)
	}
	return nil
}

// Open decrypts a sealed message from r, streaming the plaintext into w, and
// verifies its signature against the keyring.
//
// The plaintext is written to w before the signature and the integrity tag
// at the end of the stream can be checked. Open returns a nil error only
// after the whole stream was read and both checked; on any error the caller
// MUST discard everything written to w (write to a temporary file or
// buffer, commit only on success).
//
// Errors wrap ErrNotForUs, ErrTampered, ErrNotEncrypted, ErrNotSigned,
// ErrUnknownSigner or ErrBadSignature; failures of r or w are returned
// wrapped as they are.
func (s *Sealer) Open(r io.Reader, w io.Writer) (Signer, error) {
	src := &sourceReader{r: r}
	ring := &openRing{EntityList: s.keyring, self: s.selfKeyIDs}
	md, err := openpgp.ReadMessage(src, ring, nil, s.config)
	if err != nil {
		switch {
		case src.err != nil:
			return Signer{}, fmt.Errorf("seal: open: read: %w", src.err)
		case errors.Is(err, pgperrors.ErrKeyIncorrect) && ring.addressed:
			// Our key was a recipient but yields no session key: the
			// key packet or the data was changed.
			return Signer{}, fmt.Errorf("seal: open: %w", withKind(ErrTampered, err))
		case errors.Is(err, pgperrors.ErrKeyIncorrect):
			return Signer{}, fmt.Errorf("seal: open: %w", withKind(ErrNotForUs, err))
		}
		return Signer{}, fmt.Errorf("seal: open: %w", classifyStream(err))
	}
	if !md.IsEncrypted {
		return Signer{}, fmt.Errorf("seal: open: %w", ErrNotEncrypted)
	}
	if !md.IsSigned {
		// Nothing is written: unsigned data is never acceptable.
		return Signer{}, fmt.Errorf("seal: open: %w", ErrNotSigned)
	}
	dst := &sinkWriter{w: w}
	if _, err := io.Copy(dst, md.UnverifiedBody); err != nil {
		switch {
		case dst.err != nil:
			return Signer{}, fmt.Errorf("seal: open: write plaintext: %w", dst.err)
		case src.err != nil:
			return Signer{}, fmt.Errorf("seal: open: read: %w", src.err)
		}
		return Signer{}, fmt.Errorf("seal: open: %w", classifyStream(err))
	}
	signer, err := verified(md)
	if err != nil {
		return Signer{}, fmt.Errorf("seal: open: %w", err)
	}
	return signer, nil
}

// OpenBytes is Open for a message held in memory. It returns the plaintext
// only if the message verified.
func (s *Sealer) OpenBytes(ciphertext []byte) ([]byte, Signer, error) {
	var buf bytes.Buffer
	signer, err := s.Open(bytes.NewReader(ciphertext), &buf)
	if err != nil {
		return nil, Signer{}, err
	}
	return buf.Bytes(), signer, nil
}

// verified turns the signature state of a fully read message into a Signer
// or a classified error.
func verified(md *openpgp.MessageDetails) (Signer, error) {
	if !md.IsSigned {
		return Signer{}, ErrNotSigned
	}
	if !md.IsVerified {
		// Cannot happen after reading to EOF; never treat it as success.
		return Signer{}, withKind(ErrBadSignature, errors.New("signature not checked"))
	}
	if md.SignatureError != nil {
		return Signer{}, classifySignature(md.SignatureError)
	}
	if md.SignedBy == nil || md.Signature == nil {
		return Signer{}, withKind(ErrBadSignature, errors.New("no verified signature"))
	}
	return Signer{
		Fingerprint:  identity.Fingerprint(md.SignedBy.Entity),
		KeyID:        md.SignedBy.PublicKey.KeyId,
		CreationTime: md.Signature.CreationTime,
		Entity:       md.SignedBy.Entity,
	}, nil
}

// openRing is the keyring for one Open call. It records whether the message
// named one of our subkeys as a recipient.
type openRing struct {
	openpgp.EntityList
	self      map[uint64]bool
	addressed bool
}

func (r *openRing) EntitiesById(id uint64) []*openpgp.Entity {
	if r.self[id] {
		r.addressed = true
	}
	return r.EntityList.EntitiesById(id)
}

// sourceReader remembers a failure of the underlying reader, so an I/O error
// (a dropped connection) is not reported as tampering.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// sinkWriter remembers a failure of the destination writer.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}
