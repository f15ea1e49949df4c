// Package wire is the federation protocol between Kurier nodes, version 1:
// the signed request headers, the batch format of the change feed, the push
// notice and the identity document. docs/federation.md describes it for
// people; this package is the reference.
package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kurier/kurier/node/seal"
)

// Protocol names this version of the protocol.
const Protocol = "kurier-federation-v1"

// BasePath prefixes every federation endpoint.
const BasePath = "/federation/v1"

// Endpoints, relative to BasePath.
const (
	PathIdentity = "/identity"
	PathFeed     = "/feed"
	PathNotify   = "/notify"
	// PathEvidence receives an evidence transfer stream (POST, body
	// EvidenceMediaType); the answer is the receiver's signed receipt.
	PathEvidence = "/evidence"
	// PathEvidenceUploads + the hex SHA-256 of a transfer stream is a
	// resumable upload of that stream (docs/federation.md): GET answers
	// UploadStatus (how many bytes the receiver holds from the requesting
	// node); PUT with the query parameters UploadOffset and UploadLength
	// appends one chunk, signed over the chunk's SHA-256. The PUT that
	// completes the stream is answered with the receiver's signed receipt
	// (200), the others with UploadStatus (202).
	PathEvidenceUploads = "/evidence/uploads/"
)

// Query parameters of an upload chunk (PUT PathEvidenceUploads+sha256):
// the offset of the chunk in the stream, and the stream's full length.
// Both are in the signed target.
const (
	UploadOffset = "offset"
	UploadLength = "length"
)

// HeaderUploadOffset is set on a 409 answer to a chunk at the wrong
// offset: the offset the receiver expects.
const HeaderUploadOffset = "Kurier-Upload-Offset"

// UploadStatus is the state of a resumable evidence upload on the
// receiver: Offset bytes of the stream are stored (0 for none).
type UploadStatus struct {
	Offset int64 `json:"offset"`
}

// EvidenceMediaType is the media type of an evidence transfer stream (a
// tar stream, see package evidence).
const EvidenceMediaType = "application/vnd.kurier.evidence-transfer+tar"

// Request authentication headers.
const (
	// HeaderNode is the requesting node's key fingerprint.
	HeaderNode = "Kurier-Node"
	// HeaderDate is the request time (RFC 3339); the server accepts a
	// bounded clock skew.
	HeaderDate = "Kurier-Date"
	// HeaderNonce is a random value never to be used twice.
	HeaderNonce = "Kurier-Nonce"
	// HeaderSignature is the base64 of a binary detached OpenPGP
	// signature by the requesting node over SigningString.
	HeaderSignature = "Kurier-Signature"
)

// BatchMediaType is the media type of a feed batch: binary OpenPGP, signed
// by the serving node and encrypted to the requester, holding JSON lines.
const BatchMediaType = "application/vnd.kurier.batch+pgp"

// SigningString is what a request signature covers: the protocol, the
// method, the target relative to BasePath (path and query, as sent), the
// fingerprint of the node the request is for (so a request cannot be
// replayed against another node), the date, the nonce and the SHA-256 of
// the body.
func SigningString(method, target, to, date, nonce string, body []byte) []byte {
	return SigningStringHashed(method, target, to, date, nonce, sha256.Sum256(body))
}

// SigningStringHashed is SigningString for a body known by its SHA-256
// (a large body spooled to disk while hashing).
func SigningStringHashed(method, target, to, date, nonce string, sum [sha256.Size]byte) []byte {
	var b bytes.Buffer
	for _, s := range []string{Protocol, method, target, to, date, nonce, hex.EncodeToString(sum[:])} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Target returns the part of a request URL that is signed: the escaped
// path after BasePath, with the query. Proxies that mount a node under a
// prefix do not break signatures.
func Target(escapedPath, rawQuery string) (string, error) {
	i := strings.LastIndex(escapedPath, BasePath+"/")
	if i < 0 {
		return "", fmt.Errorf("wire: %q is not a federation path", escapedPath)
	}
	t := escapedPath[i+len(BasePath):]
	if rawQuery != "" {
		t += "?" + rawQuery
	}
	return t, nil
}

// NewNonce returns 16 random bytes in hex.
func NewNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Sign adds the authentication headers to req, signed by s, for the node
// whose fingerprint is to. body is the exact request body (nil for none).
// It returns the nonce, which a batch answering the request repeats.
func Sign(req *http.Request, s *seal.Sealer, to string, body []byte, now time.Time) (string, error) {
	return SignHashed(req, s, to, sha256.Sum256(body), now)
}

// SignHashed is Sign for a body known by its SHA-256: a sender streams a
// large body it has spooled (and hashed) beforehand.
func SignHashed(req *http.Request, s *seal.Sealer, to string, sum [sha256.Size]byte, now time.Time) (string, error) {
	target, err := Target(req.URL.EscapedPath(), req.URL.RawQuery)
	if err != nil {
		return "", err
	}
	date := now.UTC().Format(time.RFC3339)
	nonce := NewNonce()
	var sig bytes.Buffer
	if err := s.SignDetached(&sig, bytes.NewReader(SigningStringHashed(req.Method, target, to, date, nonce, sum))); err != nil {
		return "", err
	}
	req.Header.Set(HeaderNode, s.Self().Fingerprint())
	req.Header.Set(HeaderDate, date)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig.Bytes()))
	return nonce, nil
}

