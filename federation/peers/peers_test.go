package peers

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/identity"
	fsstore "github.com/kurier/kurier/node/store/fs"
)

func newStore(t *testing.T) *Store {
	st, err := fsstore.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(context.Background(), "objects", false); err != nil {
		t.Fatal(err)
	}
	return NewStore(st.Bucket("objects"))
}

func key(t *testing.T) ([]byte, string) {
	id, err := identity.Generate("peer", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := id.ArmoredPublicKey()
	return pub, id.Fingerprint()
}

func TestNewChecks(t *testing.T) {
	pub, fpr := key(t)
	p, err := New("cert-fr", "https://kurier.cert.fr/", pub, strings.ToLower(fpr[:4])+" "+fpr[4:], policy.Policy{MaxTLP: "amber", Types: []string{"b-type", "a-type"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Fingerprint != fpr || p.URL != "https://kurier.cert.fr" || p.Interval.D() != DefaultInterval || p.Policy.Types[0] != "a-type" {
		t.Fatalf("%+v", p)
	}
	if _, err := New("cert-fr", "https://x", pub, strings.Repeat("0", 40), policy.Default(), 0); err == nil {
		t.Fatal("wrong fingerprint accepted")
	}
	for name, mk := range map[string]func() error{
		"bad name":      func() error { _, err := New("Cert FR", "https://x", pub, "", policy.Default(), 0); return err },
		"bad url":       func() error { _, err := New("x", "kurier.cert.fr", pub, "", policy.Default(), 0); return err },
		"red policy":    func() error { _, err := New("x", "https://x", pub, "", policy.Policy{MaxTLP: "red"}, 0); return err },
		"not a key":     func() error { _, err := New("x", "https://x", []byte("hello"), "", policy.Default(), 0); return err },
		"tiny interval": func() error { _, err := New("x", "https://x", pub, "", policy.Default(), time.Millisecond); return err },
	} {
		if mk() == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// A document whose key does not match its pinned fingerprint is unusable.
	other, _ := key(t)
	p.PublicKey, p.entity = string(other), nil
	if err := p.Validate(); err == nil {
		t.Fatal("swapped key validated")
	}
}

func TestStoreVersions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	pub, _ := key(t)
	p, _ := New("b", "https://b.example", pub, "", policy.Policy{MaxTLP: "amber", Groups: []string{"eu"}}, time.Minute)
	p, err := s.Add(ctx, p)
	if err != nil || p.Version != 1 {
		t.Fatal(p.Version, err)
	}
	if _, err := s.Add(ctx, p); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v", err)
	}
	p2, err := s.Update(ctx, "b", func(d *Peer) error { d.Policy.Groups = nil; d.Version = 99; return nil })
	if err != nil || p2.Version != 2 || p2.Policy.Groups != nil {
		t.Fatalf("update: %+v %v", p2, err)
	}
	old, err := s.At(ctx, "b", 1)
	if err != nil || len(old.Policy.Groups) != 1 {
		t.Fatalf("version 1: %+v %v", old, err)
	}
	if _, err := s.Remove(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after remove: %v", err)
	}
	list, errs := s.List(ctx)
	if len(list) != 0 || len(errs) != 0 {
		t.Fatalf("list after remove: %v %v", list, errs)
	}
	p3, err := s.Add(ctx, p)
	if err != nil || p3.Version != 3 {
		t.Fatalf("re-add continues the count: %d %v", p3.Version, err)
	}
	if h, _ := s.History(ctx, "b"); len(h) != 3 || h[0].Version != 3 {
		t.Fatalf("history %d versions", len(h))
	}
	if _, err := s.Update(ctx, "nobody", func(*Peer) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
}
