package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kurier/kurier/node/seal"
)

// EventKind is a custody act (NIST chain-of-custody, EVIDENCE.md).
type EventKind string

// Custody acts.
const (
	EvCreated                  EventKind = "created"
	EvAcquired                 EventKind = "acquired"
	EvSealed                   EventKind = "sealed"
	EvStored                   EventKind = "stored"
	EvHoldSet                  EventKind = "hold-set"
	EvHoldReleaseAuthorised    EventKind = "hold-release-authorised"
	EvHoldReleased             EventKind = "hold-released"
	EvSent                     EventKind = "sent"
	EvDelivered                EventKind = "delivered"
	EvDeliveryFailed           EventKind = "delivery-failed"
	EvReceived                 EventKind = "received"
	EvVerified                 EventKind = "verified"
	EvVerificationFailed       EventKind = "verification-failed"
	EvAccessed                 EventKind = "accessed"
	EvExported                 EventKind = "exported"
	EvOnwardTransferAuthorised EventKind = "onward-transfer-authorised"
	EvOnwardTransferred        EventKind = "onward-transferred"
	EvStateChanged             EventKind = "state-changed"
	EvDisposed                 EventKind = "disposed"
)

// Actor is who acted: the node (by key) and the person (API token).
type Actor struct {
	Node     string `json:"node"` // fingerprint of the signing node
	NodeName string `json:"node_name,omitempty"`
	Country  string `json:"country,omitempty"`
	Person   string `json:"person,omitempty"`
	Role     string `json:"role,omitempty"`
}

// ItemRef names an item and its hashes in an event (the "what").
type ItemRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256,omitempty"`
	SHA512 string `json:"sha512,omitempty"`
	Size   int64  `json:"size"`
}

// Event is one custody act: who, when, where, what and why, linked to the
// previous event by the SHA-256 of its canonical bytes.
type Event struct {
	Package string    `json:"package"`
	Seq     int64     `json:"seq"`
	Kind    EventKind `json:"kind"`
	Time    time.Time `json:"time"`
	Who     Actor     `json:"who"`
	// Where is the node the act happened on (name and country).
	Where string            `json:"where"`
	What  []ItemRef         `json:"what,omitempty"`
	Why   string            `json:"why,omitempty"`
	Prev  string            `json:"prev"` // hex SHA-256 of the previous event's canonical bytes; "" for seq 0
	Attrs map[string]string `json:"attrs,omitempty"`
}

// SignedEvent is an event as stored: its canonical bytes and the acting
// node's detached signature over them.
type SignedEvent struct {
	Event     Event  `json:"-"`
	Canonical []byte `json:"event"`
	Signature []byte `json:"signature"`
}

// envelope is the stored form.
type envelope struct {
	Event     json.RawMessage `json:"event"`
	Signature []byte          `json:"signature"`
}

// MarshalJSON stores the canonical bytes verbatim.
func (s SignedEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(envelope{Event: s.Canonical, Signature: s.Signature})
}

// UnmarshalJSON reads a stored event, keeping the exact bytes that were
// signed.
func (s *SignedEvent) UnmarshalJSON(b []byte) error {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return err
	}
	s.Canonical = bytes.Clone(env.Event)
	s.Signature = env.Signature
	return json.Unmarshal(env.Event, &s.Event)
}

// Hash is the SHA-256 of the event's canonical bytes, the next event's Prev.
func (s SignedEvent) Hash() string {
	h := sha256.Sum256(s.Canonical)
	return hex.EncodeToString(h[:])
}

// signEvent canonicalises e and signs it.
func signEvent(sealer *seal.Sealer, e Event) (SignedEvent, error) {
	e.Time = e.Time.UTC()
	raw, err := json.Marshal(e)
	if err != nil {
		return SignedEvent{}, fmt.Errorf("evidence: encode event: %w", err)
	}
	canonical, sig, err := sealer.SignJSON(raw)
	if err != nil {
		return SignedEvent{}, fmt.Errorf("evidence: sign event: %w", err)
	}
	return SignedEvent{Event: e, Canonical: canonical, Signature: sig}, nil
}

