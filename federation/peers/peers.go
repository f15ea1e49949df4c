// Package peers keeps the node's peer configuration: one declarative,
// versioned JSON document per peer in the objects bucket
// (federation/peers/<name>.json). The document pins the peer's key by
// fingerprint and holds its policy; its version counter goes up with every
// change and the bucket keeps every old version, so the policy a peer was
// served under can always be read back (Store.At).
//
// Local admin commands (`kurier peer add`) write the documents straight to
// the store; a running node reloads them within seconds.
package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/store"
)

// Prefix is where peer documents live in the objects bucket.
const Prefix = "federation/peers/"

// maxDocBytes bounds a peer document read from the store.
const maxDocBytes = 1 << 20

// Errors callers test for.
var (
	ErrNotFound = errors.New("peers: no such peer")
	ErrExists   = errors.New("peers: peer already exists")
)

// Peer is one peer's document.
type Peer struct {
	// Name is the local name of the peer (lower-case letters, digits, '-').
	Name string `json:"name"`
	// URL is the peer's base URL (its /federation/v1 endpoints live below).
	URL string `json:"url"`
	// Fingerprint pins the peer's OpenPGP primary key.
	Fingerprint string `json:"fingerprint"`
	// PublicKey is the peer's armored public key (its fingerprint is
	// Fingerprint).
	PublicKey string `json:"public_key"`
	// Policy is what flows between this node and the peer, both ways.
	Policy policy.Policy `json:"policy"`
	// Interval is the period of the pull when no push notice arrives.
	Interval Duration `json:"interval"`
	// Version counts changes of this document (1 for a new peer).
	Version int `json:"version"`
	// Updated is when this version was written.
	Updated time.Time `json:"updated"`
	// Comment is free text for operators.
	Comment string `json:"comment,omitempty"`
	// Paused suspends the exchange without forgetting the peer: no pulls,
	// no notices, and its requests are refused (reason "policy").
	Paused bool `json:"paused,omitempty"`

	entity *openpgp.Entity
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration time.Duration

// MarshalJSON writes Go duration syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads Go duration syntax.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`duration must be a string like "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// DefaultInterval is the pull period of a peer added without --interval.
const DefaultInterval = 30 * time.Second

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName checks a peer name.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("peers: name %q must be 1-63 lower-case letters, digits or '-', starting with a letter or digit", name)
	}
	return nil
}

// New builds a peer document from an armored (or binary) public key,
// checking the key and, if fingerprint is not empty, that the key is the
// one expected.
func New(name, rawURL string, key []byte, fingerprint string, p policy.Policy, interval time.Duration) (Peer, error) {
	el, err := identity.ReadPublicKeys(bytes.NewReader(key))
	if err != nil {
		return Peer{}, fmt.Errorf("peers: key: %w", err)
	}
	if len(el) != 1 {
		return Peer{}, fmt.Errorf("peers: key file holds %d keys; give exactly the peer's key", len(el))
	}
	fpr := identity.Fingerprint(el[0])
	if want := NormalizeFingerprint(fingerprint); want != "" && want != fpr {
		return Peer{}, fmt.Errorf("peers: the key's fingerprint is %s, not the expected %s: do not add this peer until the difference is explained", fpr, want)
	}
	armored, err := Armor(el[0])
	if err != nil {
		return Peer{}, err
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	pr := Peer{Name: name, URL: strings.TrimRight(rawURL, "/"), Fingerprint: fpr, PublicKey: armored,
		Policy: p.Normalize(), Interval: Duration(interval), entity: el[0]}
	return pr, pr.Validate()
}

// NormalizeFingerprint removes spaces and upper-cases, as people copy
// fingerprints from gpg output.
func NormalizeFingerprint(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), ":", ""))
}

// Validate checks the document.
func (p *Peer) Validate() error {
	if err := ValidName(p.Name); err != nil {
		return err
	}
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("peers: url %q must be an http or https base URL, e.g. https://kurier.cert.example", p.URL)
	}
	if p.Interval.D() < time.Second || p.Interval.D() > 24*time.Hour {
		return fmt.Errorf("peers: interval %s must be between 1s and 24h", p.Interval.D())
	}
	if err := p.Policy.Validate(); err != nil {
		return err
	}
	if _, err := p.Entity(); err != nil {
		return err
	}
	return nil
}

