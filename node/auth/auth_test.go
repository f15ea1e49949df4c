package auth

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
	fsstore "github.com/kurier/kurier/node/store/fs"
)

func newTokens(t *testing.T) (*Tokens, store.Bucket) {
	t.Helper()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.EnsureBucket(ctx, "objects", false); err != nil {
		t.Fatal(err)
	}
	b := st.Bucket("objects")
	return NewTokens(b), b
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	tokens, bucket := newTokens(t)
	secret, tok, err := tokens.Create(ctx, "alice", Analyst)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "kur_"+tok.ID+"_") {
		t.Fatalf("token %q does not carry its id %s", secret, tok.ID)
	}
	p, err := tokens.Authenticate(ctx, secret)
	if err != nil || p.Name != "alice" || p.Role != Analyst || p.TokenID != tok.ID {
		t.Fatalf("authenticate = %+v, %v", p, err)
	}

	// Only the hash is stored: the secret appears nowhere in the store.
	for info, err := range bucket.List(ctx, "", "") {
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := bucket.Get(ctx, info.Key, "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		secretPart := secret[strings.LastIndexByte(secret, '_')+1:]
		if strings.Contains(string(b), secretPart) {
			t.Fatalf("secret stored in %s", info.Key)
		}
	}

	list, err := tokens.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "alice" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := tokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Authenticate(ctx, secret); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked token: %v", err)
	}
}

func TestRevocationSeenByOtherInstance(t *testing.T) {
	ctx := context.Background()
	node, bucket := newTokens(t)
	cli := NewTokens(bucket) // the CLI, on the same store
	now := time.Now()
	node.now = func() time.Time { return now }
	secret, tok, err := cli.Create(ctx, "bob", Operator)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(cacheTTL + time.Second)
	if _, err := node.Authenticate(ctx, secret); !errors.Is(err, ErrRevoked) {
		t.Fatalf("node still accepts a token revoked by the CLI: %v", err)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	ctx := context.Background()
	tokens, _ := newTokens(t)
	secret, _, err := tokens.Create(ctx, "carol", Liaison)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrNoToken},
		{"no prefix", "abc", ErrMalformed},
		{"no secret", "kur_0123456789abcdef", ErrMalformed},
		{"bad id", "kur_zz23456789abcdef_x", ErrMalformed},
		{"unknown id", "kur_0123456789abcdef_x", ErrUnknownToken},
		{"wrong secret", secret[:len(secret)-2] + "xx", ErrUnknownToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tokens.Authenticate(ctx, tt.token); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, _, err := tokens.Create(ctx, " ", Admin); err == nil {
		t.Error("empty name accepted")
	}
	if _, _, err := tokens.Create(ctx, "x", Role("king")); err == nil {
		t.Error("unknown role accepted")
	}
}

func TestRoleAllowed(t *testing.T) {
	tests := []struct {
		role  Role
		need  []Role
		allow bool
	}{
		{Analyst, []Role{Analyst}, true},
		{Analyst, []Role{Liaison}, false},
		{Liaison, []Role{Analyst, Liaison}, true},
		{Operator, []Role{Liaison}, false},
		{Admin, []Role{Liaison}, true},
		{Admin, nil, true},
	}
	for _, tt := range tests {
		if got := tt.role.Allowed(tt.need...); got != tt.allow {
			t.Errorf("%s.Allowed(%v) = %v", tt.role, tt.need, got)
		}
	}
}
