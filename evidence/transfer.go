package evidence

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kurier/kurier/node/store"
)

// The transfer stream is what one node sends another for a package: a tar
// stream, in this order,
//
//	transfer.json        {"package", "from", "to", "sent"} (informational)
//	manifest.json        the signed manifest, canonical bytes
//	manifest.json.sig    the sender's detached signature
//	key.pgp              the package key, OpenPGP-encrypted to the recipients and signed by the sender
//	custody/<seq>.json   the sender's custody events, in order
//	items/<name>         each item's ciphertext, as stored
//
// Items stay encrypted end to end under the package key; the receiver
// decrypts them only to check their hashes while the ciphertext streams into
// its store. The federation channel carries the stream (authenticated and
// encrypted to the peer); a resumable transport can split it at item
// boundaries, as every item is an independent authenticated object.

// TransferHeader is the first entry of a transfer stream.
type TransferHeader struct {
	Format  int       `json:"format"`
	Package string    `json:"package"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Sent    time.Time `json:"sent"`
}

// ReceiptBody is what a receiver signs for each transfer (cf. ETSI REM
// delivery / non-delivery evidence).
type ReceiptBody struct {
	Format         int         `json:"format"`
	Package        string      `json:"package"`
	ManifestSHA256 string      `json:"manifest_sha256,omitempty"`
	Result         string      `json:"result"` // accepted or rejected
	Reason         string      `json:"reason,omitempty"`
	Violations     []Violation `json:"violations,omitempty"`
	Sender         string      `json:"sender,omitempty"`
	Receiver       string      `json:"receiver"`
	ReceiverName   string      `json:"receiver_name,omitempty"`
	Time           time.Time   `json:"time"`
	Items          []ItemRef   `json:"items,omitempty"`
}

// Receipt results.
const (
	ResultAccepted = "accepted"
	ResultRejected = "rejected"
)

// SignedReceipt is a receipt's canonical bytes and the receiver's detached
// signature over them.
type SignedReceipt struct {
	Receipt   json.RawMessage `json:"receipt"`
	Signature []byte          `json:"signature"`
}

// WriteTransfer writes the transfer stream of a sealed outgoing package for
// recipient to (a fingerprint named in the manifest) and records it as sent.
// A received package is never re-sent: pass it on with Forward, which needs
// the onward-transfer authorisation.
func (s *Service) WriteTransfer(ctx context.Context, who Actor, id, to string, w io.Writer) error {
	p, err := s.pkg(id)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.rec.Direction == Incoming:
		return refuse(RuleOnwardTransfer, "", "package %s was received from %s: an onward transfer needs the sender's authorisation (use Forward)", id, p.manifest.Sender.Node)
	case !p.sealed:
		return refuse(RuleState, "", "seal package %s before sending it", id)
	case p.disposed:
		return fmt.Errorf("%w: package %s", ErrDisposed, id)
	}
	if _, ok := p.manifest.Recipient(to); !ok {
		return refuse(RuleMisaddressed, "to", "%s is not a recipient named in the signed manifest of %s", to, id)
	}
	attrs := map[string]string{"to": strings.ToUpper(to)}
	if p.state == Draft {
		attrs["state"] = string(Sent)
	}
	if _, err := s.append(ctx, p, who, EvSent, itemRefs(p.items), "transfer to "+to, attrs); err != nil {
		return err
	}
	if err := s.answerSent(ctx, p, who); err != nil {
		return err
	}
	events, err := s.readCustody(ctx, id)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o600, ModTime: s.now(), Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	hdr, _ := json.Marshal(TransferHeader{Format: 1, Package: id, From: s.selfFpr, To: strings.ToUpper(to), Sent: s.now().UTC()})
	wrapped, err := s.getBytes(ctx, keyPkg(id, "key.pgp"), 1<<20)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"transfer.json", hdr}, {"manifest.json", p.raw}, {"manifest.json.sig", p.sig}, {"key.pgp", wrapped}} {
		if err := put(f.name, f.b); err != nil {
			return fmt.Errorf("evidence: transfer: %w", err)
		}
	}
	for _, ev := range events {
		b, err := ev.MarshalJSON()
		if err != nil {
			return err
		}
		if err := put(fmt.Sprintf("custody/%010d.json", ev.Event.Seq), b); err != nil {
			return fmt.Errorf("evidence: transfer: %w", err)
		}
	}
	for _, it := range p.manifest.Items {
		ir := p.items[it.Name]
		rc, info, err := s.bucket.Get(ctx, ir.Object.Key, ir.Object.Version)
		if err != nil {
			return fmt.Errorf("evidence: transfer: item %s: %w", it.Name, err)
		}
		err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "items/" + it.Name, Size: info.Size, Mode: 0o600, ModTime: s.now(), Format: tar.FormatPAX})
		if err == nil {
			_, err = io.Copy(tw, rc)
		}
		rc.Close()
		if err != nil {
			return fmt.Errorf("evidence: transfer: item %s: %w", it.Name, err)
		}
	}
	return tw.Close()
}

// Receive reads a transfer stream from a peer, verifies it and stores it
// under this node's locks. It always returns a signed receipt for the
// sender: accepted, or rejected with the reason. A rejected transfer also
// returns the error (a *RefusedError for rule violations). Refused before
// any item (unsigned, wrongly signed, replayed, misaddressed, invalid
// manifest, broken custody chain): nothing is stored. Refused on an item
// (hash mismatch, unlisted or unsafe entry, missing item): the transfer is
// quarantined — its ciphertext stays, unlocked and unreferenced, under
// transfers/<id>/ with quarantine/<id>.json saying why.
func (s *Service) Receive(ctx context.Context, r io.Reader) (SignedReceipt, error) {
	return s.ReceiveFrom(ctx, "", r)
}

// ReceiveFrom is Receive for a stream delivered by the authenticated node
// whose fingerprint is from (the federation channel): the package's sender
// must be that node, or the transfer is refused before anything is stored.
// An empty from skips the check.
func (s *Service) ReceiveFrom(ctx context.Context, from string, r io.Reader) (SignedReceipt, error) {
	rb := ReceiptBody{Format: 1, Receiver: s.selfFpr, ReceiverName: s.nodeName, Result: ResultRejected}
	in, err := s.receive(ctx, from, r, &rb)
	if err != nil {
		rb.Result = ResultRejected
		var re *RefusedError
		if errors.As(err, &re) {
			rb.Violations = re.Violations
			rb.Reason = re.Error()
		} else {
			rb.Reason = "the transfer could not be processed"
			s.log.Error("evidence transfer failed", "package", rb.Package, "err", err)
		}
		result := "refused"
		if in.quarantined {
			result = "quarantined"
		}
		s.m.transfers.WithLabelValues(result).Inc()
		s.m.verifyFailures.WithLabelValues("receive").Inc()
		sr, serr := s.signReceipt(rb)
		if serr != nil {
			return SignedReceipt{}, errors.Join(err, serr)
		}
		return sr, err
	}
	rb.Result = ResultAccepted
	s.m.transfers.WithLabelValues("accepted").Inc()
	return s.signReceipt(rb)
}

func (s *Service) signReceipt(rb ReceiptBody) (SignedReceipt, error) {
	rb.Time = s.now().UTC()
	raw, err := json.Marshal(rb)
	if err != nil {
		return SignedReceipt{}, err
	}
	canonical, sig, err := s.sealer.SignJSON(raw)
	if err != nil {
		return SignedReceipt{}, err
	}
	return SignedReceipt{Receipt: canonical, Signature: sig}, nil
}

type incoming struct {
	tid         string
	quarantined bool
}

func (s *Service) receive(ctx context.Context, from string, r io.Reader, rb *ReceiptBody) (in incoming, err error) {
	tr := tar.NewReader(r)
	next := func(want string, limit int64) ([]byte, error) {
		h, err := tr.Next()
		if err != nil {
			return nil, refuse(RuleMalformed, want, "transfer stream ends before %s: %v", want, err)
		}
		if h.Name != want || h.Typeflag != tar.TypeReg {
			return nil, refuse(RuleMalformed, want, "expected %s, found %q", want, h.Name)
		}
		if h.Size > limit {
			return nil, refuse(RuleMalformed, want, "%s is larger than %d bytes", want, limit)
		}
		return io.ReadAll(io.LimitReader(tr, limit))
	}
	if _, err := next("transfer.json", 64<<10); err != nil {
		return in, err
	}
	raw, err := next("manifest.json", 16<<20)
	if err != nil {
		return in, err
	}
	rb.ManifestSHA256 = sha256Hex(raw)
	sig, err := next("manifest.json.sig", 1<<20)
	if err != nil {
		return in, err
	}
	m, bad := s.verifyManifest(raw, sig)
	if bad != nil {
		if pm, err := ParseManifest(raw, false); err == nil {
			rb.Package = pm.ID
		}
		return in, bad
	}
	rb.Package, rb.Sender = m.ID, m.Sender.Node
	if from != "" && !strings.EqualFold(from, m.Sender.Node) {
		return in, refuse(RuleSignerRole, "sender", "package %s was sent by %s, not by its sender %s", m.ID, from, m.Sender.Node)
	}
	var v []Violation
	if vs := Validate(m); len(vs) > 0 {
		v = append(v, vs...)
	}
	if _, ok := m.Recipient(s.selfFpr); !ok {
		v = append(v, Violation{Rule: RuleMisaddressed, Field: "recipients", Message: fmt.Sprintf("this node (%s) is not a recipient of package %s", s.selfFpr, m.ID)})
	}
	if len(v) > 0 {
		return in, &RefusedError{Violations: v}
	}
	s.mu.RLock()
	_, dup := s.pkgs[m.ID]
	s.mu.RUnlock()
	// Refused here before the items are read; putIndex checks again at
	// the write, as the record may appear meanwhile. st is read now, so a
	// hidden record shows without the package's flag.
	st, err := s.recordState(ctx, keyIndex(m.ID))
	if err != nil {
		return in, err
	}
	if st.hidden {
		return in, refuseHidden(m.ID)
	}
	if dup || st.used() {
		return in, refuse(RuleReplay, "id", "package %s was already received or used here (replay)", m.ID)
	}
	if err := s.checkIncomingReply(m); err != nil {
		return in, err
	}
	wrapped, err := next("key.pgp", 1<<20)
	if err != nil {
		return in, err
	}
	key, signer, err := s.seal().OpenBytes(wrapped)
	if err != nil {
		return in, refuse(RuleBadSignature, "key.pgp", "the package key cannot be opened by this node or its signature does not verify: %v", err)
	}
	defer clear(key)
	if !strings.EqualFold(signer.Fingerprint, m.Sender.Node) || len(key) != packageKeyLen {
		return in, refuse(RuleSignerRole, "key.pgp", "the package key was not wrapped by the sender")
	}

	// Custody events, then items.
	var events []SignedEvent
	var h *tar.Header
	for {
		h, err = tr.Next()
		if errors.Is(err, io.EOF) {
			h = nil
			break
		}
		if err != nil {
			return in, refuse(RuleMalformed, "custody", "transfer stream broken: %v", err)
		}
		if !strings.HasPrefix(h.Name, "custody/") {
			break
		}
		if h.Size > 1<<20 {
			return in, refuse(RuleMalformed, h.Name, "custody event too large")
		}
		var ev SignedEvent
		b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return in, err
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			return in, refuse(RuleMalformed, h.Name, "custody event is not valid: %v", err)
		}
		events = append(events, ev)
	}
	if brk := VerifyChain(s.seal(), m.ID, events, m.Sender.Node); brk != nil {
		return in, &RefusedError{Violations: []Violation{{Rule: brk.Rule, Field: "custody", Message: brk.Error()}}}
	}
	if len(events) == 0 || events[len(events)-1].Event.Kind != EvSent || !strings.EqualFold(events[len(events)-1].Event.Attrs["to"], s.selfFpr) {
		return in, refuse(RuleMisaddressed, "custody", "the custody log does not end with the package being sent to this node")
	}
	for _, ev := range events {
		if !strings.EqualFold(ev.Event.Who.Node, m.Sender.Node) {
			return in, refuse(RuleCustodySigner, "custody", "event %d was signed by %s, not the sender", ev.Event.Seq, ev.Event.Who.Node)
		}
	}

	// Items: everything from here on is quarantined on failure.
	in.tid = newID()
	items := map[string]ItemRecord{}
	quarantine := func(v Violation) (incoming, error) {
		in.quarantined = true
		q, _ := json.Marshal(map[string]any{
			"transfer": in.tid, "package": m.ID, "sender": m.Sender.Node, "manifest_sha256": rb.ManifestSHA256,
			"time": s.now().UTC(), "violation": v, "objects": prefixTransfers + in.tid + "/",
		})
		if _, err := s.putBytes(context.WithoutCancel(ctx), prefixQuarantine+in.tid+".json", q, store.PutOptions{IfAbsent: true, ContentType: "application/json"}); err != nil {
			s.log.Error("write quarantine record", "transfer", in.tid, "err", err)
		}
		s.log.Warn("evidence transfer quarantined", "package", m.ID, "sender", m.Sender.Node, "transfer", in.tid, "reason", v.String())
		return in, &RefusedError{Violations: []Violation{v}}
	}
	for ; h != nil; h, err = tr.Next() {
		name, ok := strings.CutPrefix(h.Name, "items/")
		if !ok || h.Typeflag != tar.TypeReg || ValidItemName(name) != "" {
			return quarantine(Violation{Rule: RuleBagPath, Field: "items", Message: fmt.Sprintf("unsafe or unexpected entry %q in the transfer", h.Name)})
		}
		want, listed := m.Item(name)
		if !listed {
			return quarantine(Violation{Rule: RuleBagUnlisted, Field: "items", Message: fmt.Sprintf("item %q is not listed in the signed manifest", name)})
		}
		if _, dup := items[name]; dup {
			return quarantine(Violation{Rule: RuleBagUnlisted, Field: "items", Message: fmt.Sprintf("item %q appears twice", name)})
		}
		ir, viol, err := s.receiveItem(ctx, in.tid, key, want, h, tr)
		if err != nil {
			return in, err
		}
		if viol != nil {
			return quarantine(*viol)
		}
		items[name] = ir
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return quarantine(Violation{Rule: RuleMalformed, Field: "items", Message: "transfer stream broken: " + err.Error()})
	}
	for _, it := range m.Items {
		if _, ok := items[it.Name]; !ok {
			return quarantine(Violation{Rule: RuleItemHash, Field: "items", Message: fmt.Sprintf("item %q is missing from the transfer", it.Name)})
		}
	}
	rb.Items = itemRefs(items)
	return in, s.commitIncoming(ctx, m, raw, sig, wrapped, events, items, in.tid)
}

// receiveItem streams one item's ciphertext into the store while
// decrypting it to check size and hashes.
func (s *Service) receiveItem(ctx context.Context, tid string, key []byte, want Item, h *tar.Header, tr io.Reader) (ItemRecord, *Violation, error) {
	h256, h512 := sha256.New(), sha512.New()
	var n int64
	count := writerFunc(func(p []byte) (int, error) { n += int64(len(p)); return len(p), nil })
	dw := newDecryptWriter(key, writerFunc(func(p []byte) (int, error) {
		hashBoth(h256, h512, p)
		return count(p)
	}))
	okey := prefixTransfers + tid + "/" + want.Name
	info, err := s.bucket.Put(ctx, okey, io.TeeReader(tr, dw), store.PutOptions{IfAbsent: true, Size: h.Size, ContentType: "application/octet-stream"})
	if err != nil {
		if errors.Is(err, ErrItemCorrupt) || errors.Is(dw.err, ErrItemCorrupt) {
			return ItemRecord{}, &Violation{Rule: RuleItemHash, Field: want.Name, Message: fmt.Sprintf("item %q does not decrypt under the package key (changed in transit)", want.Name)}, nil
		}
		return ItemRecord{}, nil, fmt.Errorf("evidence: store received item %s: %w", want.Name, err)
	}
	if err := dw.Close(); err != nil {
		return ItemRecord{}, &Violation{Rule: RuleItemHash, Field: want.Name, Message: fmt.Sprintf("item %q is truncated or corrupt", want.Name)}, nil
	}
	if n != want.Size || hex.EncodeToString(h256.Sum(nil)) != want.SHA256 || hex.EncodeToString(h512.Sum(nil)) != want.SHA512 {
		return ItemRecord{}, &Violation{Rule: RuleItemHash, Field: want.Name, Message: fmt.Sprintf("item %q does not match the size and hashes in the signed manifest", want.Name)}, nil
	}
	return ItemRecord{Item: want, Object: ObjectRef{Key: okey, Version: info.VersionID, Size: info.Size}, Stored: s.now().UTC()}, nil, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// commitIncoming stores a verified incoming package and records it.
func (s *Service) commitIncoming(ctx context.Context, m *Manifest, raw, sig, wrapped []byte, events []SignedEvent, items map[string]ItemRecord, tid string) error {
	rec := indexRecord{ID: m.ID, Type: m.Type, Direction: Incoming, ReplyTo: m.ReplyTo, Created: m.Created.UTC()}
	// A preservation request or confirmation, and a disclosure answering a
	// preservation request, are held (lockPolicy).
	ret, hold := s.lockPolicy(m)
	if err := s.putIndex(ctx, rec, ret, hold); err != nil {
		return err
	}
	for _, f := range []struct {
		key  string
		b    []byte
		lock bool
	}{{keyPkg(m.ID, "manifest.json"), raw, true}, {keyPkg(m.ID, "manifest.json.sig"), sig, true}, {keyPkg(m.ID, "key.pgp"), wrapped, false}} {
		opts := store.PutOptions{IfAbsent: true}
		if f.lock {
			opts.Retention, opts.LegalHold = &ret, hold
		}
		if _, err := s.putBytes(ctx, f.key, f.b, opts); err != nil {
			return err
		}
	}
	for _, ev := range events {
		if err := s.putEvent(ctx, ev, ret, hold); err != nil {
			return err
		}
	}
	for name, ir := range items {
		if err := s.lock(ctx, ir.Object, ret, hold); err != nil {
			return err
		}
		b, _ := json.Marshal(ir)
		if _, err := s.putBytes(ctx, keyItemRecord(m.ID, name), b, store.PutOptions{IfAbsent: true, ContentType: "application/json", Retention: &ret, LegalHold: hold}); err != nil {
			return err
		}
	}
	p := &pkgState{rec: rec, manifest: m, raw: raw, sig: sig, sealed: true, items: items, sentTo: map[string]bool{}, receipts: map[string]bool{}}
	for i := range events {
		p.apply(&events[i])
	}
	p.sentTo = map[string]bool{} // the sender's sends are not ours to track
	p.mu.Lock()
	defer p.mu.Unlock()
	s.mu.Lock()
	s.pkgs[m.ID] = p
	s.mu.Unlock()
	peer := Actor{Person: "peer " + m.Sender.NodeName, Role: "node"}
	what := itemRefs(items)
	if _, err := s.append(ctx, p, peer, EvReceived, what, "received from "+m.Sender.Node, map[string]string{
		"state": string(Received), "from": m.Sender.Node, "transfer": tid, "retain_until": ret.Until.UTC().Format(timeFormat),
	}); err != nil {
		return err
	}
	if _, err := s.append(ctx, p, peer, EvVerified, what, "manifest signature, recipients, item hashes and custody chain verified",
		map[string]string{"state": string(Verified), "manifest_sha256": sha256Hex(raw)}); err != nil {
		return err
	}
	if hold {
		// received and verified were written under the sender's hold state,
		// not this node's policy: hold them too.
		if err := s.holdAll(ctx, p, true); err != nil {
			return err
		}
		if _, err := s.append(ctx, p, peer, EvHoldSet, what, "legal hold while the preservation applies", nil); err != nil {
			return err
		}
	}
	return s.applyReply(ctx, m, peer)
}

// checkIncomingReply checks an incoming answer: it must answer a package
// this node knows, and come from a node that may answer it.
func (s *Service) checkIncomingReply(m *Manifest) error {
	if m.ReplyTo == "" {
		return nil
	}
	s.mu.RLock()
	ref := s.pkgs[m.ReplyTo]
	s.mu.RUnlock()
	if ref == nil {
		return refuse(RuleReplyTo, "reply_to", "package %s answers %s, which this node does not know", m.ID, m.ReplyTo)
	}
	ref.mu.Lock()
	defer ref.mu.Unlock()
	if m.Type == Withdrawal {
		if ref.rec.Direction != Incoming || !strings.EqualFold(ref.manifest.Sender.Node, m.Sender.Node) {
			return refuse(RuleSignerRole, "sender", "only the node that sent %s can withdraw it", m.ReplyTo)
		}
		return nil
	}
	if _, ok := ref.manifest.Recipient(m.Sender.Node); !ok || ref.rec.Direction != Outgoing {
		return refuse(RuleSignerRole, "sender", "%s was not asked: only a recipient of %s can answer it", m.Sender.Node, m.ReplyTo)
	}
	return nil
}

// applyReply moves the answered package: a confirmation makes it preserved,
// a disclosure disclosed, a refusal refused; a withdrawal also authorises
// the release of its legal hold.
func (s *Service) applyReply(ctx context.Context, m *Manifest, who Actor) error {
	if m.ReplyTo == "" {
		return nil
	}
	ref, err := s.pkg(m.ReplyTo)
	if err != nil {
		return nil
	}
	ref.mu.Lock()
	defer ref.mu.Unlock()
	if err := s.moveRequest(ctx, ref, who, m, fmt.Sprintf("%s %s received", m.Type, m.ID)); err != nil {
		return err
	}
	if m.Type == Withdrawal && ref.hold {
		if _, err := s.append(ctx, ref, who, EvHoldReleaseAuthorised, nil, "request withdrawn by its sender",
			map[string]string{"authority": m.Sender.Authority, "reference": m.ID}); err != nil {
			return err
		}
	}
	return nil
}

// FileReceipt checks a receipt returned by a recipient and files it as a
// custody event of the package (delivered, or delivery-failed with the
// receiver's reason). The receipt must be signed by a recipient named in
// the manifest and, if accepted, name the manifest's hash.
func (s *Service) FileReceipt(ctx context.Context, who Actor, sr SignedReceipt) (ReceiptBody, error) {
	signer, err := s.seal().VerifyJSON(sr.Receipt, sr.Signature)
	if err != nil {
		s.m.verifyFailures.WithLabelValues("receipt").Inc()
		return ReceiptBody{}, refuse(RuleBadSignature, "receipt", "the receipt's signature does not verify: %v", err)
	}
	var rb ReceiptBody
	if err := json.Unmarshal(sr.Receipt, &rb); err != nil {
		return ReceiptBody{}, refuse(RuleMalformed, "receipt", "receipt is not valid: %v", err)
	}
	p, err := s.pkg(rb.Package)
	if err != nil {
		return ReceiptBody{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !strings.EqualFold(signer.Fingerprint, rb.Receiver) {
		return ReceiptBody{}, refuse(RuleSignerRole, "receipt", "receipt names %s as receiver but was signed by %s", rb.Receiver, signer.Fingerprint)
	}
	if _, ok := p.manifest.Recipient(rb.Receiver); !ok || !p.sentTo[strings.ToUpper(rb.Receiver)] {
		return ReceiptBody{}, refuse(RuleMisaddressed, "receipt", "%s is not a recipient this package was sent to", rb.Receiver)
	}
	if rb.Result == ResultAccepted && rb.ManifestSHA256 != sha256Hex(p.raw) {
		return ReceiptBody{}, refuse(RuleItemHash, "receipt", "the receipt acknowledges a different manifest (%s)", rb.ManifestSHA256)
	}
	seq := int64(0)
	if p.last != nil {
		seq = p.last.Event.Seq + 1
	}
	b, _ := json.Marshal(sr)
	// The receipt is the receiver's signed word that it got the package: as
	// write-once as the custody event that files it.
	ret, hold := s.objectLock(p)
	if _, err := s.putBytes(ctx, keyPkg(p.rec.ID, fmt.Sprintf("receipts/%s-%010d.json", strings.ToUpper(rb.Receiver), seq)), b, store.PutOptions{
		IfAbsent: true, ContentType: "application/json", Retention: &ret, LegalHold: hold,
	}); err != nil {
		return ReceiptBody{}, err
	}
	kind, why := EvDelivered, "signed receipt filed: accepted"
	attrs := map[string]string{"receiver": strings.ToUpper(rb.Receiver), "receipt_sha256": sha256Hex(sr.Receipt), "result": rb.Result,
		"receipt_time": rb.Time.UTC().Format(time.RFC3339Nano), "receipt_seq": strconv.FormatInt(seq, 10)}
	if rb.Result != ResultAccepted {
		kind, why = EvDeliveryFailed, "signed receipt filed: rejected: "+rb.Reason
	} else if CanTransition(p.state, Acknowledged) {
		attrs["state"], attrs["from"] = string(Acknowledged), string(p.state)
	}
	if _, err := s.append(ctx, p, who, kind, rb.Items, why, attrs); err != nil {
		return ReceiptBody{}, err
	}
	return rb, nil
}

// ReadReceipt decodes a signed receipt without checking it (for display).
func ReadReceipt(sr SignedReceipt) (ReceiptBody, error) {
	var rb ReceiptBody
	err := json.NewDecoder(bytes.NewReader(sr.Receipt)).Decode(&rb)
	return rb, err
}