// Entity returns the pinned public key, checking it matches Fingerprint.
func (p *Peer) Entity() (*openpgp.Entity, error) {
	if p.entity != nil {
		return p.entity, nil
	}
	el, err := identity.ReadPublicKeys(strings.NewReader(p.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("peers: %s: key: %w", p.Name, err)
	}
	if len(el) != 1 || identity.Fingerprint(el[0]) != p.Fingerprint {
		return nil, fmt.Errorf("peers: %s: stored key does not match the pinned fingerprint %s", p.Name, p.Fingerprint)
	}
	p.entity = el[0]
	return p.entity, nil
}

// Armor returns an entity's public key, ASCII-armored (with the CRC for v4
// keys, as GnuPG 2.2 expects, and without for v6 keys, as RFC 9580 says).
func Armor(e *openpgp.Entity) (string, error) {
	var buf bytes.Buffer
	w, err := armor.EncodeWithChecksumOption(&buf, openpgp.PublicKeyType, nil, e.PrimaryKey.Version != 6)
	if err != nil {
		return "", err
	}
	if err := e.Serialize(w); err != nil {
		return "", fmt.Errorf("peers: serialize key: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	buf.WriteByte('\n')
	return buf.String(), nil
}

// Store reads and writes peer documents in a bucket.
type Store struct {
	bucket store.Bucket
	now    func() time.Time
}

// NewStore keeps peer documents in bucket.
func NewStore(bucket store.Bucket) *Store { return &Store{bucket: bucket, now: time.Now} }

// Key is the object key of a peer's document.
func Key(name string) string { return Prefix + name + ".json" }

// Get reads a peer's current document.
func (s *Store) Get(ctx context.Context, name string) (Peer, error) {
	if err := ValidName(name); err != nil {
		return Peer{}, err
	}
	return s.read(ctx, Key(name), "")
}

func (s *Store) read(ctx context.Context, key, version string) (Peer, error) {
	rc, _, err := s.bucket.Get(ctx, key, version)
	if errors.Is(err, store.ErrNotFound) {
		return Peer{}, fmt.Errorf("%w: %s", ErrNotFound, strings.TrimSuffix(strings.TrimPrefix(key, Prefix), ".json"))
	}
	if err != nil {
		return Peer{}, fmt.Errorf("peers: read %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxDocBytes+1))
	if err != nil {
		return Peer{}, fmt.Errorf("peers: read %s: %w", key, err)
	}
	if len(data) > maxDocBytes {
		return Peer{}, fmt.Errorf("peers: %s is larger than %d bytes", key, maxDocBytes)
	}
	var p Peer
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Peer{}, fmt.Errorf("peers: decode %s: %w", key, err)
	}
	return p, nil
}

// List reads every current peer document, by name. A document that does
// not read or validate is reported in errs and left out, so one bad file
// does not stop federation with every other peer.
func (s *Store) List(ctx context.Context) (peers []Peer, errs []error) {
	for info, err := range s.bucket.List(ctx, Prefix, "") {
		if err != nil {
			return peers, append(errs, fmt.Errorf("peers: list: %w", err))
		}
		if !strings.HasSuffix(info.Key, ".json") || strings.Contains(strings.TrimPrefix(info.Key, Prefix), "/") {
			continue
		}
		p, err := s.read(ctx, info.Key, "")
		if err == nil {
			err = p.Validate()
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		peers = append(peers, p)
	}
	return peers, errs
}

// Add stores a new peer (version after any earlier peer of that name, so
// version numbers never repeat).
func (s *Store) Add(ctx context.Context, p Peer) (Peer, error) {
	if _, err := s.Get(ctx, p.Name); err == nil {
		return Peer{}, fmt.Errorf("%w: %s (use `kurier peer update`)", ErrExists, p.Name)
	} else if !errors.Is(err, ErrNotFound) {
		return Peer{}, err
	}
	last, err := s.lastVersion(ctx, p.Name)
	if err != nil {
		return Peer{}, err
	}
	p.Version = last + 1
	return p, s.put(ctx, p)
}

// Update stores a new version of an existing peer's document; change
// edits a copy of the current one.
func (s *Store) Update(ctx context.Context, name string, change func(*Peer) error) (Peer, error) {
	cur, err := s.Get(ctx, name)
	if err != nil {
		return Peer{}, err
	}
	next := cur
	if err := change(&next); err != nil {
		return Peer{}, err
	}
	next.Name, next.Version = cur.Name, cur.Version+1
	next.Policy = next.Policy.Normalize()
	return next, s.put(ctx, next)
}

func (s *Store) put(ctx context.Context, p Peer) error {
	p.Updated = s.now().UTC().Truncate(time.Second)
	if err := p.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if _, err := s.bucket.Put(ctx, Key(p.Name), bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), ContentType: "application/json"}); err != nil {
		return fmt.Errorf("peers: write %s: %w", p.Name, err)
	}
	return nil
}

// Remove deletes a peer (a delete marker: its history stays readable).
func (s *Store) Remove(ctx context.Context, name string) (Peer, error) {
	p, err := s.Get(ctx, name)
	if err != nil {
		return Peer{}, err
	}
	if err := s.bucket.Delete(ctx, Key(name), store.DeleteOptions{}); err != nil {
		return Peer{}, fmt.Errorf("peers: remove %s: %w", name, err)
	}
	return p, nil
}

// History returns every stored version of a peer's document, newest
// first (unreadable versions are skipped).
func (s *Store) History(ctx context.Context, name string) ([]Peer, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	vs, err := s.bucket.Versions(ctx, Key(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("peers: history of %s: %w", name, err)
	}
	var out []Peer
	for _, v := range vs {
		if v.DeleteMarker {
			continue
		}
		p, err := s.read(ctx, Key(name), v.VersionID)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// At returns the peer's document as it was at a version counter.
func (s *Store) At(ctx context.Context, name string, version int) (Peer, error) {
	h, err := s.History(ctx, name)
	if err != nil {
		return Peer{}, err
	}
	for _, p := range h {
		if p.Version == version {
			return p, nil
		}
	}
	return Peer{}, fmt.Errorf("%w: %s version %d", ErrNotFound, name, version)
}

func (s *Store) lastVersion(ctx context.Context, name string) (int, error) {
	h, err := s.History(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	last := 0
	for _, p := range h {
		last = max(last, p.Version)
	}
	return last, nil
}
