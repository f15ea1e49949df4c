// Package auth holds API tokens and roles. A token is shown once when it is
// created and stored only as a SHA-256 hash, in the node's object store so
// that it survives like everything else the node keeps.
package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kurier/kurier/node/store"
)

// Role decides what a token may do.
type Role string

// The roles of a Kurier node.
const (
	// Analyst: CERT analysts working with threat indicators.
	Analyst Role = "analyst"
	// Liaison: law-enforcement liaisons moving evidence.
	Liaison Role = "liaison"
	// Operator: people keeping the node and its federation running.
	Operator Role = "operator"
	// Admin may do everything.
	Admin Role = "admin"
)

// Roles lists every role, for help texts and validation.
var Roles = []Role{Analyst, Liaison, Operator, Admin}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want analyst, liaison, operator or admin)", s)
}

// Allowed reports whether r may act where one of roles is required. Admin
// is allowed everywhere.
func (r Role) Allowed(roles ...Role) bool {
	if r == Admin {
		return true
	}
	for _, want := range roles {
		if r == want {
			return true
		}
	}
	return false
}

// Errors of authentication; the API maps them to 401 without saying which.
var (
	ErrNoToken      = errors.New("auth: no bearer token")
	ErrMalformed    = errors.New("auth: malformed token")
	ErrUnknownToken = errors.New("auth: unknown token")
	ErrRevoked      = errors.New("auth: token revoked")
)

// Token is the stored record of an API token (never the secret itself).
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Hash      string     `json:"sha256"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// TLPRed names the token's holder a recipient of TLP:RED: without it no
	// role sees TLP:RED objects (TLP 2.0: RED is for named recipients only).
	TLPRed bool `json:"tlp_red,omitempty"`
}

// TokenOption sets an optional attribute of a new token.
type TokenOption func(*Token)

// WithTLPRed makes the token's holder a named recipient of TLP:RED.
func WithTLPRed() TokenOption { return func(t *Token) { t.TLPRed = true } }

// Principal is who made a request.
type Principal struct {
	TokenID string
	Name    string
	Role    Role
	// TLPRed: the holder is a named recipient of TLP:RED (Token.TLPRed).
	TLPRed bool
}

type principalKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's principal, if authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

const (
	tokenPrefix = "kur_"
	keyPrefix   = "system/tokens/"
	// cacheTTL bounds how long a revoked token may still be accepted by a
	// running node (revocation may come from the CLI on the same store).
	cacheTTL = 5 * time.Second
)

// Tokens creates, lists, revokes and checks API tokens.
type Tokens struct {
	bucket store.Bucket
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	tok     Token
	fetched time.Time
}

// NewTokens keeps tokens in bucket.
func NewTokens(bucket store.Bucket) *Tokens {
	return &Tokens{bucket: bucket, now: time.Now, cache: map[string]cached{}}
}

// Create makes a token and returns its secret, which is never stored.
func (t *Tokens) Create(ctx context.Context, name string, role Role, opts ...TokenOption) (string, Token, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Token{}, errors.New("auth: token name must not be empty")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", Token{}, fmt.Errorf("auth: %w", err)
	}
	idb := make([]byte, 8)
	sec := make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return "", Token{}, fmt.Errorf("auth: random: %w", err)
	}
	if _, err := rand.Read(sec); err != nil {
		return "", Token{}, fmt.Errorf("auth: random: %w", err)
	}
	id := hex.EncodeToString(idb)
	secret := base64.RawURLEncoding.EncodeToString(sec)
	tok := Token{ID: id, Name: name, Role: role, Hash: hashSecret(secret), CreatedAt: t.now().UTC()}
	for _, o := range opts {
		o(&tok)
	}
	if err := t.put(ctx, tok, true); err != nil {
		return "", Token{}, err
	}
	return tokenPrefix + id + "_" + secret, tok, nil
}

// List returns every token record, revoked ones included.
func (t *Tokens) List(ctx context.Context) ([]Token, error) {
	var out []Token
	for info, err := range t.bucket.List(ctx, keyPrefix, "") {
		if err != nil {
			return nil, fmt.Errorf("auth: list tokens: %w", err)
		}
		tok, err := t.get(ctx, strings.TrimSuffix(strings.TrimPrefix(info.Key, keyPrefix), ".json"))
		if err != nil {
			return nil, err
		}
		out = append(out, tok)
	}
	return out, nil
}

// Revoke marks a token revoked; it stops working within cacheTTL everywhere.
func (t *Tokens) Revoke(ctx context.Context, id string) (Token, error) {
	tok, err := t.get(ctx, id)
	if err != nil {
		return Token{}, err
	}
	if tok.RevokedAt != nil {
		return tok, nil
	}
	now := t.now().UTC()
	tok.RevokedAt = &now
	if err := t.put(ctx, tok, false); err != nil {
		return Token{}, err
	}
	t.mu.Lock()
	delete(t.cache, id)
	t.mu.Unlock()
	return tok, nil
}

// Authenticate checks a bearer token and returns who it belongs to.
func (t *Tokens) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	if bearer == "" {
		return Principal{}, ErrNoToken
	}
	rest, ok := strings.CutPrefix(bearer, tokenPrefix)
	if !ok {
		return Principal{}, ErrMalformed
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || secret == "" {
		return Principal{}, ErrMalformed
	}
	if _, err := hex.DecodeString(id); err != nil {
		return Principal{}, ErrMalformed
	}
	tok, err := t.lookup(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hashSecret(secret))) != 1 {
		return Principal{}, ErrUnknownToken
	}
	if tok.RevokedAt != nil {
		return Principal{}, ErrRevoked
	}
	return Principal{TokenID: tok.ID, Name: tok.Name, Role: tok.Role, TLPRed: tok.TLPRed}, nil
}

func (t *Tokens) lookup(ctx context.Context, id string) (Token, error) {
	t.mu.Lock()
	c, ok := t.cache[id]
	t.mu.Unlock()
	if ok && t.now().Sub(c.fetched) < cacheTTL {
		return c.tok, nil
	}
	tok, err := t.get(ctx, id)
	if err != nil {
		return Token{}, err
	}
	t.mu.Lock()
	t.cache[id] = cached{tok: tok, fetched: t.now()}
	t.mu.Unlock()
	return tok, nil
}

func (t *Tokens) get(ctx context.Context, id string) (Token, error) {
	rc, _, err := t.bucket.Get(ctx, keyPrefix+id+".json", "")
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, fmt.Errorf("%w: %s", ErrUnknownToken, id)
	}
	if err != nil {
		return Token{}, fmt.Errorf("auth: read token %s: %w", id, err)
	}
	defer rc.Close()
	var tok Token
	if err := json.NewDecoder(io.LimitReader(rc, 64<<10)).Decode(&tok); err != nil {
		return Token{}, fmt.Errorf("auth: decode token %s: %w", id, err)
	}
	return tok, nil
}

func (t *Tokens) put(ctx context.Context, tok Token, create bool) error {
	b, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("auth: encode token: %w", err)
	}
	_, err = t.bucket.Put(ctx, keyPrefix+tok.ID+".json", bytes.NewReader(b), store.PutOptions{
		IfAbsent: create, Size: int64(len(b)), ContentType: "application/json",
	})
	if err != nil {
		return fmt.Errorf("auth: store token %s: %w", tok.ID, err)
	}
	return nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
