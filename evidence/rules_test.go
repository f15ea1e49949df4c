package evidence

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRefusalRules is one row per manifest rule of EVIDENCE.md "What must
// be refused": each breaks a valid preservation request (or answer) in one
// way, and the node must refuse it with that rule, a message naming the
// problem, and nothing stored.
func TestRefusalRules(t *testing.T) {
	a, b, _ := identities(t)
	now := time.Now().UTC()
	cases := []struct {
		name   string
		mutate func(m *Manifest)
		rule   Rule
		msg    string
	}{
		{"art29 (a) authority missing", func(m *Manifest) { m.LegalBasis.Art29.Authority = " " }, RuleArt29A, "(a)"},
		{"art29 (b) offence missing", func(m *Manifest) { m.LegalBasis.Art29.Offence = "" }, RuleArt29B, "(b)"},
		{"art29 (b) facts missing", func(m *Manifest) { m.LegalBasis.Art29.Facts = "" }, RuleArt29B, "summary of the facts"},
		{"art29 (c) data missing", func(m *Manifest) { m.LegalBasis.Art29.Data = "" }, RuleArt29C, "(c)"},
		{"art29 (c) relationship missing", func(m *Manifest) { m.LegalBasis.Art29.Relationship = "" }, RuleArt29C, "relationship"},
		{"art29 (d) custodian missing", func(m *Manifest) { m.LegalBasis.Art29.CustodianOrLocation = "" }, RuleArt29D, "custodian"},
		{"art29 (e) necessity missing", func(m *Manifest) { m.LegalBasis.Art29.Necessity = "" }, RuleArt29E, "necessity"},
		{"art29 (f) no MLA to follow", func(m *Manifest) { m.LegalBasis.Art29.MLAToFollow = false }, RuleArt29F, "will follow"},
		{"art29 elements absent altogether", func(m *Manifest) { m.LegalBasis.Art29 = nil }, RuleArt29A, "(a)"},
		{"category not covered by Art. 29", func(m *Manifest) { m.DataCategories = []DataCategory{DomainRegistration} }, RuleCategory, "does not cover domain-registration"},
		{"unknown category", func(m *Manifest) { m.DataCategories = []DataCategory{"biometric"} }, RuleCategory, "unknown data category"},
		{"no category", func(m *Manifest) { m.DataCategories = nil }, RuleCategory, "must name the data categories"},
		{"emergency without justification", func(m *Manifest) { m.Emergency = &Emergency{Flag: true} }, RuleEmergency, "must be justified"},
		{"emergency with a token justification", func(m *Manifest) { m.Emergency = &Emergency{Flag: true, Justification: "urgent"} }, RuleEmergency, "imminent risk"},
		{"preservation under 60 days", func(m *Manifest) { m.Deadlines.PreserveUntil = TP(now.Add(59 * 24 * time.Hour)) }, RulePreservation, "under the 60-day minimum"},
		{"preservation end missing", func(m *Manifest) { m.Deadlines.PreserveUntil = nil }, RulePreservation, "at least 60 days"},
		{"signer role does not fit", func(m *Manifest) { m.Sender.Role = "cert" }, RuleSignerRole, "cannot sign a preservation-request"},
		{"sender is another node", func(m *Manifest) { m.Sender.Node = b.Fingerprint(); m.Recipients[0].Node = a.Fingerprint() }, RuleSignerRole, "can only sign packages it sends"},
		{"request with reply_to", func(m *Manifest) { m.ReplyTo = "0f1e2d3c-aaaa-4bbb-8ccc-000000000000" }, RuleReplyTo, "starts a case"},
		{"wrong article for the type", func(m *Manifest) { m.LegalBasis.Article = "31" }, RuleLegalBasis, "cannot rely on ETS-185/31"},
		{"recipient key unknown", func(m *Manifest) { m.Recipients[0].Node = strings.Repeat("AB", 20) }, RuleUnknownKey, "no public key"},
		{"no recipient", func(m *Manifest) { m.Recipients = nil }, RuleRequired, "at least one recipient"},
		{"bad item name", func(m *Manifest) { m.Items = []Item{{Name: "../../etc/passwd"}} }, RuleItemName, "must not"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, a, "de", "DE", fsBucket(t), b)
			m := preservationRequest(a, b)
			tc.mutate(m)
			_, err := n.svc.Create(context.Background(), liaison, mustJSON(t, m))
			refusedWith(t, err, tc.rule)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not say %q", err, tc.msg)
			}
			assertEmpty(t, n)
		})
	}
	t.Run("valid request is accepted", func(t *testing.T) {
		n := newNode(t, a, "de", "DE", fsBucket(t), b)
		if _, err := n.svc.Create(context.Background(), liaison, mustJSON(t, preservationRequest(a, b))); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTimesWithoutZone: every time in a manifest must carry a zone.
func TestTimesWithoutZone(t *testing.T) {
	a, b, _ := identities(t)
	for _, field := range []string{"created", "deadlines.preserve_until", "targets[0].from"} {
		t.Run(field, func(t *testing.T) {
			n := newNode(t, a, "de", "DE", fsBucket(t), b)
			raw := string(mustJSON(t, preservationRequest(a, b)))
			var old string
			switch field {
			case "created":
				old = `"created":"`
			case "deadlines.preserve_until":
				old = `"preserve_until":"`
			case "targets[0].from":
				old = `"from":"`
			}
			i := strings.Index(raw, old) + len(old)
			raw = raw[:i] + "2026-05-01T10:00:00" + raw[strings.IndexByte(raw[i:], '"')+i:]
			_, err := n.svc.Create(context.Background(), liaison, []byte(raw))
			refusedWith(t, err, RuleTimeZone)
			if !strings.Contains(err.Error(), field+": time \"2026-05-01T10:00:00\" has no time zone") {
				t.Errorf("message does not name the field: %v", err)
			}
			assertEmpty(t, n)
		})
	}
}

// TestCategoryPerArticle: Art. 30 covers traffic data only, CETS 224 Art. 7
// subscriber information only.
func TestCategoryPerArticle(t *testing.T) {
	a, b, _ := identities(t)
	m := answer(preservationRequest(b, a), a, PartialTrafficDisclosure)
	m.Sender.Role = Role247Contact
	m.LegalBasis = LegalBasis{Instrument: "ETS-185", Article: "30"}
	m.DataCategories = []DataCategory{Traffic, Content}
	v := Validate(m)
	if len(v) != 1 || v[0].Rule != RuleCategory || !strings.Contains(v[0].Message, "ETS-185/30 does not cover content") {
		t.Fatalf("violations = %v", v)
	}
	m.DataCategories = []DataCategory{Traffic}
	if v := Validate(m); len(v) != 0 {
		t.Fatalf("traffic under Art. 30 refused: %v", v)
	}
	if got := articleCategories["CETS-224/7"]; len(got) != 1 || got[0] != Subscriber {
		t.Fatalf("CETS 224 Art. 7 = %v", got)
	}
}

// TestEmergencyArticles: CETS 224 Arts. 9-10 need the emergency flag.
func TestEmergencyArticles(t *testing.T) {
	a, b, _ := identities(t)
	m := preservationRequest(a, b)
	m.Type = MutualAssistanceRequest
	m.Sender.Role = RoleCentralAuthority
	m.LegalBasis = LegalBasis{Instrument: "CETS-224", Article: "10"}
	m.Deadlines.PreserveUntil = nil
	v := Validate(m)
	if len(v) != 1 || v[0].Rule != RuleEmergency {
		t.Fatalf("violations = %v", v)
	}
	m.Emergency = &Emergency{Flag: true, Justification: "hostage situation: significant and imminent risk to life"}
	if v := Validate(m); len(v) != 0 {
		t.Fatalf("justified emergency refused: %v", v)
	}
}

// TestReplay: a package id is used once.
func TestReplay(t *testing.T) {
	a, b, _ := identities(t)
	n := newNode(t, a, "de", "DE", fsBucket(t), b)
	m := preservationRequest(a, b)
	if _, err := n.svc.Create(context.Background(), liaison, mustJSON(t, m)); err != nil {
		t.Fatal(err)
	}
	_, err := n.svc.Create(context.Background(), liaison, mustJSON(t, m))
	refusedWith(t, err, RuleReplay)
	// Also after a restart (the guard is in the store, not in memory).
	n2 := newNode(t, a, "de", "DE", n.bucket, b)
	_, err = n2.svc.Create(context.Background(), liaison, mustJSON(t, m))
	refusedWith(t, err, RuleReplay)
}

// TestAnswerRules: answers link to a package this node received and go
// back to its sender; only the requester may withdraw.
func TestAnswerRules(t *testing.T) {
	a, b, c := identities(t)
	n := newNode(t, a, "de", "DE", fsBucket(t), b, c)
	req := preservationRequest(a, b)
	if _, err := n.svc.Create(context.Background(), liaison, mustJSON(t, req)); err != nil {
		t.Fatal(err)
	}
	// A confirmation of our own request makes no sense.
	conf := answer(req, a, PreservationConfirmation)
	conf.Recipients = []Party{req.Recipients[0]}
	_, err := n.svc.Create(context.Background(), liaison, mustJSON(t, conf))
	refusedWith(t, err, RuleSignerRole)
	// Answering an unknown package.
	conf.ReplyTo = newID()
	_, err = n.svc.Create(context.Background(), liaison, mustJSON(t, conf))
	refusedWith(t, err, RuleReplyTo)
	// An answer without reply_to.
	conf.ReplyTo = ""
	_, err = n.svc.Create(context.Background(), liaison, mustJSON(t, conf))
	refusedWith(t, err, RuleReplyTo)
	// A refusal without reasons.
	ref := answer(preservationRequest(b, a), a, Refusal)
	ref.Reasons = nil
	if v := Validate(ref); len(v) != 1 || v[0].Rule != RuleReasons {
		t.Fatalf("refusal without reasons: %v", v)
	}
	// Withdrawing our own request is fine.
	w := answer(req, a, Withdrawal)
	w.Sender = req.Sender
	w.Recipients = req.Recipients
	if _, err := n.svc.Create(context.Background(), liaison, mustJSON(t, w)); err != nil {
		t.Fatal(err)
	}
}

// TestStrictManifest: unknown properties (typos in legal fields) are refused.
func TestStrictManifest(t *testing.T) {
	a, b, _ := identities(t)
	n := newNode(t, a, "de", "DE", fsBucket(t), b)
	raw := strings.Replace(string(mustJSON(t, preservationRequest(a, b))), `"legal_basis"`, `"legal_bassis"`, 1)
	_, err := n.svc.Create(context.Background(), liaison, []byte(raw))
	refusedWith(t, err, RuleMalformed)
	if !strings.Contains(err.Error(), "legal_bassis") {
		t.Fatalf("message does not name the property: %v", err)
	}
}

func assertEmpty(t *testing.T, n *testNode) {
	t.Helper()
	for info, err := range n.bucket.List(context.Background(), "", "") {
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("refusal stored %s", info.Key)
	}
}
