package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// PeerTransport delivers transfer streams to peer nodes: the federation
// channel (federation.SendEvidence). SendEvidence resolves peer (a name
// or fingerprint), calls write with the peer's key fingerprint to produce
// the stream, delivers it authenticated, and returns the peer's answer:
// its signed receipt (JSON).
type PeerTransport interface {
	SendEvidence(ctx context.Context, peer string, write func(to string, w io.Writer) error) ([]byte, error)
}

// Errors of Send.
var (
	// ErrNoTransport: the node has no federation channel.
	ErrNoTransport = errors.New("evidence: this node has no federation channel to send packages over")
	// ErrUnknownPeer: the transport knows no such peer.
	ErrUnknownPeer = errors.New("evidence: unknown peer")
)

// TransportError is a failure to deliver a transfer, or a refusal of the
// request by the peer (not a verdict on the package: that is a receipt).
// No receipt was filed; the send can be retried.
type TransportError struct {
	Peer string
	Err  error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("evidence: delivery to %s failed (no receipt; the send can be retried): %v", e.Peer, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// SendResult reports a send: the peer's receipt, filed as a custody event.
type SendResult struct {
	Package string      `json:"package"`
	Peer    string      `json:"peer"`
	Result  string      `json:"result"` // accepted or rejected
	Receipt ReceiptBody `json:"receipt"`
	// Duplicate is set when the peer refused the package as already
	// received: an earlier send reached it (and its receipt was lost), or
	// the package id was used there before.
	Duplicate bool   `json:"duplicate,omitempty"`
	Message   string `json:"message"`
}

// Send transfers sealed package id to a peer over the transport, and files
// the peer's signed receipt (delivered, or delivery-failed with the
// peer's reason) as a custody event. A rejected package is not an error:
// the result says why. Errors are refusals here (not sealed, not a
// recipient), ErrUnknownPeer, or a *TransportError (no receipt filed).
func (s *Service) Send(ctx context.Context, who Actor, id, peer string) (SendResult, error) {
	if s.transport == nil {
		return SendResult{}, ErrNoTransport
	}
	var wrote bool
	raw, err := s.transport.SendEvidence(ctx, peer, func(to string, w io.Writer) error {
		wrote = true
		return s.WriteTransfer(ctx, who, id, to, w)
	})
	if err != nil {
		if !wrote || errors.Is(err, ErrUnknownPeer) {
			return SendResult{}, err
		}
		var re *RefusedError
		if errors.As(err, &re) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrDisposed) {
			return SendResult{}, err
		}
		return SendResult{}, &TransportError{Peer: peer, Err: err}
	}
	var sr SignedReceipt
	if err := json.Unmarshal(raw, &sr); err != nil || len(sr.Receipt) == 0 {
		return SendResult{}, &TransportError{Peer: peer, Err: fmt.Errorf("the peer's answer is not a signed receipt (%v)", err)}
	}
	rb, err := s.FileReceipt(ctx, who, sr)
	if err != nil {
		return SendResult{}, fmt.Errorf("evidence: the receipt from %s cannot be filed: %w", peer, err)
	}
	res := SendResult{Package: id, Peer: peer, Result: rb.Result, Receipt: rb}
	switch {
	case rb.Result == ResultAccepted:
		res.Message = fmt.Sprintf("%s received and verified package %s; its signed receipt is filed", receiverName(rb), id)
	case (&RefusedError{Violations: rb.Violations}).Has(RuleReplay):
		res.Duplicate = true
		res.Message = fmt.Sprintf("%s already holds package %s: an earlier send reached it (its receipt was lost), or the id was used there before; nothing was stored again. Its rejection is filed; check with the peer", receiverName(rb), id)
	default:
		res.Message = fmt.Sprintf("%s rejected package %s: %s", receiverName(rb), id, rb.Reason)
	}
	return res, nil
}

func receiverName(rb ReceiptBody) string {
	if rb.ReceiverName != "" {
		return rb.ReceiverName
	}
	return rb.Receiver
}
