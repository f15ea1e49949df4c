// Package evidence is what law-enforcement liaisons use to move electronic
// evidence between countries under the Budapest Convention (ETS 185) and its
// Second Additional Protocol (CETS 224): packages with a signed manifest
// (RFC 8785 canonical JSON, detached OpenPGP signature by the node), items
// streamed in and sealed under a per-package key, stored write-once under S3
// Object Lock, a hash-chained signed custody log, a request lifecycle with
// deadlines, BagIt export for courts, and the transfer stream and signed
// receipt a peer exchange is built from.
//
// The legal model is ../shared/design/EVIDENCE.md; docs/evidence.md
// describes the design decisions. A flow can be followed in one direction:
// HTTP handler (http.go) -> Service (service.go) -> sealing (crypt.go) and
// custody (custody.go) -> store.
package evidence

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// FormatVersion is the manifest format this code writes and reads.
const FormatVersion = 1

// Type is the kind of a package: which act of mutual assistance it is.
type Type string

// Package types. Requests start a case; answers carry reply_to.
const (
	// PreservationRequest asks for expedited preservation (Art. 29).
	PreservationRequest Type = "preservation-request"
	// PreservationConfirmation says the data is preserved (Art. 29(3)/(7)).
	PreservationConfirmation Type = "preservation-confirmation"
	// PreservationRiskNotice says preservation will not secure the data or
	// threatens confidentiality (Art. 29(6)).
	PreservationRiskNotice Type = "preservation-risk-notice"
	// MutualAssistanceRequest asks to search, seize and disclose (Art. 31).
	MutualAssistanceRequest Type = "mutual-assistance-request"
	// Refusal refuses a request, with reasons (Art. 27(7), 29(5)).
	Refusal Type = "refusal"
	// Postponement postpones execution, with reasons (Art. 27(7)).
	Postponement Type = "postponement"
	// PartialTrafficDisclosure discloses enough traffic data to identify a
	// service provider and the path of a communication (Art. 30).
	PartialTrafficDisclosure Type = "partial-traffic-disclosure"
	// EvidenceDisclosure discloses stored data (Art. 31).
	EvidenceDisclosure Type = "evidence-disclosure"
	// SpontaneousInformation shares information without a request (Art. 26).
	SpontaneousInformation Type = "spontaneous-information"
	// Receipt is the formal acknowledgement of a package (Art. 25(3) formal
	// confirmation).
	Receipt Type = "receipt"
	// Withdrawal withdraws an earlier request.
	Withdrawal Type = "withdrawal"
)

// Types lists every package type, for help texts and validation.
var Types = []Type{
	PreservationRequest, PreservationConfirmation, PreservationRiskNotice, MutualAssistanceRequest,
	Refusal, Postponement, PartialTrafficDisclosure, EvidenceDisclosure, SpontaneousInformation,
	Receipt, Withdrawal,
}

// IsRequest reports whether t starts a case (no reply_to).
func (t Type) IsRequest() bool {
	switch t {
	case PreservationRequest, MutualAssistanceRequest, SpontaneousInformation:
		return true
	}
	return false
}

// known reports whether t is a package type.
func (t Type) known() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// DataCategory is a category of computer data (Arts. 1(d), 18(3); CETS 224
// Art. 6).
type DataCategory string

// Data categories.
const (
	Subscriber         DataCategory = "subscriber"
	Traffic            DataCategory = "traffic"
	Content            DataCategory = "content"
	DomainRegistration DataCategory = "domain-registration"
)

// Officer roles: the function in which a person acts. The act a package
// represents decides which roles may sign it (see rules.go).
const (
	Role247Contact         = "24/7-contact"
	RoleCentralAuthority   = "central-authority"
	RoleJudicialAuthority  = "judicial-authority"
	RoleProsecutor         = "prosecutor"
	RoleLawEnforcement     = "law-enforcement"
	RoleCompetentAuthority = "competent-authority"
)

