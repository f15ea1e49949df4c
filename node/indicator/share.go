package indicator

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/segment"
	"github.com/kurier/kurier/node/stix"
)

// Load reads the stored records behind index entries (from Entries), in
// order. Federation selects entries by policy first and reads only what it
// sends. Like load, it checks each record is the object the index says,
// but by looking for its id in the canonical JSON rather than decoding it
// again (the feed reads every stored version).
func (s *Service) Load(ctx context.Context, entries []index.Entry) ([]Stored, error) {
	out := make([]Stored, 0, len(entries))
	for _, e := range entries {
		r, err := s.seg.Get(ctx, segment.Location{Segment: e.Loc.Segment, Offset: e.Loc.Offset, Length: e.Loc.Length})
		if err != nil {
			return nil, fmt.Errorf("indicator: read %s: %w", e.ID, err)
		}
		if !bytes.Contains(r.Object, []byte(`"id":"`+e.ID+`"`)) {
			return nil, fmt.Errorf("indicator: index points %s at a record of another object: reindex", e.ID)
		}
		out = append(out, Stored{
			Object: r.Object, ID: e.ID, Type: e.Type, Version: e.Modified, Added: e.Added, Origin: r.Origin,
			TLP: r.TLP, Revoked: e.Revoked, Signature: r.Sig, Path: r.Path,
		})
	}
	return out, nil
}

// Remark issues a new version of one of this node's objects whose TLP
// marking is tlp: the origin narrows (or widens) an object's sharing. Other
// TLP markings are replaced; other markings are kept. Federation then sends
// peers that may no longer see the object a signed tombstone.
func (s *Service) Remark(ctx context.Context, id string, tlp stix.TLP, now time.Time) (*stix.Object, error) {
	if !tlp.Valid() {
		return nil, fmt.Errorf("%w: invalid TLP", ErrRejected)
	}
	cur, ok, err := s.Current(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if cur.Origin != s.self.Fingerprint() {
		return nil, fmt.Errorf("%w: %s belongs to node %s", ErrNotOrigin, id, cur.Origin)
	}
	o, err := stix.DecodeObject(cur.Object)
	if err != nil {
		return nil, fmt.Errorf("indicator: decode %s: %w", id, err)
	}
	if o.Revoked {
		return nil, fmt.Errorf("%w: %s is revoked", ErrRejected, id)
	}
	if o.Modified.IsZero() {
		return nil, fmt.Errorf("%w: %s has no modified property and cannot be versioned", ErrRejected, id)
	}
	refs := slices.DeleteFunc(slices.Clone(o.ObjectMarkingRefs), stix.IsTLPMarking)
	refs = append(refs, tlp.MarkingID())
	mod := now.UTC().Truncate(time.Millisecond)
	if !mod.After(o.Modified.Time()) {
		mod = o.Modified.Time().Add(time.Millisecond).Truncate(time.Millisecond)
	}
	nv := o.Clone()
	if err := nv.Set("object_marking_refs", refs); err != nil {
		return nil, err
	}
	if err := nv.Set("modified", stix.NewTimestamp(mod)); err != nil {
		return nil, err
	}
	if _, err := s.Add(ctx, nv); err != nil {
		return nil, err
	}
	return nv, nil
}
