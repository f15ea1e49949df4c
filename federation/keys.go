package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/store"
)

// keysPrefix is where the public keys of origins other than our peers are
// kept (federation/keys/<fingerprint>.asc), learnt from relay peers, so
// this node can verify and pass on their objects.
const keysPrefix = "federation/keys/"

// originKeys finds the public key of an object's origin: a pinned peer's
// key, or one learnt from a relay. A key is stored under its own
// fingerprint, which is a hash of the key: it cannot be swapped.
type originKeys struct {
	bucket store.Bucket

	mu      sync.Mutex
	cache   map[string]*openpgp.Entity
	sealers map[string]*seal.Sealer
}

func (k *originKeys) get(ctx context.Context, set *peerSet, fpr string) (*openpgp.Entity, error) {
	if ps, ok := set.byFpr[fpr]; ok {
		return ps.entity, nil
	}
	k.mu.Lock()
	e, ok := k.cache[fpr]
	k.mu.Unlock()
	if ok {
		return e, nil
	}
	if !validFingerprint(fpr) {
		return nil, fmt.Errorf("federation: %q is not a fingerprint", fpr)
	}
	rc, _, err := k.bucket.Get(ctx, keysPrefix+fpr+".asc", "")
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("federation: read key %s: %w", fpr, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("federation: read key %s: %w", fpr, err)
	}
	e, err = parseKey(string(data), fpr)
	if err != nil {
		return nil, err
	}
	k.remember(fpr, e)
	return e, nil
}

func (k *originKeys) remember(fpr string, e *openpgp.Entity) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cache == nil {
		k.cache = map[string]*openpgp.Entity{}
	}
	k.cache[fpr] = e
}

// learn checks that an armored key has the fingerprint claimed for it and
// keeps it.
func (k *originKeys) learn(ctx context.Context, fpr, armored string) (*openpgp.Entity, error) {
	e, err := parseKey(armored, fpr)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	_, known := k.cache[fpr]
	k.mu.Unlock()
	if !known {
		canon, err := peers.Armor(e)
		if err != nil {
			return nil, err
		}
		_, err = k.bucket.Put(ctx, keysPrefix+fpr+".asc", strings.NewReader(canon), store.PutOptions{
			IfAbsent: true, Size: int64(len(canon)), ContentType: "application/pgp-keys",
		})
		if err != nil && !errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("federation: keep key %s: %w", fpr, err)
		}
		k.remember(fpr, e)
	}
	return e, nil
}

// armored returns the armored public key of an origin, for passing it on.
func (k *originKeys) armored(ctx context.Context, set *peerSet, fpr string) (string, error) {
	if ps, ok := set.byFpr[fpr]; ok {
		return ps.cfg.PublicKey, nil
	}
	e, err := k.get(ctx, set, fpr)
	if err != nil {
		return "", err
	}
	if e == nil {
		return "", fmt.Errorf("federation: no key for origin %s", fpr)
	}
	return peers.Armor(e)
}

// sealer returns a Sealer that trusts only the key of fpr, for verifying
// its signatures (cached).
func (k *originKeys) sealer(self *identity.Identity, fpr string, e *openpgp.Entity) *seal.Sealer {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sealers == nil {
		k.sealers = map[string]*seal.Sealer{}
	}
	if s, ok := k.sealers[fpr]; ok {
		return s
	}
	s := seal.New(self, openpgp.EntityList{e})
	k.sealers[fpr] = s
	return s
}

func parseKey(armored, fpr string) (*openpgp.Entity, error) {
	el, err := identity.ReadPublicKeys(bytes.NewReader([]byte(armored)))
	if err != nil {
		return nil, fmt.Errorf("federation: key for %s: %w", fpr, err)
	}
	if len(el) != 1 || identity.Fingerprint(el[0]) != fpr {
		return nil, fmt.Errorf("federation: key delivered for %s has another fingerprint", fpr)
	}
	warmEntity(el[0])
	return el[0], nil
}

func validFingerprint(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// warmEntity has go-crypto check every self-signature of a key once,
// before the key is shared between goroutines. go-crypto caches the
// validity of a signature in the key the first time it checks it: two
// goroutines doing that first check together race.
func warmEntity(e *openpgp.Entity) {
	var zero time.Time
	_, _ = e.VerifyPrimaryKey(zero, nil)
	_, _ = e.LatestValidDirectSignature(zero, nil)
	for _, id := range e.Identities {
		if sig, err := id.LatestValidSelfCertification(zero, nil); err == nil {
			_ = id.Revoked(sig, zero, nil)
		}
	}
	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		if sig, err := sk.LatestValidBindingSignature(zero, nil); err == nil {
			_ = sk.Revoked(sig, zero)
		}
	}
}
