package evidence

import (
	"fmt"
	"slices"
	"time"
)

// State is where a package stands in its case.
type State string

// Lifecycle states. An outgoing request goes draft -> sent -> acknowledged
// -> preserved -> production-pending -> disclosed; an incoming package starts
// at received and becomes verified. refused, postponed, withdrawn and
// expired end or pause a case.
const (
	Draft             State = "draft"
	Sent              State = "sent"
	Acknowledged      State = "acknowledged"
	Preserved         State = "preserved"
	ProductionPending State = "production-pending"
	Disclosed         State = "disclosed"
	Received          State = "received"
	Verified          State = "verified"
	Refused           State = "refused"
	Postponed         State = "postponed"
	Withdrawn         State = "withdrawn"
	Expired           State = "expired"
	Quarantined       State = "quarantined"
)

// States lists every state (for metrics).
var States = []State{Draft, Sent, Acknowledged, Preserved, ProductionPending, Disclosed, Received, Verified,
	Refused, Postponed, Withdrawn, Expired}

// transitions is the state machine. Terminal states have no entry.
var transitions = map[State][]State{
	Draft:             {Sent, Withdrawn},
	Sent:              {Acknowledged, Preserved, Refused, Postponed, Disclosed, Withdrawn, Expired},
	Acknowledged:      {Preserved, ProductionPending, Refused, Postponed, Disclosed, Withdrawn, Expired},
	Preserved:         {ProductionPending, Disclosed, Refused, Postponed, Withdrawn, Expired},
	ProductionPending: {Disclosed, Refused, Postponed, Withdrawn, Expired},
	Postponed:         {Preserved, ProductionPending, Disclosed, Refused, Withdrawn, Expired},
	Disclosed:         {Expired},
	Received:          {Verified, Refused},
	// An incoming request is answered from verified: preserved, disclosed
	// (and so on) follow the answers this node sends.
	Verified: {Preserved, ProductionPending, Postponed, Refused, Disclosed, Withdrawn, Expired},
}

// CanTransition reports whether from -> to is allowed.
func CanTransition(from, to State) bool {
	return slices.Contains(transitions[from], to)
}

// checkTransition returns a refusal if from -> to is not allowed.
func checkTransition(from, to State) error {
	if from == to {
		return nil
	}
	if !CanTransition(from, to) {
		return refuse(RuleState, "state", "a package in state %s cannot become %s (allowed: %v)", from, to, transitions[from])
	}
	return nil
}

// replyState is the state an answer moves the package it answers to.
func replyState(t Type) (State, bool) {
	switch t {
	case PreservationConfirmation:
		return Preserved, true
	case PreservationRiskNotice:
		return "", false // informs; the request stays where it is
	case Refusal:
		return Refused, true
	case Postponement:
		return Postponed, true
	case PartialTrafficDisclosure, EvidenceDisclosure:
		return Disclosed, true
	case Withdrawal:
		return Withdrawn, true
	case Receipt:
		return Acknowledged, true
	}
	return "", false
}

// Overdue is one deadline that has passed.
type Overdue struct {
	Kind string    `json:"kind"` // response, preservation, review, retention-review
	Due  time.Time `json:"due"`
	What string    `json:"what"`
}

// Deadline kinds.
const (
	DueResponse        = "response"
	DuePreservation    = "preservation"
	DueReview          = "review"
	DueRetentionReview = "retention-review"
)

// OverdueAt lists the deadlines of a package in state st that have passed
// at now:
//   - response: an outgoing request still unanswered (sent, acknowledged)
//     after respond_by;
//   - preservation: preserved data whose preservation ends within 14 days
//     (or has ended) while no production is pending — the requester must
//     send the mutual-assistance request or extend, Art. 29(7);
//   - review / retention-review: review dates (CETS 224 Art. 14(5)).
func OverdueAt(m *Manifest, st State, now time.Time) []Overdue {
	var out []Overdue
	ended := st == Withdrawn || st == Expired || st == Refused || st == Quarantined
	if ended {
		return nil
	}
	d := m.Deadlines
	if d.RespondBy != nil && !d.RespondBy.IsZero() && (st == Sent || st == Acknowledged) && now.After(d.RespondBy.Time) {
		out = append(out, Overdue{Kind: DueResponse, Due: d.RespondBy.Time, What: fmt.Sprintf("no answer to the %s since %s", m.Type, d.RespondBy.Format(time.DateOnly))})
	}
	if d.PreserveUntil != nil && !d.PreserveUntil.IsZero() && st == Preserved && now.After(d.PreserveUntil.Add(-14*24*time.Hour)) {
		out = append(out, Overdue{Kind: DuePreservation, Due: d.PreserveUntil.Time, What: "preservation ends " + d.PreserveUntil.Format(time.DateOnly) + " and no mutual-assistance request is pending"})
	}
	if d.ReviewOn != nil && !d.ReviewOn.IsZero() && now.After(d.ReviewOn.Time) {
		out = append(out, Overdue{Kind: DueReview, Due: d.ReviewOn.Time, What: "review date passed"})
	}
	if r := m.Retention.ReviewOn; r != nil && !r.IsZero() && now.After(r.Time) {
		out = append(out, Overdue{Kind: DueRetentionReview, Due: r.Time, What: "retention review date passed (CETS 224 Art. 14(5))"})
	}
	return out
}