// Manifest is the signed description of a package. Everything a receiver
// relies on is in it, recipients included, so nothing can be re-addressed
// under the sender's signature.
type Manifest struct {
	Format         int            `json:"kurier_evidence"`
	ID             string         `json:"id"`
	Type           Type           `json:"type"`
	ReplyTo        string         `json:"reply_to,omitempty"`
	Created        Time           `json:"created"`
	Sender         Party          `json:"sender"`
	Recipients     []Party        `json:"recipients"`
	LegalBasis     LegalBasis     `json:"legal_basis"`
	DataCategories []DataCategory `json:"data_categories,omitempty"`
	Targets        []Target       `json:"targets,omitempty"`
	Custodian      *Custodian     `json:"custodian,omitempty"`
	Handling       Handling       `json:"handling"`
	Emergency      *Emergency     `json:"emergency,omitempty"`
	Deadlines      Deadlines      `json:"deadlines,omitzero"`
	Retention      Retention      `json:"retention,omitzero"`
	Reasons        *Reasons       `json:"reasons,omitempty"`
	Consent        *Consent       `json:"consent,omitempty"`
	Summary        string         `json:"summary,omitempty"`
	Items          []Item         `json:"items,omitempty"`
}

// Party is a sender or recipient: a node (by key fingerprint), its country,
// the authority and the officer acting.
type Party struct {
	// Node is the node's OpenPGP primary key fingerprint (upper-case hex).
	Node      string `json:"node"`
	NodeName  string `json:"node_name,omitempty"`
	Country   string `json:"country"`
	Authority string `json:"authority"`
	Officer   string `json:"officer,omitempty"`
	// Role is the function the officer acts in (Role... constants).
	Role string `json:"role,omitempty"`
	// Contact247 is the Art. 35 point of contact (phone or address).
	Contact247 string `json:"contact_24_7,omitempty"`
}

// LegalBasis names the provision a package relies on.
type LegalBasis struct {
	// Instrument is "ETS-185" (the Convention) or "CETS-224" (Second
	// Additional Protocol).
	Instrument string `json:"instrument"`
	Article    string `json:"article"`
	Paragraph  string `json:"paragraph,omitempty"`
	// AuthorisationRef is the domestic order or decision, if any.
	AuthorisationRef string `json:"authorisation_ref,omitempty"`
	// Art29 holds the elements Art. 29(2) requires in a preservation request.
	Art29 *Art29 `json:"art29,omitempty"`
}

// Art29 holds the elements a preservation request shall specify (Art. 29(2)).
type Art29 struct {
	Authority           string `json:"authority"`             // (a)
	Offence             string `json:"offence"`               // (b)
	Facts               string `json:"facts"`                 // (b)
	Data                string `json:"data"`                  // (c)
	Relationship        string `json:"relationship"`          // (c)
	CustodianOrLocation string `json:"custodian_or_location"` // (d)
	Necessity           string `json:"necessity"`             // (e)
	MLAToFollow         bool   `json:"mla_to_follow"`         // (f)
}

// Target is an identifier the request is about, with its time range.
type Target struct {
	Type  string `json:"type"` // e.g. ipv4-addr, email-addr, account, domain-name
	Value string `json:"value"`
	From  *Time  `json:"from,omitempty"`
	To    *Time  `json:"to,omitempty"`
}

// Custodian is who holds the data (service provider) and where.
type Custodian struct {
	Name     string `json:"name"`
	Country  string `json:"country,omitempty"`
	Location string `json:"location,omitempty"`
}

// Handling binds the receiver: confidentiality (Art. 27(8)), use limitation
// (Arts. 26, 28), onward transfer (CETS 224 Art. 14(10)).
type Handling struct {
	TLP           string `json:"tlp,omitempty"`
	Confidential  bool   `json:"confidential,omitempty"`
	UseLimitation string `json:"use_limitation,omitempty"`
	// OnwardTransfer is "prohibited" or "with-authorisation" (default).
	OnwardTransfer string `json:"onward_transfer,omitempty"`
	Sensitive      bool   `json:"sensitive,omitempty"` // CETS 224 Art. 14(4)
}

// Emergency marks a request as an emergency (CETS 224 Arts. 9-10).
type Emergency struct {
	Flag          bool   `json:"flag"`
	Justification string `json:"justification,omitempty"`
}

// Deadlines of a request.
type Deadlines struct {
	RespondBy *Time `json:"respond_by,omitempty"`
	// PreserveUntil is the end of the requested preservation (at least 60
	// days after the request, Art. 29(7)).
	PreserveUntil *Time `json:"preserve_until,omitempty"`
	ReviewOn      *Time `json:"review_on,omitempty"`
}

// Retention says how long the node keeps the package's data.
type Retention struct {
	RetainUntil *Time `json:"retain_until,omitempty"`
	ReviewOn    *Time `json:"review_on,omitempty"` // CETS 224 Art. 14(5)
	LegalHold   bool  `json:"legal_hold,omitempty"`
	// Mode is "governance" (default) or "compliance" (mandated minimum).
	Mode string `json:"mode,omitempty"`
}

