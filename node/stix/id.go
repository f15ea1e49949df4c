package stix

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gowebpki/jcs"
)

// SCONamespace is the UUIDv5 namespace for deterministic SCO identifiers
// (STIX 2.1 section 2.9).
const SCONamespace = "00abedb4-aa42-466c-9c01-fed23315a9b7"

var scoNamespace = mustUUID(SCONamespace)

// UUID is an RFC 4122 UUID.
type UUID [16]byte

func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Version returns the UUID version (the high nibble of byte 6).
func (u UUID) Version() int { return int(u[6] >> 4) }

// Variant reports whether the UUID has the RFC 4122 variant (10xx).
func (u UUID) rfc4122() bool { return u[8]&0xc0 == 0x80 }

// ParseUUID parses the canonical 8-4-4-4-12 hex form (either case).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, errors.New("not a UUID in 8-4-4-4-12 form")
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, errors.New("UUID contains non-hex characters")
	}
	return u, nil
}

func mustUUID(s string) UUID {
	u, err := ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

// NewUUIDv4 returns a random UUID.
func NewUUIDv4() UUID {
	var u UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// NewUUIDv5 returns the name-based SHA-1 UUID of name in namespace ns.
func NewUUIDv5(ns UUID, name []byte) UUID {
	h := sha1.New()
	h.Write(ns[:])
	h.Write(name)
	var u UUID
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// NewID returns a fresh identifier "typ--<random UUIDv4>".
func NewID(typ string) string { return typ + "--" + NewUUIDv4().String() }

var typeNameRE = regexp.MustCompile(`^([a-z][a-z0-9]*)+(-[a-z0-9]+)*-?$`)

// ValidTypeName reports whether s is a syntactically valid STIX type name.
func ValidTypeName(s string) bool {
	return len(s) >= 3 && len(s) <= 250 && typeNameRE.MatchString(s)
}

// ParseID splits an identifier "type--UUID" and checks that the UUID is an
// RFC 4122 UUID (variant 10xx, version 1–5).
func ParseID(id string) (typ string, u UUID, err error) {
	i := strings.Index(id, "--")
	if i < 0 {
		return "", u, fmt.Errorf("identifier %q is not of the form type--UUID", id)
	}
	typ = id[:i]
	if !ValidTypeName(typ) {
		return "", u, fmt.Errorf("identifier %q has an invalid type part", id)
	}
	u, err = ParseUUID(id[i+2:])
	if err != nil {
		return "", u, fmt.Errorf("identifier %q: %v", id, err)
	}
	if !u.rfc4122() || u.Version() < 1 || u.Version() > 5 {
		return "", u, fmt.Errorf("identifier %q: UUID is not an RFC 4122 UUID (version 1-5, variant 10xx)", id)
	}
	return typ, u, nil
}

// IDType returns the type part of an identifier ("" if malformed).
func IDType(id string) string {
	if i := strings.Index(id, "--"); i > 0 {
		return id[:i]
	}
	return ""
}

// idContributing lists, per SCO type, the ID contributing properties of
// STIX 2.1 section 6 (process has none: it always uses UUIDv4).
var idContributing = map[string][]string{
	"artifact":             {"hashes", "payload_bin"},
	"autonomous-system":    {"number"},
	"directory":            {"path"},
	"domain-name":          {"value"},
	"email-addr":           {"value"},
	"email-message":        {"from_ref", "subject", "body"},
	"file":                 {"hashes", "name", "extensions", "parent_directory_ref"},
	"ipv4-addr":            {"value"},
	"ipv6-addr":            {"value"},
	"mac-addr":             {"value"},
	"mutex":                {"name"},
	"network-traffic":      {"start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"},
	"software":             {"name", "cpe", "swid", "vendor", "version"},
	"url":                  {"value"},
	"user-account":         {"account_type", "user_id", "account_login"},
	"windows-registry-key": {"key", "values"},
	"x509-certificate":     {"hashes", "serial_number"},
}

// ErrNotDeterministic is returned by SCOID when the object's type has no ID
// contributing properties, or none of them is present (the spec then asks
// for a UUIDv4).
var ErrNotDeterministic = errors.New("stix: object has no deterministic identifier")

// SCOID computes the deterministic identifier of a cyber-observable object:
// UUIDv5 in the SCO namespace over the RFC 8785 canonical JSON of the ID
// contributing properties present (of "hashes", only one hash, preferring
// MD5, SHA-1, SHA-256, SHA-512, else the first listed).
func SCOID(o *Object) (string, error) {
	props, ok := idContributing[o.Type]
	if !ok {
		return "", ErrNotDeterministic
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for _, p := range props {
		raw, ok := o.props[p]
		if !ok {
			continue
		}
		if p == "hashes" {
			h, err := chooseOneHash(raw)
			if err != nil {
				return "", fmt.Errorf("stix: %s: hashes: %w", o.ID, err)
			}
			if h == nil {
				continue
			}
			raw = h
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(p)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(raw)
		n++
	}
	if n == 0 {
		return "", ErrNotDeterministic
	}
	buf.WriteByte('}')
	canon, err := jcs.Transform(buf.Bytes())
	if err != nil {
		return "", fmt.Errorf("stix: canonicalising ID contributing properties: %w", err)
	}
	return o.Type + "--" + NewUUIDv5(scoNamespace, canon).String(), nil
}

func chooseOneHash(raw json.RawMessage) (json.RawMessage, error) {
	keys, props, err := decodeProps(raw)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	pick := keys[0]
	for _, pref := range []string{"MD5", "SHA-1", "SHA-256", "SHA-512"} {
		if _, ok := props[pref]; ok {
			pick = pref
			break
		}
	}
	kb, _ := json.Marshal(pick)
	return json.RawMessage(`{` + string(kb) + `:` + string(props[pick]) + `}`), nil
}

// nodeNamespace derives a Kurier node's STIX identity id from its key
// fingerprint, so every node computes the same id for a peer without asking
// it.
var nodeNamespace = mustUUID("01686beb-6580-46a6-85cd-a870b1fe8187")

// NodeIdentityID is the STIX identity id (identity--UUIDv5) of the Kurier
// node whose OpenPGP key has this fingerprint.
func NodeIdentityID(fingerprint string) string {
	return "identity--" + NewUUIDv5(nodeNamespace, []byte(fingerprint)).String()
}
