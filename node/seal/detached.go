package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/gowebpki/jcs"
)

// maxSignatureSize bounds how much of a detached signature is read into
// memory. Ed25519 signatures are ~120 bytes; this leaves room for several
// signatures and future (post-quantum) algorithms.
const maxSignatureSize = 256 << 10

// SignDetached writes a binary detached signature by self over data, the
// provenance that travels with an object through every hop.
func (s *Sealer) SignDetached(w io.Writer, data io.Reader) error {
	if err := openpgp.DetachSign(w, []*openpgp.Entity{s.self.Entity()}, data, s.config); err != nil {
		return fmt.Errorf("seal: sign: %w", err)
	}
	return nil
}

// SignDetachedArmored is SignDetached with ASCII armor, for files people
// check by hand with `gpg --verify`.
func (s *Sealer) SignDetachedArmored(w io.Writer, data io.Reader) error {
	err := openpgp.ArmoredDetachSign(w, []*openpgp.Entity{s.self.Entity()}, data, &openpgp.SignParams{Config: s.config})
	if err != nil {
		return fmt.Errorf("seal: sign: %w", err)
	}
	return nil
}

// VerifyDetached checks a detached signature (armored or binary) over data,
// streaming data. Errors wrap ErrNotSigned, ErrUnknownSigner or
// ErrBadSignature; a failure reading data is returned wrapped as it is.
func (s *Sealer) VerifyDetached(data io.Reader, sig io.Reader) (Signer, error) {
	bin, err := readSignature(sig)
	if err != nil {
		return Signer{}, fmt.Errorf("seal: verify: %w", err)
	}
	src := &sourceReader{r: data}
	md, err := openpgp.VerifyDetachedSignatureReader(s.keyring, src, bytes.NewReader(bin), s.config)
	if err != nil {
		return Signer{}, fmt.Errorf("seal: verify: %w", classifySignature(err))
	}
	if _, err := io.Copy(io.Discard, md.UnverifiedBody); err != nil {
		if src.err != nil {
			return Signer{}, fmt.Errorf("seal: verify: read data: %w", src.err)
		}
		return Signer{}, fmt.Errorf("seal: verify: %w", withKind(ErrBadSignature, err))
	}
	signer, err := verified(md)
	if err != nil {
		return Signer{}, fmt.Errorf("seal: verify: %w", err)
	}
	return signer, nil
}

// readSignature reads a detached signature into memory (it is small),
// removes the armor if there is one, and checks that it holds only
// well-formed document signatures. Empty input is ErrNotSigned.
func readSignature(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxSignatureSize+1))
	if err != nil {
		return nil, fmt.Errorf("read signature: %w", err)
	}
	if len(raw) > maxSignatureSize {
		return nil, withKind(ErrBadSignature, fmt.Errorf("signature larger than %d bytes", maxSignatureSize))
	}
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(bytes.NewReader(trimmed))
		if err != nil {
			return nil, withKind(ErrBadSignature, fmt.Errorf("armor: %w", err))
		}
		if block.Type != openpgp.SignatureType {
			return nil, withKind(ErrBadSignature, fmt.Errorf("armor: expected %q, got %q", openpgp.SignatureType, block.Type))
		}
		if raw, err = io.ReadAll(block.Body); err != nil {
			return nil, withKind(ErrBadSignature, fmt.Errorf("armor: %w", err))
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, ErrNotSigned
	}
	// Only signature packets belong in a detached signature; anything else
	// (a key block, an unsupported or cut-off packet) is a bad signature.
	packets := packet.NewReader(bytes.NewReader(raw))
	n := 0
	for {
		p, err := packets.NextWithUnsupported()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, withKind(ErrBadSignature, err)
		}
		sig, ok := p.(*packet.Signature)
		if !ok {
			return nil, withKind(ErrBadSignature, fmt.Errorf("unexpected %T in detached signature", p))
		}
		if sig.SigType != packet.SigTypeBinary && sig.SigType != packet.SigTypeText {
			return nil, withKind(ErrBadSignature, fmt.Errorf("signature type %#x is not a document signature", sig.SigType))
		}
		n++
	}
	if n == 0 {
		return nil, withKind(ErrBadSignature, fmt.Errorf("no signature packet in %d bytes", len(raw)))
	}
	return raw, nil
}

// Canonicalize returns the RFC 8785 (JCS) canonical form of a JSON document:
// the bytes that are signed, so that re-serialisation by any peer (key order,
// whitespace, number formatting) does not break the signature.
func Canonicalize(doc []byte) ([]byte, error) {
	c, err := jcs.Transform(doc)
	if err != nil {
		return nil, fmt.Errorf("seal: canonicalize json: %w", err)
	}
	return c, nil
}

// SignJSON canonicalises doc and returns the canonical bytes with a binary
// detached signature over them.
func (s *Sealer) SignJSON(doc []byte) (canonical, sig []byte, err error) {
	canonical, err = Canonicalize(doc)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := s.SignDetached(&buf, bytes.NewReader(canonical)); err != nil {
		return nil, nil, err
	}
	return canonical, buf.Bytes(), nil
}

// VerifyJSON canonicalises doc again and verifies sig over the result, so a
// document that was re-serialised verifies while a changed value does not.
func (s *Sealer) VerifyJSON(doc, sig []byte) (Signer, error) {
	canonical, err := Canonicalize(doc)
	if err != nil {
		return Signer{}, err
	}
	return s.VerifyDetached(bytes.NewReader(canonical), bytes.NewReader(sig))
}