// ClockSkew is how far an event may lie before the previous one when a
// different node signed it (clocks of two countries' nodes differ a little);
// events of one node must never go back in time.
const ClockSkew = 2 * time.Minute

// ChainBreak says where a custody chain is broken.
type ChainBreak struct {
	Seq     int64  `json:"seq"`
	Rule    Rule   `json:"rule"`
	Message string `json:"message"`
}

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("custody chain broken at event %d: %s [%s]", b.Seq, b.Message, b.Rule)
}

// VerifyChain re-checks every event of a package's custody log: canonical
// form, signature, the signer being the node the event names, sequence
// numbers without gaps, each Prev hash, and time never running backwards.
// It returns the first break, or nil. The signer of event 0 must be
// origin (the package's sender) when origin is not empty.
func VerifyChain(sealer *seal.Sealer, pkg string, events []SignedEvent, origin string) *ChainBreak {
	var prev *SignedEvent
	for i := range events {
		ev := &events[i]
		e := ev.Event
		want := int64(0)
		if prev != nil {
			want = prev.Event.Seq + 1
		}
		brk := func(rule Rule, format string, args ...any) *ChainBreak {
			return &ChainBreak{Seq: e.Seq, Rule: rule, Message: fmt.Sprintf(format, args...)}
		}
		if e.Seq != want {
			if e.Seq > want {
				return &ChainBreak{Seq: want, Rule: RuleCustodyGap, Message: fmt.Sprintf("event %d is missing (next is %d)", want, e.Seq)}
			}
			return brk(RuleCustodyGap, "sequence number %d repeats or goes back (expected %d)", e.Seq, want)
		}
		if e.Package != pkg {
			return brk(RuleCustodyGap, "event belongs to package %q", e.Package)
		}
		canon, err := seal.Canonicalize(ev.Canonical)
		if err != nil || !bytes.Equal(canon, ev.Canonical) {
			return brk(RuleCustodySig, "event bytes are not in canonical form")
		}
		signer, err := sealer.VerifyDetached(bytes.NewReader(ev.Canonical), bytes.NewReader(ev.Signature))
		if err != nil {
			switch {
			case errors.Is(err, seal.ErrNotSigned):
				return brk(RuleCustodySig, "event is not signed")
			case errors.Is(err, seal.ErrUnknownSigner):
				return brk(RuleCustodySig, "signed by a key this node does not know")
			}
			return brk(RuleCustodySig, "signature does not verify (event changed after signing)")
		}
		if !strings.EqualFold(signer.Fingerprint, e.Who.Node) {
			return brk(RuleCustodySigner, "signed by %s but names node %s as the actor", signer.Fingerprint, e.Who.Node)
		}
		if prev == nil {
			if e.Prev != "" {
				return brk(RuleCustodyPrev, "first event must not name a previous event")
			}
			if e.Kind != EvCreated && e.Kind != EvReceived {
				return brk(RuleCustodyGap, "chain starts with %q, not %q", e.Kind, EvCreated)
			}
			if origin != "" && !strings.EqualFold(e.Who.Node, origin) {
				return brk(RuleCustodySigner, "chain was started by %s, not by the package's sender %s", e.Who.Node, origin)
			}
		} else {
			if e.Prev != prev.Hash() {
				return brk(RuleCustodyPrev, "previous hash %.16s… does not match event %d (%.16s…)", e.Prev, prev.Event.Seq, prev.Hash())
			}
			skew := time.Duration(0)
			if !strings.EqualFold(e.Who.Node, prev.Event.Who.Node) {
				skew = ClockSkew
			}
			if e.Time.Before(prev.Event.Time.Add(-skew)) {
				return brk(RuleCustodyTime, "time %s runs backwards (event %d is at %s)",
					e.Time.Format(time.RFC3339Nano), prev.Event.Seq, prev.Event.Time.Format(time.RFC3339Nano))
			}
		}
		prev = ev
	}
	return nil
}