// Line is one line of a batch: exactly one member is set. A batch is a
// Header line, then Key and Record lines, then a Trailer line. A Record
// line is followed by the raw bytes of its object (Record.Size of them)
// and a newline, then, if it has an attachment, the attachment's object
// bytes and a newline: the objects travel exactly as their origin signed
// them, never re-encoded as JSON values.
type Line struct {
	Header  *Header  `json:"header,omitempty"`
	Key     *Key     `json:"key,omitempty"`
	Record  *Record  `json:"record,omitempty"`
	Trailer *Trailer `json:"trailer,omitempty"`
}

// Header opens a batch and binds it to one request.
type Header struct {
	Protocol string `json:"protocol"`
	// Server and Peer are the fingerprints of the serving and the
	// requesting node.
	Server string `json:"server"`
	Peer   string `json:"peer"`
	// Nonce repeats the request's nonce: an old batch cannot be replayed
	// as the answer to a new request.
	Nonce string `json:"nonce"`
	// Cursor is the cursor the batch starts from.
	Cursor string `json:"cursor"`
	// PolicyVersion is the version of the server's policy document for
	// this peer that decided the batch.
	PolicyVersion int `json:"policy_version"`
	// Head is the date_added of the newest version the server holds;
	// Versions how many versions it holds (for lag).
	Head     time.Time `json:"head"`
	Versions int64     `json:"versions"`
}

// Key delivers the public key of an origin other than the server, before
// the first record that needs it. Its fingerprint is checked by the
// receiver: a key proves nothing about a node except that signatures it
// verifies were made by the holder of that fingerprint.
type Key struct {
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
}

// Record is one object version with its provenance.
type Record struct {
	// Object is the canonical (RFC 8785) JSON of the version, exactly the
	// bytes the origin signed; it follows the record's line (Size bytes).
	Object []byte `json:"-"`
	Size   int    `json:"size"`
	// Sig is the origin's binary detached signature over Object.
	Sig []byte `json:"sig"`
	// Origin is the fingerprint of the node that signed Object.
	Origin string `json:"origin"`
	// Path lists the nodes the object went through after its origin,
	// oldest first, the server included when it is not the origin. The
	// receiver stores it as is.
	Path []string `json:"path,omitempty"`
	// TLP is the effective handling level on the server; the receiver
	// never handles the object below it (nor below the object's marking).
	TLP string `json:"tlp"`
	// Added is the version's date_added on the server.
	Added time.Time `json:"added"`
	// Tombstone is set when the record is a revoked version the origin
	// signed because the peer may no longer see a newer version (sharing
	// narrowed): the receiver hides the object.
	Tombstone bool `json:"tombstone,omitempty"`
	// Attachment is the origin's tombstone for the previous version of the
	// object, sent with a version that may not travel as far (more
	// restrictive, other labels). A relay keeps it for the nodes after it
	// that may not see the new version.
	Attachment *Attachment `json:"attachment,omitempty"`
}

// Attachment is a tombstone carried along with a newer version; its
// object bytes follow the record's object.
type Attachment struct {
	Object []byte `json:"-"`
	Size   int    `json:"size"`
	Sig    []byte `json:"sig"`
}

// Trailer closes a batch.
type Trailer struct {
	// Next is the cursor of the following batch.
	Next string `json:"next"`
	// More is set when the server has more to send now.
	More bool `json:"more"`
	// Records counts the Record lines (a cut batch also fails the
	// signature check; this is a second, plain check).
	Records int `json:"records"`
	// Scanned counts the feed entries examined; Withheld those withheld
	// by the server's policy.
	Scanned  int `json:"scanned"`
	Withheld int `json:"withheld"`
	// Advanced counts the feed entries the cursor moved past (0 while a
	// policy change is being swept); Reached is the date_added the cursor
	// now stands at. With Header.Versions and Header.Head they give the
	// receiver its lag.
	Advanced int       `json:"advanced"`
	Reached  time.Time `json:"reached,omitzero"`
}

