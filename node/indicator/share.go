package indicator

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/stix"
)

// Load reads the stored records behind index entries (from Entries), in
// order. Federation selects entries by policy first and reads only what it
// sends.
func (s *Service) Load(ctx context.Context, entries []index.Entry) ([]Stored, error) {
	return s.loadAll(ctx, entries)
}

// Remark issues a new version of one of this node's objects whose TLP
// marking is tlp: the origin narrows (or widens) an object's sharing. Other
// TLP markings are replaced; other markings are kept. Federation then sends
// peers that may no longer see the object a signed tombstone.
func (s *Service) Remark(ctx context.Context, id string, tlp stix.TLP, now time.Time) (*stix.Object, error) {
	if !tlp.Valid() {
		return nil, fmt.Errorf("%w: invalid TLP", ErrRejected)
	}
	o, err := s.ownCurrent(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Revoked {
		return nil, fmt.Errorf("%w: %s is revoked", ErrRejected, id)
	}
	refs := slices.DeleteFunc(slices.Clone(o.ObjectMarkingRefs), stix.IsTLPMarking)
	refs = append(refs, tlp.MarkingID())
	nv := o.Clone()
	if err := nv.Set("object_marking_refs", refs); err != nil {
		return nil, err
	}
	return s.issue(ctx, o, nv, now)
}
