package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kurier/kurier/node/store"
)

// A package record (index/<id>.json) is locked, but a plain DELETE still
// puts a delete marker on top of it, which no lock prevents. A listing
// then leaves the package out, and create-if-absent takes its id as free.
// So the node also lists the records markers hide, loads those packages
// from the record's latest stored version, flags them, and refuses their
// ids to new packages.

// keyVersions is what the versions of one key hold.
type keyVersions struct {
	stored, markers int
	hidden          bool   // the current version is a delete marker
	latest          string // newest stored (non-marker) version, if any
}

func (k keyVersions) used() bool { return k.stored+k.markers > 0 }

// versionCounts counts the stored versions and delete markers of key. A key
// with no version at all holds none of either, which is not an error.
func versionCounts(ctx context.Context, b store.Bucket, key string) (keyVersions, error) {
	vs, err := b.Versions(ctx, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return keyVersions{}, err
	}
	var kv keyVersions
	for i, v := range vs {
		if v.DeleteMarker {
			kv.markers++
			kv.hidden = kv.hidden || i == 0 // newest first
			continue
		}
		kv.stored++
		if kv.latest == "" {
			kv.latest = v.VersionID
		}
	}
	return kv, nil
}

// recordState reads the versions of the package record at key
// (keyIndex of the package id).
func (s *Service) recordState(ctx context.Context, key string) (keyVersions, error) {
	kv, err := versionCounts(ctx, s.bucket, key)
	if err != nil {
		return kv, fmt.Errorf("evidence: versions of package record %s: %w", key, err)
	}
	return kv, nil
}

// loadHidden loads the package whose record at key a delete marker hides,
// from the record's latest stored version; nothing is lost, the package
// is only flagged. A key with nothing but markers has no package to load;
// putIndex still refuses its id.
func (s *Service) loadHidden(ctx context.Context, key string) error {
	st, err := s.recordState(ctx, key)
	if err != nil {
		return err
	}
	version, markers := st.latest, st.markers
	if version == "" {
		s.log.Error("package record key holds only delete markers: no package to load, its id stays refused", "key", key, "delete_markers", markers)
		return nil
	}
	b, err := s.getVersion(ctx, key, version, 16<<20)
	if err != nil {
		return err
	}
	var rec indexRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("evidence: decode %s version %s: %w", key, version, err)
	}
	if keyIndex(rec.ID) != key {
		return fmt.Errorf("evidence: hidden package record %s names package %q", key, rec.ID)
	}
	p, err := s.loadPackage(ctx, rec)
	if err != nil {
		return err
	}
	p.recordHidden, p.recordVersion = true, version
	s.pkgs[rec.ID] = p
	s.log.Error("package record hidden by a delete marker: package loaded from the record's latest stored version; its id stays refused",
		"package", rec.ID, "key", key, "version", version, "delete_markers", markers)
	return nil
}

// recordHidden reports whether package id is known with a hidden record.
func (s *Service) recordHidden(id string) bool {
	s.mu.RLock()
	p := s.pkgs[id]
	s.mu.RUnlock()
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recordHidden
}

// refuseHidden is the refusal of an id whose record a delete marker hides.
func refuseHidden(id string) error {
	return refuse(RuleReplay, "id", "package id %s was already used: its package record %s is hidden by a delete marker; "+
		"a package id is never reused", id, keyIndex(id))
}

// refuseUsed is the refusal of an id already used; hidden: a delete marker
// hides its record, which the refusal then names.
func refuseUsed(id string, hidden bool) error {
	if hidden {
		return refuseHidden(id)
	}
	return refuse(RuleReplay, "id", "package id %s was already used: a package id is never reused", id)
}

// flagRecord reads the state of p's package record, and flags p if a
// delete marker now hides it (put while the node runs: at start, reload
// finds it). Show and verify call it, so both name a hidden record without
// waiting for a restart. p.mu must be held.
func (s *Service) flagRecord(ctx context.Context, p *pkgState) (keyVersions, error) {
	st, err := s.recordState(ctx, keyIndex(p.rec.ID))
	if err != nil {
		return st, err
	}
	if st.hidden && !p.recordHidden && st.latest != "" {
		p.recordHidden, p.recordVersion = true, st.latest
		s.log.Error("package record hidden by a delete marker", "package", p.rec.ID, "key", keyIndex(p.rec.ID), "version", st.latest, "delete_markers", st.markers)
	}
	return st, nil
}

// checkRecord is Verify's check of the package record: one stored version,
// and current. p.mu must be held.
func (s *Service) checkRecord(ctx context.Context, p *pkgState, rep *Report) error {
	st, err := s.flagRecord(ctx, p)
	if err != nil {
		return err
	}
	if !st.hidden && st.stored == 1 {
		return nil
	}
	rep.Index = fmt.Sprintf("package record %s has %d stored versions and %d delete markers", keyIndex(p.rec.ID), st.stored, st.markers)
	if st.hidden {
		rep.IndexHidden = true
		rep.Index += ": it is hidden by a delete marker, so a listing misses the package and create-if-absent would take its id as unused " +
			"(the node keeps the package from the record's latest stored version and refuses the id)"
	}
	rep.Problems = append(rep.Problems, rep.Index)
	return nil
}