// Notice is the body of a push notice: the sender has stored new versions.
type Notice struct {
	Head time.Time `json:"head"`
}

// ErrBadBatch wraps every malformed-batch error.
var ErrBadBatch = errors.New("wire: malformed batch")

// Batch is a decoded batch.
type Batch struct {
	Header  Header
	Keys    []Key
	Records []Record
	Trailer Trailer
}

// maxObjectBytes bounds one object in a batch.
const maxObjectBytes = 16 << 20

// DecodeBatch parses a batch's plaintext (already decrypted and verified).
// Objects are sub-slices of plain.
func DecodeBatch(plain []byte) (*Batch, error) {
	b := &Batch{}
	var sawHeader, sawTrailer bool
	next := func() []byte {
		i := bytes.IndexByte(plain, '\n')
		var line []byte
		if i < 0 {
			line, plain = plain, nil
		} else {
			line, plain = plain[:i], plain[i+1:]
		}
		return line
	}
	raw := func(n int) ([]byte, bool) {
		if n < 0 || n > maxObjectBytes || len(plain) < n+1 || plain[n] != '\n' {
			return nil, false
		}
		obj := plain[:n:n]
		plain = plain[n+1:]
		return obj, true
	}
	for n := 1; len(plain) > 0; n++ {
		line := next()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if sawTrailer {
			return nil, fmt.Errorf("%w: data after the trailer (line %d)", ErrBadBatch, n)
		}
		var l Line
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadBatch, n, err)
		}
		switch {
		case l.Header != nil && !sawHeader && n == 1:
			b.Header, sawHeader = *l.Header, true
		case !sawHeader:
			return nil, fmt.Errorf("%w: line %d: a batch starts with its header", ErrBadBatch, n)
		case l.Key != nil:
			b.Keys = append(b.Keys, *l.Key)
		case l.Record != nil:
			r := l.Record
			var ok bool
			if r.Object, ok = raw(r.Size); !ok {
				return nil, fmt.Errorf("%w: line %d: record object of %d bytes missing or cut", ErrBadBatch, n, r.Size)
			}
			if r.Attachment != nil {
				if r.Attachment.Object, ok = raw(r.Attachment.Size); !ok {
					return nil, fmt.Errorf("%w: line %d: attachment of %d bytes missing or cut", ErrBadBatch, n, r.Attachment.Size)
				}
			}
			b.Records = append(b.Records, *r)
		case l.Trailer != nil:
			b.Trailer, sawTrailer = *l.Trailer, true
		default:
			return nil, fmt.Errorf("%w: line %d: unexpected line", ErrBadBatch, n)
		}
	}
	if !sawHeader || !sawTrailer {
		return nil, fmt.Errorf("%w: no header or no trailer (cut short?)", ErrBadBatch)
	}
	if b.Header.Protocol != Protocol {
		return nil, fmt.Errorf("%w: protocol %q, want %q", ErrBadBatch, b.Header.Protocol, Protocol)
	}
	if b.Trailer.Records != len(b.Records) {
		return nil, fmt.Errorf("%w: trailer counts %d records, batch holds %d", ErrBadBatch, b.Trailer.Records, len(b.Records))
	}
	return b, nil
}

// Encoder writes batch lines.
type Encoder struct {
	w   *bytes.Buffer
	enc *json.Encoder
}

// NewEncoder writes lines to w.
func NewEncoder(w *bytes.Buffer) *Encoder {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	return &Encoder{w: w, enc: e}
}

// Encode writes one line, and a record's object (and attachment) bytes.
func (e *Encoder) Encode(l Line) error {
	if r := l.Record; r != nil {
		r.Size = len(r.Object)
		if r.Attachment != nil {
			r.Attachment.Size = len(r.Attachment.Object)
		}
	}
	if err := e.enc.Encode(l); err != nil {
		return err
	}
	if r := l.Record; r != nil {
		e.w.Write(r.Object)
		e.w.WriteByte('\n')
		if r.Attachment != nil {
			e.w.Write(r.Attachment.Object)
			e.w.WriteByte('\n')
		}
	}
	return nil
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
