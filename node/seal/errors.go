package seal

import (
	"errors"
	"io"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
)

// Errors returned by Open and the Verify functions. They are wrapped with
// context; test with errors.Is. Any error means the data must not be
// trusted; the kinds exist so the node can log and count them apart (a peer
// with a rotated key is not an attacker flipping bits).
var (
	// ErrNotSigned: the message carries no signature at all.
	ErrNotSigned = errors.New("not signed")
	// ErrUnknownSigner: signed by a key that is not in the keyring.
	ErrUnknownSigner = errors.New("signed by unknown key")
	// ErrBadSignature: a signature by a known key that does not verify
	// (changed data or signature, expired or revoked key, malformed
	// signature).
	ErrBadSignature = errors.New("bad signature")
	// ErrTampered: the ciphertext was modified, truncated or is not a
	// well-formed message at all (MDC or AEAD check failed, unexpected end
	// of data, broken packet structure).
	ErrTampered = errors.New("ciphertext tampered or truncated")
	// ErrNotForUs: the message is not encrypted to this node's key.
	ErrNotForUs = errors.New("not encrypted to this node")
	// ErrNotEncrypted: Open was given a message that is not encrypted.
	// Sealed objects are always encrypted; accepting plaintext would let
	// anyone bypass the confidentiality the caller relies on.
	ErrNotEncrypted = errors.New("not encrypted")
)

// kindError keeps the go-crypto error as detail for logs while errors.Is
// matches the Kurier kind.
type kindError struct {
	kind   error
	detail error
}

func (e *kindError) Error() string { return e.kind.Error() + ": " + e.detail.Error() }

func (e *kindError) Is(target error) bool { return target == e.kind }

func (e *kindError) Unwrap() error { return e.detail }

func withKind(kind, detail error) error { return &kindError{kind: kind, detail: detail} }

// classifyStream maps an error from reading (decrypting) a message to
// ErrTampered when it says the ciphertext is broken. Errors of the source
// reader itself are passed through by the callers before this is reached.
func classifyStream(err error) error {
	var (
		decErr    pgperrors.DecryptWithSessionKeyError
		decPtr    *pgperrors.DecryptWithSessionKeyError
		structErr pgperrors.StructuralError
		aeadErr   pgperrors.AEADError
		malformed pgperrors.ErrMalformedMessage
		unknown   pgperrors.UnknownPacketTypeError
		critical  pgperrors.CriticalUnknownPacketTypeError
		unsupp    pgperrors.UnsupportedError
		sigErr    pgperrors.SignatureError
	)
	switch {
	case errors.Is(err, pgperrors.ErrMDCHashMismatch),
		errors.Is(err, pgperrors.ErrMDCMissing),
		errors.Is(err, pgperrors.ErrAEADTagVerification),
		errors.Is(err, pgperrors.ErrDecryptSessionKeyParsing),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF), // EOF before the message is complete
		errors.As(err, &decErr),
		errors.As(err, &decPtr),
		errors.As(err, &structErr),
		errors.As(err, &aeadErr),
		// Not a well-formed OpenPGP message at all (garbage, empty input).
		errors.As(err, &malformed),
		errors.As(err, &unknown),
		errors.As(err, &critical),
		// A packet version or algorithm no profile of ours writes: what
		// random bytes become when they happen to parse as a header.
		errors.As(err, &unsupp),
		// While reading, go-crypto reports only integrity (MDC) failures
		// as SignatureError; real signature results come afterwards.
		errors.As(err, &sigErr):
		return withKind(ErrTampered, err)
	}
	return err
}

// classifySignature maps the signature result of a fully read message.
func classifySignature(err error) error {
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		return withKind(ErrUnknownSigner, err)
	}
	return withKind(ErrBadSignature, err)
}
