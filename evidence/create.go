package evidence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"sync"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/store"
)

// Create makes a draft package from a manifest (JSON). The node fills in
// what it knows (id if empty, creation time, itself as sender node) and
// refuses, storing nothing, a manifest that breaks any rule: the error is
// a *RefusedError listing every violation.
func (s *Service) Create(ctx context.Context, who Actor, manifest []byte) (Package, error) {
	m, err := ParseManifest(manifest, true)
	if err != nil {
		return Package{}, err
	}
	return s.create(ctx, who, m, nil)
}

// create stores a new outgoing package; extra are violations found by the
// caller (Forward).
func (s *Service) create(ctx context.Context, who Actor, m *Manifest, extra []Violation) (Package, error) {
	if m.Format == 0 {
		m.Format = FormatVersion
	}
	if m.ID == "" {
		m.ID = newID()
	}
	if m.Created.IsZero() {
		m.Created = T(s.now())
	}
	if m.Sender.Node == "" {
		m.Sender.Node = s.selfFpr
	}
	if m.Sender.NodeName == "" {
		m.Sender.NodeName = s.nodeName
	}
	if m.Sender.Country == "" {
		m.Sender.Country = s.country
	}
	for i := range m.Items {
		// Hashes of declared items are filled in by the upload; declared
		// values are checked against it.
		m.Items[i].Size = max(m.Items[i].Size, 0)
	}
	v := append(Validate(m), extra...)
	if m.Sender.Node != s.selfFpr {
		v = append(v, Violation{Rule: RuleSignerRole, Field: "sender.node", Message: fmt.Sprintf("this node (%s) can only sign packages it sends, not for %s", s.selfFpr, m.Sender.Node)})
	}
	var to []*openpgp.Entity
	for i, r := range m.Recipients {
		if !fingerprintPattern.MatchString(r.Node) {
			continue
		}
		e, ok := s.keys(r.Node)
		if !ok {
			v = append(v, Violation{Rule: RuleUnknownKey, Field: fmt.Sprintf("recipients[%d].node", i), Message: fmt.Sprintf("no public key for %s is known here: add the peer first", r.Node)})
			continue
		}
		to = append(to, e)
	}
	v = append(v, s.checkReply(m)...)
	if len(v) > 0 {
		return Package{}, &RefusedError{Violations: v}
	}
	s.mu.RLock()
	_, dup := s.pkgs[m.ID]
	s.mu.RUnlock()
	if dup {
		// Before putIndex: a known id is refused without wrapping a key.
		return Package{}, refuseUsed(m.ID, s.recordHidden(m.ID))
	}

	draft, err := json.Marshal(m)
	if err != nil {
		return Package{}, fmt.Errorf("evidence: encode draft: %w", err)
	}
	key, err := newPackageKey()
	if err != nil {
		return Package{}, err
	}
	var wrapped bytes.Buffer
	w, err := s.sealer.SealTo(&wrapped, to...)
	if err != nil {
		return Package{}, fmt.Errorf("evidence: wrap package key: %w", err)
	}
	if _, err := w.Write(key); err != nil {
		return Package{}, err
	}
	if err := w.Close(); err != nil {
		return Package{}, err
	}
	clear(key)

	rec := indexRecord{ID: m.ID, Type: m.Type, Direction: Outgoing, ReplyTo: m.ReplyTo, Created: m.Created.UTC()}
	ret, hold := s.lockPolicy(m)
	if err := s.putIndex(ctx, rec, ret, hold); err != nil {
		return Package{}, err
	}
	if _, err := s.putBytes(ctx, keyPkg(m.ID, "key.pgp"), wrapped.Bytes(), store.PutOptions{IfAbsent: true, ContentType: "application/pgp-encrypted"}); err != nil {
		return Package{}, err
	}
	if _, err := s.putBytes(ctx, keyPkg(m.ID, "draft.json"), draft, store.PutOptions{IfAbsent: true, ContentType: "application/json"}); err != nil {
		return Package{}, err
	}
	p := &pkgState{rec: rec, manifest: m, items: map[string]ItemRecord{}, sentTo: map[string]bool{}, receipts: map[string]bool{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.mu.Lock()
	s.pkgs[m.ID] = p
	s.mu.Unlock()
	if _, err := s.append(ctx, p, who, EvCreated, nil, "package created", map[string]string{"state": string(Draft), "type": string(m.Type)}); err != nil {
		return Package{}, err
	}
	return s.view(p, true), nil
}

// putIndex writes the package record create-if-absent: a package id is
// used once, ever (replay guard). It is locked like the package's data:
// it is how the node finds the package again at start, and deleting it
// would free the id for a replay. Create-if-absent alone takes a record a
// delete marker hides as absent, so the key must hold no version at all.
func (s *Service) putIndex(ctx context.Context, rec indexRecord, ret store.Retention, hold bool) error {
	st, err := s.recordState(ctx, keyIndex(rec.ID))
	if err != nil {
		return err
	}
	if st.used() {
		return refuseUsed(rec.ID, st.hidden)
	}
	b, _ := json.Marshal(rec)
	_, err = s.bucket.Put(ctx, keyIndex(rec.ID), bytes.NewReader(b), store.PutOptions{
		IfAbsent: true, Size: int64(len(b)), ContentType: "application/json", Retention: &ret, LegalHold: hold,
	})
	if errors.Is(err, store.ErrExists) {
		return refuseUsed(rec.ID, false)
	}
	if err != nil {
		return fmt.Errorf("evidence: write package record: %w", err)
	}
	return nil
}

// checkReply checks the reply_to link of an outgoing package: the answered
// package must be known here, of a type this one may answer, and answers go
// back to the package's sender.
func (s *Service) checkReply(m *Manifest) []Violation {
	if m.ReplyTo == "" {
		return nil
	}
	s.mu.RLock()
	ref := s.pkgs[m.ReplyTo]
	s.mu.RUnlock()
	if ref == nil {
		return []Violation{{Rule: RuleReplyTo, Field: "reply_to", Message: fmt.Sprintf("package %s is not known on this node", m.ReplyTo)}}
	}
	ref.mu.Lock()
	defer ref.mu.Unlock()
	var v []Violation
	if allowed := replyTypes[m.Type]; allowed != nil && !slices.Contains(allowed, ref.rec.Type) {
		v = append(v, Violation{Rule: RuleReplyTo, Field: "reply_to", Message: fmt.Sprintf("a %s cannot answer a %s (only %v)", m.Type, ref.rec.Type, allowed)})
	}
	switch {
	case m.Type == Withdrawal:
		if ref.rec.Direction != Outgoing {
			v = append(v, Violation{Rule: RuleSignerRole, Field: "reply_to", Message: "only the node that sent a request can withdraw it"})
		}
	case ref.rec.Direction != Incoming:
		v = append(v, Violation{Rule: RuleSignerRole, Field: "reply_to", Message: fmt.Sprintf("a %s answers a package this node received; %s was sent by this node", m.Type, m.ReplyTo)})
	default:
		if _, ok := m.Recipient(ref.manifest.Sender.Node); !ok {
			v = append(v, Violation{Rule: RuleMisaddressed, Field: "recipients", Message: fmt.Sprintf("the answer must go to the sender of %s (%s)", m.ReplyTo, ref.manifest.Sender.Node)})
		}
	}
	return v
}

// ItemInput describes an uploaded item; fields left empty are taken from
// the item declared in the manifest, if any.
type ItemInput struct {
	Name         string       `json:"name"`
	MediaType    string       `json:"media_type,omitempty"`
	Exhibit      string       `json:"exhibit,omitempty"`
	RootExhibit  string       `json:"root_exhibit,omitempty"`
	DerivedFrom  []string     `json:"derived_from,omitempty"`
	PersonalData bool         `json:"personal_data,omitempty"`
	Sensitive    bool         `json:"sensitive,omitempty"`
	Acquisition  *Acquisition `json:"acquisition,omitempty"`
	// Size, when known (> 0), lets the store write the exact length; the
	// upload fails if the stream is longer or shorter.
	Size int64 `json:"-"`
}

// AddItem streams an item into a draft package: one pass computes SHA-256
// and SHA-512 and encrypts under the package key, in constant memory, into
// the evidence bucket. Declared sizes and hashes must match. The stored
// version is locked (retention, and legal hold if the package asks) as
// soon as it is checked.
func (s *Service) AddItem(ctx context.Context, who Actor, id string, in ItemInput, r io.Reader) (ItemRecord, error) {
	if msg := ValidItemName(in.Name); msg != "" {
		return ItemRecord{}, refuse(RuleItemName, "name", "%s", msg)
	}
	if err := store.ValidKey(keyItemData(id, in.Name)); err != nil {
		return ItemRecord{}, refuse(RuleItemName, "name", "item name %q cannot be stored: %v", in.Name, err)
	}
	p, err := s.pkg(id)
	if err != nil {
		return ItemRecord{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec.Direction != Outgoing || p.sealed || p.state != Draft {
		return ItemRecord{}, refuse(RuleState, "", "items can only be added to a draft this node made (package is %s, sealed=%v)", p.state, p.sealed)
	}
	if _, dup := p.items[in.Name]; dup {
		return ItemRecord{}, refuse(RuleItemName, "name", "item %q was already uploaded", in.Name)
	}
	declared, isDeclared := p.manifest.Item(in.Name)
	item := mergeItem(declared, in)
	key, err := s.packageKey(ctx, p)
	if err != nil {
		return ItemRecord{}, err
	}
	defer clear(key)

	dataKey := keyItemData(id, in.Name)
	size := int64(-1)
	if in.Size > 0 {
		size = CiphertextSize(in.Size)
	}
	sum, info, err := s.sealItem(ctx, dataKey, key, r, size)
	if err != nil {
		return ItemRecord{}, err
	}
	item.Size, item.SHA256, item.SHA512 = sum.size, sum.sha256, sum.sha512
	var v []Violation
	if isDeclared && declared.Size > 0 && declared.Size != sum.size {
		v = append(v, Violation{Rule: RuleItemHash, Field: "size", Message: fmt.Sprintf("item %q has %d bytes, the manifest declares %d", in.Name, sum.size, declared.Size)})
	}
	if isDeclared && declared.SHA256 != "" && declared.SHA256 != sum.sha256 {
		v = append(v, Violation{Rule: RuleItemHash, Field: "sha256", Message: fmt.Sprintf("item %q has SHA-256 %s, the manifest declares %s", in.Name, sum.sha256, declared.SHA256)})
	}
	if isDeclared && declared.SHA512 != "" && declared.SHA512 != sum.sha512 {
		v = append(v, Violation{Rule: RuleItemHash, Field: "sha512", Message: fmt.Sprintf("item %q SHA-512 does not match the manifest", in.Name)})
	}
	ref := ObjectRef{Key: dataKey, Version: info.VersionID, Size: info.Size}
	if len(v) > 0 {
		// Not yet locked: remove it, so nothing of a refused item stays.
		if err := s.bucket.Delete(context.WithoutCancel(ctx), dataKey, store.DeleteOptions{VersionID: info.VersionID}); err != nil {
			s.log.Error("remove refused item", "package", id, "item", in.Name, "err", err)
		}
		return ItemRecord{}, &RefusedError{Violations: v}
	}
	ret, hold := s.objectLock(p)
	if err := s.lock(ctx, ref, ret, hold); err != nil {
		return ItemRecord{}, err
	}
	ir := ItemRecord{Item: item, Object: ref, Stored: s.now().UTC(), By: who.Person}
	b, _ := json.Marshal(ir)
	// The record names the version a court's copy must come from: locked as the item.
	if _, err := s.putBytes(ctx, keyItemRecord(id, in.Name), b, store.PutOptions{IfAbsent: true, ContentType: "application/json", Retention: &ret, LegalHold: hold}); err != nil {
		return ItemRecord{}, err
	}
	p.items[in.Name] = ir
	s.m.bytesSealed.Add(float64(sum.size))
	attrs := map[string]string{"version": info.VersionID, "retain_until": ret.Until.UTC().Format(timeFormat), "retention_mode": string(ret.Mode)}
	if hold {
		attrs["legal_hold"] = "true"
	}
	what := []ItemRef{{Name: item.Name, SHA256: item.SHA256, SHA512: item.SHA512, Size: item.Size}}
	if _, err := s.append(ctx, p, who, EvStored, what, "item sealed and stored under Object Lock", attrs); err != nil {
		return ItemRecord{}, err
	}
	return ir, nil
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

func mergeItem(d Item, in ItemInput) Item {
	it := d
	it.Name = in.Name
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&it.MediaType, in.MediaType)
	set(&it.Exhibit, in.Exhibit)
	set(&it.RootExhibit, in.RootExhibit)
	if it.RootExhibit == "" {
		it.RootExhibit = it.Exhibit
	}
	if len(in.DerivedFrom) > 0 {
		it.DerivedFrom = in.DerivedFrom
	}
	it.PersonalData = it.PersonalData || in.PersonalData
	it.Sensitive = it.Sensitive || in.Sensitive
	if in.Acquisition != nil {
		it.Acquisition = in.Acquisition
	}
	return it
}

type digest struct {
	size           int64
	sha256, sha512 string
}

// blockSize is the unit of the sealing pipeline; pipelineDepth blocks are
// in flight at most, so sealing holds about 5 MiB whatever the item size.
const (
	blockSize     = 1 << 20
	pipelineDepth = 4
)

// sealItem streams r into key: hashing runs in one goroutine, encryption
// in another, and the store writes in the caller's, so the three overlap
// on a multi-core machine. Memory: pipelineDepth blocks plus one chunk.
func (s *Service) sealItem(ctx context.Context, objKey string, pkgKey []byte, r io.Reader, size int64) (digest, store.ObjectInfo, error) {
	pool := make(chan []byte, pipelineDepth)
	for range pipelineDepth {
		pool <- make([]byte, blockSize)
	}
	toEnc := make(chan []byte, pipelineDepth)
	h256, h512 := sha256.New(), sha512.New()
	var n int64
	var readErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Stage 1: read and hash. SHA-512 runs beside SHA-256 on its own
	// goroutine for each block.
	go func() {
		defer close(toEnc)
		for {
			var buf []byte
			select {
			case buf = <-pool:
			case <-ctx.Done():
				return
			}
			k, err := io.ReadFull(r, buf)
			if k > 0 {
				hashBoth(h256, h512, buf[:k])
				n += int64(k)
				select {
				case toEnc <- buf[:k]:
				case <-ctx.Done():
					return
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()

	// Stage 2: encrypt into a pipe the store reads from.
	pr, pw := io.Pipe()
	go func() {
		// Coalesce 64 KiB chunks into 1 MiB pipe writes: fewer hand-offs
		// to the store's goroutine.
		bw := bufio.NewWriterSize(pw, blockSize)
		ew, err := newEncryptWriter(bw, pkgKey)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		for buf := range toEnc {
			if _, err := ew.Write(buf); err != nil {
				pw.CloseWithError(err)
				cancel()
				for range toEnc {
				}
				return
			}
			pool <- buf[:cap(buf)]
		}
		if readErr != nil {
			pw.CloseWithError(fmt.Errorf("evidence: read item: %w", readErr))
			return
		}
		if ctx.Err() != nil {
			pw.CloseWithError(ctx.Err())
			return
		}
		if err := ew.Close(); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(bw.Flush())
	}()

	info, err := s.bucket.Put(ctx, objKey, pr, store.PutOptions{IfAbsent: true, Size: size, ContentType: "application/octet-stream"})
	pr.CloseWithError(errors.New("evidence: store stopped reading"))
	cancel()
	for range toEnc { // let the stages finish before touching their results
	}
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return digest{}, store.ObjectInfo{}, refuse(RuleItemName, "name", "an item of this name is already stored")
		}
		return digest{}, store.ObjectInfo{}, fmt.Errorf("evidence: store item: %w", err)
	}
	return digest{size: n, sha256: hex.EncodeToString(h256.Sum(nil)), sha512: hex.EncodeToString(h512.Sum(nil))}, info, nil
}

// hashBoth feeds b to both hashes, SHA-512 on a second goroutine (it is
// the slower of the two; together they would bound the pipeline).
func hashBoth(a, b hash.Hash, p []byte) {
	var wg sync.WaitGroup
	wg.Go(func() { b.Write(p) })
	a.Write(p)
	wg.Wait()
}

// Seal finalises a draft: the manifest gets every item with its hashes,
// is validated again, canonicalised (RFC 8785) and signed by the node, and
// stored write-once with its detached signature.
func (s *Service) Seal(ctx context.Context, who Actor, id string) (Package, error) {
	p, err := s.pkg(id)
	if err != nil {
		return Package{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec.Direction != Outgoing || p.sealed {
		return Package{}, refuse(RuleState, "", "package %s is already sealed or was not made here", id)
	}
	m := *p.manifest
	m.Items = nil
	var missing []string
	for _, d := range p.manifest.Items {
		if _, ok := p.items[d.Name]; !ok {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return Package{}, refuse(RuleRequired, "items", "declared items were not uploaded: %s", strings.Join(missing, ", "))
	}
	for _, ir := range p.items {
		m.Items = append(m.Items, ir.Item)
	}
	slices.SortFunc(m.Items, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
	if v := Validate(&m); len(v) > 0 {
		return Package{}, &RefusedError{Violations: v}
	}
	raw, err := json.Marshal(&m)
	if err != nil {
		return Package{}, err
	}
	canonical, sig, err := s.sealer.SignJSON(raw)
	if err != nil {
		return Package{}, err
	}
	ret, hold := s.lockPolicy(&m)
	for _, f := range []struct {
		key  string
		data []byte
		ct   string
	}{{keyPkg(id, "manifest.json"), canonical, "application/json"}, {keyPkg(id, "manifest.json.sig"), sig, "application/pgp-signature"}} {
		if _, err := s.putBytes(ctx, f.key, f.data, store.PutOptions{IfAbsent: true, ContentType: f.ct, Retention: &ret, LegalHold: hold || p.hold}); err != nil {
			return Package{}, err
		}
	}
	mm, err := ParseManifest(canonical, false)
	if err != nil {
		return Package{}, err
	}
	p.manifest, p.raw, p.sig, p.sealed = mm, canonical, sig, true
	what := itemRefs(p.items)
	if _, err := s.append(ctx, p, who, EvSealed, what, "manifest signed", map[string]string{
		"manifest_sha256": sha256Hex(canonical), "retain_until": ret.Until.UTC().Format(timeFormat),
	}); err != nil {
		return Package{}, err
	}
	if hold && !p.hold {
		// Objects stored before the policy's hold was known (or before this
		// rule) are held with the rest.
		if err := s.holdAll(ctx, p, true); err != nil {
			return Package{}, err
		}
		if _, err := s.append(ctx, p, who, EvHoldSet, what, "legal hold while the preservation applies", nil); err != nil {
			return Package{}, err
		}
	}
	return s.view(p, true), nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// verifyManifest checks a manifest's detached signature and that the
// sender node signed it. Only signature problems are returned as refusals.
func (s *Service) verifyManifest(raw, sig []byte) (*Manifest, *RefusedError) {
	if len(bytes.TrimSpace(sig)) == 0 {
		return nil, refuse(RuleUnsigned, "manifest.json.sig", "the manifest is not signed")
	}
	signer, err := s.seal().VerifyJSON(raw, sig)
	if err != nil {
		switch {
		case errors.Is(err, seal.ErrNotSigned):
			return nil, refuse(RuleUnsigned, "manifest.json.sig", "the manifest is not signed")
		case errors.Is(err, seal.ErrUnknownSigner):
			return nil, refuse(RuleBadSignature, "manifest.json.sig", "the manifest is signed by a key this node does not know")
		}
		return nil, refuse(RuleBadSignature, "manifest.json.sig", "the manifest signature does not verify (changed after signing, or wrong key)")
	}
	m, err := ParseManifest(raw, false)
	if err != nil {
		var re *RefusedError
		errors.As(err, &re)
		return nil, re
	}
	if !strings.EqualFold(signer.Fingerprint, m.Sender.Node) {
		return nil, refuse(RuleSignerRole, "sender.node", "the manifest names %s as sender but was signed by %s", m.Sender.Node, signer.Fingerprint)
	}
	return m, nil
}