// Reasons of a refusal, postponement or risk notice (Art. 27(7), 29(5), 29(6)).
type Reasons struct {
	// Ground is e.g. "political-offence", "sovereignty", "security",
	// "ordre-public", "essential-interests", "ongoing-investigation",
	// "preservation-insufficient", "confidentiality-threatened".
	Ground string `json:"ground"`
	Text   string `json:"text"`
	Until  *Time  `json:"until,omitempty"`
}

// Consent records the lawful and voluntary consent for Art. 32(b).
type Consent struct {
	Who       string `json:"who"`
	Authority string `json:"authority"`
	When      *Time  `json:"when"`
	How       string `json:"how"`
}

// Item is one evidence file.
type Item struct {
	Name string `json:"name"`
	// MediaType is declared by the sender, never trusted.
	MediaType    string       `json:"media_type,omitempty"`
	Size         int64        `json:"size"`
	SHA256       string       `json:"sha256,omitempty"`
	SHA512       string       `json:"sha512,omitempty"`
	Exhibit      string       `json:"exhibit,omitempty"`
	RootExhibit  string       `json:"root_exhibit,omitempty"`
	DerivedFrom  []string     `json:"derived_from,omitempty"`
	PersonalData bool         `json:"personal_data,omitempty"`
	Sensitive    bool         `json:"sensitive,omitempty"`
	Acquisition  *Acquisition `json:"acquisition,omitempty"`
}

// Acquisition records how an item was obtained.
type Acquisition struct {
	Method   string `json:"method,omitempty"`
	Tool     string `json:"tool,omitempty"`
	Operator string `json:"operator,omitempty"`
	Time     *Time  `json:"time,omitempty"`
	Source   string `json:"source,omitempty"`
}

// Time is an RFC 3339 time that remembers whether its text carried a time
// zone: a time without one is ambiguous by hours across borders, so it is
// refused (with the field named) rather than guessed.
type Time struct {
	time.Time
	raw string // as received, when it could not be parsed
}

// T makes a Time.
func T(t time.Time) Time { return Time{Time: t} }

// TP makes a *Time.
func TP(t time.Time) *Time { return &Time{Time: t} }

var zoneSuffix = regexp.MustCompile(`(Z|z|[+-]\d\d:\d\d)$`)

// UnmarshalJSON never fails on a bad time; validation reports it.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = Time{}
	if !zoneSuffix.MatchString(s) {
		t.raw = s
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.raw = s
		return nil
	}
	t.Time = v
	return nil
}

// MarshalJSON writes RFC 3339 in UTC (or the unparsed text back).
func (t Time) MarshalJSON() ([]byte, error) {
	if t.raw != "" {
		return json.Marshal(t.raw)
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

// IsZero reports whether the time is unset (and not a bad text either).
func (t Time) IsZero() bool { return t.raw == "" && t.Time.IsZero() }

// problem says what is wrong with the text, or "".
func (t Time) problem() string {
	if t.raw == "" {
		return ""
	}
	if !zoneSuffix.MatchString(t.raw) {
		return "time " + quote(t.raw) + " has no time zone (add Z or an offset such as +01:00)"
	}
	return "time " + quote(t.raw) + " is not an RFC 3339 time"
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ParseManifest decodes a manifest. With strict, unknown properties are an
// error (a typo in a legal field must not pass silently); manifests from
// peers are read leniently, after their signature verified.
func ParseManifest(b []byte, strict bool) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, &RefusedError{Violations: []Violation{{Rule: RuleMalformed, Message: "manifest is not valid: " + strings.TrimPrefix(err.Error(), "json: ")}}}
	}
	if dec.More() {
		return nil, &RefusedError{Violations: []Violation{{Rule: RuleMalformed, Message: "manifest holds more than one JSON value"}}}
	}
	return &m, nil
}

// Recipient returns the recipient with fingerprint fpr.
func (m *Manifest) Recipient(fpr string) (Party, bool) {
	for _, r := range m.Recipients {
		if strings.EqualFold(r.Node, fpr) {
			return r, true
		}
	}
	return Party{}, false
}

// Item returns the item called name.
func (m *Manifest) Item(name string) (Item, bool) {
	for _, it := range m.Items {
		if it.Name == name {
			return it, true
		}
	}
	return Item{}, false
}
