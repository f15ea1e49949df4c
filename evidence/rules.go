package evidence

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Rule names a refusal rule of EVIDENCE.md ("What must be refused"). It is
// stable: clients and metrics match on it.
type Rule string

// Refusal rules.
const (
	RuleMalformed      Rule = "malformed"
	RuleRequired       Rule = "required"
	RuleArt29A         Rule = "art29-2-a"
	RuleArt29B         Rule = "art29-2-b"
	RuleArt29C         Rule = "art29-2-c"
	RuleArt29D         Rule = "art29-2-d"
	RuleArt29E         Rule = "art29-2-e"
	RuleArt29F         Rule = "art29-2-f"
	RuleLegalBasis     Rule = "legal-basis"
	RuleCategory       Rule = "data-category"
	RuleEmergency      Rule = "emergency-justification"
	RulePreservation   Rule = "preservation-period"
	RuleTimeZone       Rule = "time-zone"
	RuleReplyTo        Rule = "reply-to"
	RuleReasons        Rule = "reasons"
	RuleUseConditions  Rule = "use-conditions"
	RuleConsent        Rule = "consent"
	RuleItemName       Rule = "item-name"
	RuleUnsigned       Rule = "unsigned"
	RuleBadSignature   Rule = "bad-signature"
	RuleReplay         Rule = "replayed"
	RuleMisaddressed   Rule = "misaddressed"
	RuleUnknownKey     Rule = "unknown-recipient-key"
	RuleSignerRole     Rule = "signer-role"
	RuleItemHash       Rule = "item-hash"
	RuleBagPath        Rule = "bag-path"
	RuleBagUnlisted    Rule = "bag-unlisted-file"
	RuleCustodyGap     Rule = "custody-gap"
	RuleCustodyPrev    Rule = "custody-previous-hash"
	RuleCustodyTime    Rule = "custody-time"
	RuleCustodySig     Rule = "custody-signature"
	RuleCustodySigner  Rule = "custody-signer"
	RuleHoldRelease    Rule = "hold-release-unauthorised"
	RuleOnwardTransfer Rule = "onward-transfer-unauthorised"
	RuleState          Rule = "state-transition"
	RuleDisposal       Rule = "disposal"
)

