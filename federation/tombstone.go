package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
)

// Retraction. When the origin narrows an object's sharing (a new version
// with a more restrictive TLP, other sharing groups, or a policy change
// that drops a peer) or withdraws it (a revoked version), a peer that
// received an earlier version must stop showing it. Revocations are
// versions and travel like any other. For a peer that may not see the
// new version, the origin signs a tombstone instead: the version the peer
// holds, with revoked: true and a modified one nanosecond later. It is a
// valid STIX version signed by the origin, so the receiver stores it
// through the normal path (the origin rule holds) and the object leaves
// its default views, searches and feeds; it carries nothing the peer did
// not already have; and any real newer version the peer may see later
// supersedes it. Its content depends only on the version it hides, so two
// tombstones for the same version are duplicates, never a conflict.
//
// Only the origin can sign tombstones. A relay that may pass on version N
// but not version N+1 needs the origin's tombstone for version N: the
// origin attaches it to version N+1 when it sends that to a relay peer,
// and the relay keeps it (federation/tombstones/<id>/<modified>.json).

const tombstonePrefix = "federation/tombstones/"

// tombstoneTime is the modified of the tombstone that hides version v.
func tombstoneTime(v time.Time) time.Time { return v.Add(time.Nanosecond) }

type signedDoc struct {
	Object json.RawMessage `json:"object"`
	Sig    []byte          `json:"sig"`
	Origin string          `json:"origin"`
}

type tombstones struct {
	f *Federation

	mu    sync.Mutex
	cache map[string]signedDoc // own tombstones by id+version (bounded FIFO)
	order []string
}

const tombstoneCacheSize = 4096

func newTombstones(f *Federation) *tombstones {
	return &tombstones{f: f, cache: map[string]signedDoc{}}
}

func tombKey(id string, v time.Time) string { return id + "\x00" + strconv.FormatInt(v.UnixNano(), 10) }

// own signs (or returns the cached) tombstone for a version this node
// wrote.
func (t *tombstones) own(v indicator.Stored) (signedDoc, error) {
	if v.Origin != t.f.fpr {
		return signedDoc{}, fmt.Errorf("federation: tombstone for %s: not our object", v.ID)
	}
	k := tombKey(v.ID, v.Version)
	t.mu.Lock()
	d, ok := t.cache[k]
	t.mu.Unlock()
	if ok {
		return d, nil
	}
	o, err := stix.DecodeObject(v.Object)
	if err != nil {
		return signedDoc{}, fmt.Errorf("federation: tombstone for %s: %w", v.ID, err)
	}
	if o.Modified.IsZero() {
		return signedDoc{}, fmt.Errorf("federation: %s has no modified property: it cannot be retracted", v.ID)
	}
	ts, err := stix.ParseTimestamp(tombstoneTime(o.Modified.Time()).UTC().Format("2006-01-02T15:04:05.000000000Z"))
	if err != nil {
		return signedDoc{}, err
	}
	if err := o.Set("revoked", true); err != nil {
		return signedDoc{}, err
	}
	if err := o.Set("modified", ts); err != nil {
		return signedDoc{}, err
	}
	raw, err := o.MarshalJSON()
	if err != nil {
		return signedDoc{}, err
	}
	canon, sig, err := t.f.signer().SignJSON(raw)
	if err != nil {
		return signedDoc{}, err
	}
	d = signedDoc{Object: canon, Sig: sig, Origin: t.f.fpr}
	t.mu.Lock()
	if _, ok := t.cache[k]; !ok {
		t.cache[k] = d
		t.order = append(t.order, k)
		for len(t.order) > tombstoneCacheSize {
			delete(t.cache, t.order[0])
			t.order = t.order[1:]
		}
	}
	t.mu.Unlock()
	return d, nil
}

func attachmentKey(id string, version time.Time) string {
	return tombstonePrefix + id + "/" + strconv.FormatInt(version.UnixNano(), 10) + ".json"
}

// kept returns the origin's tombstone for a version of another node's
// object, if a relay attachment delivered one.
func (t *tombstones) kept(ctx context.Context, id string, version time.Time) (signedDoc, bool, error) {
	rc, _, err := t.f.opts.Objects.Get(ctx, attachmentKey(id, version), "")
	if errors.Is(err, store.ErrNotFound) {
		return signedDoc{}, false, nil
	}
	if err != nil {
		return signedDoc{}, false, fmt.Errorf("federation: read tombstone: %w", err)
	}
	defer rc.Close()
	var d signedDoc
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&d); err != nil {
		return signedDoc{}, false, fmt.Errorf("federation: decode tombstone: %w", err)
	}
	return d, true, nil
}

// keep stores a verified attachment (create-if-absent: a tombstone for a
// version never changes).
func (t *tombstones) keep(ctx context.Context, id string, version time.Time, d signedDoc) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = t.f.opts.Objects.Put(ctx, attachmentKey(id, version), bytes.NewReader(b), store.PutOptions{
		IfAbsent: true, Size: int64(len(b)), ContentType: "application/json",
	})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("federation: keep tombstone: %w", err)
	}
	return nil
}
