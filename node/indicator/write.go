package indicator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kurier/kurier/node/stix"
)

// Errors of the write operations; the API maps them to problems.
var (
	ErrNotFound  = errors.New("indicator: no such object")
	ErrNotOrigin = errors.New("indicator: only the origin node may issue new versions")
	// ErrNotCreator: the object names another producer in created_by_ref;
	// STIX lets only the creator issue new versions, even when this node
	// first published it (an imported report, say). It is also an
	// ErrNotOrigin, so callers that only know that one still answer 409.
	ErrNotCreator error = &refinedError{"indicator: only the object's creator may issue new versions", ErrNotOrigin}
	ErrRejected         = errors.New("indicator: object rejected")
)

// refinedError is a narrower kind of a broader error.
type refinedError struct {
	msg    string
	parent error
}

func (e *refinedError) Error() string { return e.msg }
func (e *refinedError) Unwrap() error { return e.parent }

// Add validates and stores objects this node creates (quick add,
// sightings). Any failure rejects the whole call: nothing is stored.
func (s *Service) Add(ctx context.Context, objs ...*stix.Object) (Result, error) {
	b := stix.NewBundle(objs...)
	vr := stix.ValidateBundle(b, &stix.BundleOptions{Options: stix.Options{KnownMarking: s.knownMarking}})
	if rej := vr.Rejected(); len(rej) > 0 {
		st := FailureOf(rej[0].ID, rej[0].Version, rej[0].Errors)
		s.m.rejected.WithLabelValues(st.Reason).Inc()
		return Result{Failures: []Status{st}}, fmt.Errorf("%w: %s", ErrRejected, st.Message)
	}
	subs := make([]Submission, len(objs))
	for i, o := range objs {
		subs[i] = Submission{Object: o}
	}
	return s.Store(ctx, subs)
}

// Revoke issues a new version of one of this node's objects with
// revoked: true; it then disappears from default queries and searches.
func (s *Service) Revoke(ctx context.Context, id string, now time.Time) (*stix.Object, error) {
	o, err := s.ownCurrent(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Revoked {
		return o, nil
	}
	nv := o.Clone()
	if err := nv.Set("revoked", true); err != nil {
		return nil, err
	}
	return s.issue(ctx, o, nv, now)
}

// ownCurrent decodes the current version of one of this node's own
// objects: only the origin may issue new versions, and only of objects
// with no creator named or created by one of the node's own identities.
func (s *Service) ownCurrent(ctx context.Context, id string) (*stix.Object, error) {
	cur, ok, err := s.Current(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if cur.Origin != s.self.Fingerprint() {
		s.m.rejected.WithLabelValues(ReasonNotOrigin).Inc()
		return nil, fmt.Errorf("%w: %s belongs to node %s", ErrNotOrigin, id, cur.Origin)
	}
	o, err := stix.DecodeObject(cur.Object)
	if err != nil {
		return nil, fmt.Errorf("indicator: decode %s: %w", id, err)
	}
	if o.CreatedByRef != "" && !s.creators[o.CreatedByRef] {
		s.m.rejected.WithLabelValues(ReasonNotCreator).Inc()
		return nil, fmt.Errorf("%w: %s was created by %s, not by this node", ErrNotCreator, id, o.CreatedByRef)
	}
	if o.Modified.IsZero() {
		return nil, fmt.Errorf("%w: %s has no modified property and cannot be versioned", ErrRejected, id)
	}
	return o, nil
}

// issue stores nv as the next version of o, stamped strictly after o at
// the millisecond precision STIX requires.
func (s *Service) issue(ctx context.Context, o, nv *stix.Object, now time.Time) (*stix.Object, error) {
	mod := now.UTC().Truncate(time.Millisecond)
	if !mod.After(o.Modified.Time()) {
		mod = o.Modified.Time().Add(time.Millisecond).Truncate(time.Millisecond)
	}
	if err := nv.Set("modified", stix.NewTimestamp(mod)); err != nil {
		return nil, err
	}
	if _, err := s.Add(ctx, nv); err != nil {
		return nil, err
	}
	return nv, nil
}