// Violation is one broken rule, with the field it concerns.
type Violation struct {
	Rule    Rule   `json:"rule"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (v Violation) String() string {
	if v.Field != "" {
		return v.Field + ": " + v.Message
	}
	return v.Message
}

// RefusedError is returned when a package, an item, a bag or an act is
// refused. Nothing was stored. Test with errors.As; Violations says why.
type RefusedError struct {
	Violations []Violation
}

func (e *RefusedError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String() + " [" + string(v.Rule) + "]"
	}
	return "evidence: refused: " + strings.Join(parts, "; ")
}

// Has reports whether the refusal names rule.
func (e *RefusedError) Has(rule Rule) bool {
	return slices.ContainsFunc(e.Violations, func(v Violation) bool { return v.Rule == rule })
}

func refuse(rule Rule, field, format string, args ...any) *RefusedError {
	return &RefusedError{Violations: []Violation{{Rule: rule, Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// PreservationMinimum is the shortest preservation Art. 29(7) allows.
const PreservationMinimum = 60 * 24 * time.Hour

// articleCategories lists the data categories each provision covers
// (Arts. 1(d), 18(3), 29-32; CETS 224 Arts. 6-10 — check against the text
// your country ratified, see docs/evidence.md).
var articleCategories = map[string][]DataCategory{
	"ETS-185/26":  {Subscriber, Traffic, Content, DomainRegistration},
	"ETS-185/29":  {Subscriber, Traffic, Content},
	"ETS-185/30":  {Traffic},
	"ETS-185/31":  {Subscriber, Traffic, Content},
	"ETS-185/32":  {Subscriber, Traffic, Content},
	"CETS-224/6":  {DomainRegistration},
	"CETS-224/7":  {Subscriber},
	"CETS-224/8":  {Subscriber, Traffic},
	"CETS-224/9":  {Subscriber, Traffic},
	"CETS-224/10": {Subscriber, Traffic, Content},
}

// typeArticles lists the provisions a package type may rely on; types not
// listed (refusal, postponement, receipt, withdrawal) may cite any
// provision, as they answer or end a case under its basis.
var typeArticles = map[Type][]string{
	PreservationRequest:      {"ETS-185/29"},
	PreservationConfirmation: {"ETS-185/29"},
	PreservationRiskNotice:   {"ETS-185/29"},
	MutualAssistanceRequest:  {"ETS-185/31", "CETS-224/8", "CETS-224/9", "CETS-224/10"},
	PartialTrafficDisclosure: {"ETS-185/30"},
	EvidenceDisclosure:       {"ETS-185/31", "ETS-185/32", "CETS-224/8", "CETS-224/9", "CETS-224/10"},
	SpontaneousInformation:   {"ETS-185/26"},
}

// emergencyArticles may only be used for emergencies (CETS 224 Arts. 9-10).
var emergencyArticles = map[string]bool{"CETS-224/9": true, "CETS-224/10": true}

// signerRoles lists the officer roles that may sign each act. National law
// decides who is competent; this is the conservative common ground (Art. 35
// 24/7 contacts handle preservation, central authorities mutual assistance).
var signerRoles = map[Type][]string{
	PreservationRequest:      {Role247Contact, RoleCentralAuthority, RoleCompetentAuthority, RoleProsecutor, RoleJudicialAuthority, RoleLawEnforcement},
	PreservationConfirmation: {Role247Contact, RoleCentralAuthority, RoleCompetentAuthority, RoleProsecutor},
	PreservationRiskNotice:   {Role247Contact, RoleCentralAuthority, RoleCompetentAuthority, RoleProsecutor},
	MutualAssistanceRequest:  {RoleCentralAuthority, RoleJudicialAuthority, RoleProsecutor},
	Refusal:                  {Role247Contact, RoleCentralAuthority, RoleJudicialAuthority, RoleProsecutor, RoleCompetentAuthority},
	Postponement:             {Role247Contact, RoleCentralAuthority, RoleJudicialAuthority, RoleProsecutor, RoleCompetentAuthority},
	PartialTrafficDisclosure: {Role247Contact, RoleCentralAuthority, RoleCompetentAuthority},
	EvidenceDisclosure:       {RoleCentralAuthority, RoleJudicialAuthority, RoleProsecutor, RoleCompetentAuthority},
}

// replyTypes lists what each answer may reply to (nil: any package).
var replyTypes = map[Type][]Type{
	PreservationConfirmation: {PreservationRequest},
	PreservationRiskNotice:   {PreservationRequest},
	PartialTrafficDisclosure: {PreservationRequest},
	Refusal:                  {PreservationRequest, MutualAssistanceRequest},
	Postponement:             {PreservationRequest, MutualAssistanceRequest},
	EvidenceDisclosure:       {MutualAssistanceRequest, PreservationRequest},
	Withdrawal:               {PreservationRequest, MutualAssistanceRequest},
	Receipt:                  nil,
}

var knownRoles = []string{Role247Contact, RoleCentralAuthority, RoleJudicialAuthority, RoleProsecutor, RoleLawEnforcement, RoleCompetentAuthority}

var (
	idPattern          = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{7,63}$`)
	fingerprintPattern = regexp.MustCompile(`^([0-9A-F]{40}|[0-9A-F]{64})$`)
	countryPattern     = regexp.MustCompile(`^[A-Z]{2}$`)
	hexPattern         = regexp.MustCompile(`^[0-9a-f]+$`)
)

// Validate checks a manifest against the rules a package must meet on its
// own (the rules that need the store or signatures are checked by the
// Service). It returns every violation found, not only the first.
func Validate(m *Manifest) []Violation {
	var v []Violation
	add := func(rule Rule, field, format string, args ...any) {
		v = append(v, Violation{Rule: rule, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }

	if m.Format != FormatVersion {
		add(RuleRequired, "kurier_evidence", "must be %d (the manifest format version)", FormatVersion)
	}
	if !idPattern.MatchString(m.ID) {
		add(RuleRequired, "id", "package id %q must be 8-64 lower-case letters, digits and '-' (a UUID is best)", m.ID)
	}
	if !m.Type.known() {
		add(RuleRequired, "type", "unknown package type %q (one of %v)", m.Type, Types)
	}
	checkParty(add, "sender", m.Sender)
	if len(m.Recipients) == 0 {
		add(RuleRequired, "recipients", "at least one recipient is required")
	}
	seen := map[string]bool{}
	for i, r := range m.Recipients {
		f := fmt.Sprintf("recipients[%d]", i)
		checkParty(add, f, r)
		if seen[r.Node] {
			add(RuleRequired, f+".node", "recipient %s is listed twice", r.Node)
		}
		seen[r.Node] = true
		if r.Node == m.Sender.Node && r.Node != "" {
			add(RuleRequired, f+".node", "the sender cannot be a recipient of its own package")
		}
	}

	// Times: every one must carry a zone.
	for field, t := range m.times() {
		if p := t.problem(); p != "" {
			add(RuleTimeZone, field, "%s", p)
		}
	}
	if m.Created.IsZero() {
		add(RuleRequired, "created", "creation time is required")
	}

	// Legal basis and data categories.
	lb := m.LegalBasis
	art := lb.Instrument + "/" + lb.Article
	cats, knownArt := articleCategories[art]
	switch {
	case blank(lb.Instrument) || blank(lb.Article):
		add(RuleLegalBasis, "legal_basis", "instrument (ETS-185 or CETS-224) and article are required")
	case lb.Instrument != "ETS-185" && lb.Instrument != "CETS-224":
		add(RuleLegalBasis, "legal_basis.instrument", "unknown instrument %q (ETS-185 or CETS-224)", lb.Instrument)
	}
	if arts, ok := typeArticles[m.Type]; ok && !slices.Contains(arts, art) {
		add(RuleLegalBasis, "legal_basis.article", "a %s cannot rely on %s (allowed: %v)", m.Type, art, arts)
	}
	for i, c := range m.DataCategories {
		f := fmt.Sprintf("data_categories[%d]", i)
		if !slices.Contains([]DataCategory{Subscriber, Traffic, Content, DomainRegistration}, c) {
			add(RuleCategory, f, "unknown data category %q", c)
			continue
		}
		if knownArt && !slices.Contains(cats, c) {
			add(RuleCategory, f, "%s does not cover %s data (only %v)", art, c, cats)
		}
	}
	if needsCategories(m.Type) && len(m.DataCategories) == 0 {
		add(RuleCategory, "data_categories", "a %s must name the data categories it concerns", m.Type)
	}

	// Emergency.
	if e := m.Emergency; e != nil && e.Flag && len(strings.TrimSpace(e.Justification)) < 10 {
		add(RuleEmergency, "emergency.justification", "an emergency must be justified (the significant and imminent risk to life or safety)")
	}
	if emergencyArticles[art] && (m.Emergency == nil || !m.Emergency.Flag) {
		add(RuleEmergency, "emergency.flag", "%s is for emergencies only: set the emergency flag and justify it", art)
	}

	// Type-specific elements.
	switch m.Type {
	case PreservationRequest:
		checkArt29(add, lb.Art29)
		checkPreservation(add, m, "deadlines.preserve_until")
	case PreservationConfirmation:
		checkPreservation(add, m, "deadlines.preserve_until")
	case Refusal, Postponement, PreservationRiskNotice:
		if m.Reasons == nil || blank(m.Reasons.Ground) || blank(m.Reasons.Text) {
			add(RuleReasons, "reasons", "a %s must give its ground and reasons (Art. 27(7))", m.Type)
		}
		if m.Type == Postponement && (m.Reasons == nil || m.Reasons.Until == nil) {
			add(RuleReasons, "reasons.until", "a postponement must say until when")
		}
	case SpontaneousInformation:
		if blank(m.Handling.UseLimitation) {
			add(RuleUseConditions, "handling.use_limitation", "spontaneous information must state the conditions of use that bind the receiver (Art. 26(2))")
		}
	}
	if lb.Article == "32" {
		c := m.Consent
		if c == nil || blank(c.Who) || blank(c.Authority) || c.When == nil || blank(c.How) {
			add(RuleConsent, "consent", "Art. 32(b) needs the consent record: who, on what authority, when and how")
		}
	}

	// Reply links.
	if m.Type.IsRequest() && m.ReplyTo != "" {
		add(RuleReplyTo, "reply_to", "a %s starts a case and cannot reply to another package", m.Type)
	}
	if !m.Type.IsRequest() && m.Type.known() && m.ReplyTo == "" {
		add(RuleReplyTo, "reply_to", "a %s must name the package it answers (reply_to)", m.Type)
	}
	if m.ReplyTo != "" && (!idPattern.MatchString(m.ReplyTo) || m.ReplyTo == m.ID) {
		add(RuleReplyTo, "reply_to", "%q is not another package's id", m.ReplyTo)
	}

	// Who signs: the officer's role must fit the act.
	if roles, ok := signerRoles[m.Type]; ok && !slices.Contains(roles, m.Sender.Role) {
		add(RuleSignerRole, "sender.role", "an officer acting as %q cannot sign a %s (allowed: %v)", m.Sender.Role, m.Type, roles)
	} else if !ok && !slices.Contains(knownRoles, m.Sender.Role) {
		add(RuleSignerRole, "sender.role", "unknown officer role %q (one of %v)", m.Sender.Role, knownRoles)
	}

	// Handling.
	switch m.Handling.OnwardTransfer {
	case "", "prohibited", "with-authorisation":
	default:
		add(RuleRequired, "handling.onward_transfer", "must be \"prohibited\" or \"with-authorisation\"")
	}
	switch m.Retention.Mode {
	case "", "governance", "compliance":
	default:
		add(RuleRequired, "retention.mode", "must be \"governance\" or \"compliance\"")
	}

	// Items.
	names := map[string]bool{}
	for i, it := range m.Items {
		f := fmt.Sprintf("items[%d]", i)
		if err := ValidItemName(it.Name); err != "" {
			add(RuleItemName, f+".name", "%s", err)
		}
		if names[it.Name] {
			add(RuleItemName, f+".name", "item %q is listed twice", it.Name)
		}
		names[it.Name] = true
		if it.SHA256 != "" && (len(it.SHA256) != 64 || !hexPattern.MatchString(it.SHA256)) {
			add(RuleItemHash, f+".sha256", "not a lower-case hex SHA-256")
		}
		if it.SHA512 != "" && (len(it.SHA512) != 128 || !hexPattern.MatchString(it.SHA512)) {
			add(RuleItemHash, f+".sha512", "not a lower-case hex SHA-512")
		}
	}
	return v
}

func needsCategories(t Type) bool {
	switch t {
	case PreservationRequest, MutualAssistanceRequest, PartialTrafficDisclosure, EvidenceDisclosure:
		return true
	}
	return false
}

func checkParty(add func(Rule, string, string, ...any), f string, p Party) {
	if !fingerprintPattern.MatchString(p.Node) {
		add(RuleRequired, f+".node", "node must be an OpenPGP fingerprint in upper-case hex (40 or 64 digits)")
	}
	if !countryPattern.MatchString(p.Country) {
		add(RuleRequired, f+".country", "country must be an ISO 3166-1 alpha-2 code such as DE")
	}
	if strings.TrimSpace(p.Authority) == "" {
		add(RuleRequired, f+".authority", "the authority is required")
	}
}

func checkArt29(add func(Rule, string, string, ...any), a *Art29) {
	if a == nil {
		a = &Art29{}
	}
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	f := "legal_basis.art29."
	if blank(a.Authority) {
		add(RuleArt29A, f+"authority", "Art. 29(2)(a): the authority seeking preservation is missing")
	}
	if blank(a.Offence) || blank(a.Facts) {
		add(RuleArt29B, f+"offence", "Art. 29(2)(b): the offence and a brief summary of the facts are required")
	}
	if blank(a.Data) || blank(a.Relationship) {
		add(RuleArt29C, f+"data", "Art. 29(2)(c): the stored data to preserve and its relationship to the offence are required")
	}
	if blank(a.CustodianOrLocation) {
		add(RuleArt29D, f+"custodian_or_location", "Art. 29(2)(d): information identifying the custodian or the location of the computer system is missing")
	}
	if blank(a.Necessity) {
		add(RuleArt29E, f+"necessity", "Art. 29(2)(e): the necessity of preservation is missing")
	}
	if !a.MLAToFollow {
		add(RuleArt29F, f+"mla_to_follow", "Art. 29(2)(f): the request must state that a mutual-assistance request will follow")
	}
}

func checkPreservation(add func(Rule, string, string, ...any), m *Manifest, f string) {
	pu := m.Deadlines.PreserveUntil
	if pu == nil || pu.IsZero() {
		add(RulePreservation, f, "the end of preservation is required (at least 60 days, Art. 29(7))")
		return
	}
	if pu.problem() != "" || m.Created.IsZero() || m.Created.problem() != "" {
		return // reported as a time problem
	}
	if d := pu.Sub(m.Created.Time); d < PreservationMinimum {
		add(RulePreservation, f, "preservation of %d days is under the 60-day minimum of Art. 29(7)", int(d.Hours()/24))
	}
}

// times lists every time in the manifest by field path.
func (m *Manifest) times() map[string]Time {
	out := map[string]Time{"created": m.Created}
	put := func(f string, t *Time) {
		if t != nil {
			out[f] = *t
		}
	}
	for i, t := range m.Targets {
		put(fmt.Sprintf("targets[%d].from", i), t.From)
		put(fmt.Sprintf("targets[%d].to", i), t.To)
	}
	put("deadlines.respond_by", m.Deadlines.RespondBy)
	put("deadlines.preserve_until", m.Deadlines.PreserveUntil)
	put("deadlines.review_on", m.Deadlines.ReviewOn)
	put("retention.retain_until", m.Retention.RetainUntil)
	put("retention.review_on", m.Retention.ReviewOn)
	if m.Reasons != nil {
		put("reasons.until", m.Reasons.Until)
	}
	if m.Consent != nil {
		put("consent.when", m.Consent.When)
	}
	for i, it := range m.Items {
		if it.Acquisition != nil {
			put(fmt.Sprintf("items[%d].acquisition.time", i), it.Acquisition.Time)
		}
	}
	return out
}

// ValidItemName returns why name cannot name an item file, or "". Names
// become file names in exported bags (data/NAME) and lines in BagIt and
// sha512sum manifests, so they are single, portable path segments.
func ValidItemName(name string) string {
	switch {
	case name == "":
		return "item name is empty"
	case len(name) > 200:
		return "item name is longer than 200 bytes"
	case !utf8.ValidString(name):
		return "item name is not valid UTF-8"
	case strings.HasPrefix(name, ".") || strings.HasPrefix(name, " ") || strings.HasSuffix(name, " "):
		return fmt.Sprintf("item name %q must not start with '.' or a space, or end with a space", name)
	case strings.Contains(name, ".."):
		return fmt.Sprintf("item name %q must not contain \"..\"", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || strings.ContainsRune(`/\%*?:"<>|`, r) {
			return fmt.Sprintf("item name %q contains %q (names are single file names without / \\ %% * ? : \" < > |)", name, r)
		}
	}
	return ""
}
