package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/store"
	fsstore "github.com/kurier/kurier/node/store/fs"
	"github.com/kurier/kurier/node/store/miniotest"
	"github.com/kurier/kurier/node/store/s3"
)

// Identities are costly enough to share between tests (each test still
// gets its own store and service).
var (
	idOnce sync.Once
	idA    *identity.Identity
	idB    *identity.Identity
	idC    *identity.Identity
)

func identities(t testing.TB) (a, b, c *identity.Identity) {
	t.Helper()
	idOnce.Do(func() {
		gen := func(name string) *identity.Identity {
			id, err := identity.Generate(name, "", identity.ProfileDefault, time.Now().Add(-time.Hour))
			if err != nil {
				panic(err)
			}
			return id
		}
		idA, idB, idC = gen("Node DE"), gen("Node FR"), gen("Node NL")
	})
	return idA, idB, idC
}

func public(t testing.TB, id *identity.Identity) *openpgp.Entity {
	t.Helper()
	e, err := id.PublicEntity()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// testNode is one node's evidence service.
type testNode struct {
	svc    *Service
	id     *identity.Identity
	bucket store.Bucket
	reg    *prometheus.Registry
	clock  *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
	// real: follow the wall clock, shifted by off.
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func fsBucket(t testing.TB) store.Bucket {
	t.Helper()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(context.Background(), "kurier-evidence", true); err != nil {
		t.Fatal(err)
	}
	return st.Bucket("kurier-evidence")
}

func minioBucket(t testing.TB) store.Bucket {
	t.Helper()
	srv := miniotest.Start(t)
	st, err := s3.New(s3.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(context.Background(), "kurier-evidence", true); err != nil {
		t.Fatal(err)
	}
	return st.Bucket("kurier-evidence")
}

// newNode makes a service for self that knows the peers' keys.
func newNode(t testing.TB, self *identity.Identity, name, country string, bucket store.Bucket, peers ...*identity.Identity) *testNode {
	t.Helper()
	return newNodeRetention(t, self, name, country, bucket, 0, peers...)
}

// newNodeRetention is newNode with Options.Retention (0: the default).
func newNodeRetention(t testing.TB, self *identity.Identity, name, country string, bucket store.Bucket, retention time.Duration, peers ...*identity.Identity) *testNode {
	t.Helper()
	var ring openpgp.EntityList
	keys := map[string]*openpgp.Entity{}
	for _, p := range peers {
		e := public(t, p)
		ring = append(ring, e)
		keys[p.Fingerprint()] = e
	}
	c := &clock{}
	reg := prometheus.NewRegistry()
	svc, err := New(context.Background(), Options{
		Bucket: bucket, Sealer: seal.New(self, ring), NodeName: name, Country: country, Registerer: reg, Now: c.now, Retention: retention,
		Keys: func(fpr string) (*openpgp.Entity, bool) { e, ok := keys[strings.ToUpper(fpr)]; return e, ok },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{svc: svc, id: self, bucket: bucket, reg: reg, clock: c}
}

var liaison = Actor{Person: "officer.test", Role: "liaison"}

// preservationRequest is a complete, valid Art. 29 request from a to b.
func preservationRequest(a, b *identity.Identity) *Manifest {
	now := time.Now().UTC()
	return &Manifest{
		Format: FormatVersion, ID: newID(), Type: PreservationRequest, Created: T(now),
		Sender:     Party{Node: a.Fingerprint(), Country: "DE", Authority: "BKA 24/7 contact point", Officer: "KHK Weber", Role: Role247Contact},
		Recipients: []Party{{Node: b.Fingerprint(), Country: "FR", Authority: "OFAC 24/7", Role: Role247Contact}},
		LegalBasis: LegalBasis{Instrument: "ETS-185", Article: "29", Paragraph: "1", AuthorisationRef: "StA Köln 123 Js 456/26",
			Art29: &Art29{
				Authority: "Staatsanwaltschaft Köln", Offence: "computer fraud (§ 263a StGB)", Facts: "phishing campaign against bank customers",
				Data: "subscriber and traffic data of account x@example.fr", Relationship: "account used to send the phishing mails",
				CustodianOrLocation: "Example Mail SAS, Paris", Necessity: "provider deletes logs after 30 days", MLAToFollow: true,
			}},
		DataCategories: []DataCategory{Subscriber, Traffic},
		Targets:        []Target{{Type: "email-addr", Value: "x@example.fr", From: TP(now.Add(-30 * 24 * time.Hour)), To: TP(now)}},
		Handling:       Handling{TLP: "amber", Confidential: true, UseLimitation: "criminal proceedings 123 Js 456/26", OnwardTransfer: "with-authorisation"},
		Deadlines:      Deadlines{RespondBy: TP(now.Add(72 * time.Hour)), PreserveUntil: TP(now.Add(90 * 24 * time.Hour))},
	}
}

// answer is an answer of type typ from b to the sender of req.
func answer(req *Manifest, b *identity.Identity, typ Type) *Manifest {
	now := time.Now().UTC()
	m := &Manifest{
		Format: FormatVersion, ID: newID(), Type: typ, ReplyTo: req.ID, Created: T(now),
		Sender:     Party{Node: b.Fingerprint(), Country: "FR", Authority: "OFAC", Officer: "Cdt Martin", Role: RoleCentralAuthority},
		Recipients: []Party{req.Sender},
		LegalBasis: LegalBasis{Instrument: "ETS-185", Article: "29"},
		Handling:   req.Handling,
	}
	switch typ {
	case PreservationConfirmation:
		m.Sender.Role = Role247Contact
		m.Deadlines.PreserveUntil = TP(now.Add(90 * 24 * time.Hour))
		m.Retention.LegalHold = true
	case EvidenceDisclosure:
		m.LegalBasis.Article = "31"
		m.DataCategories = []DataCategory{Subscriber, Traffic}
	case Refusal:
		m.Reasons = &Reasons{Ground: "sovereignty", Text: "Art. 29(5)"}
	}
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func refusedWith(t testing.TB, err error, rule Rule) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("want a refusal with rule %s, got %v", rule, err)
	}
	if !re.Has(rule) {
		t.Fatalf("want rule %s, got %v", rule, re)
	}
}

// requireTool finds a command-line tool or skips (fails under
// KURIER_REQUIRE_TOOLS=1).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KURIER_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not installed (KURIER_REQUIRE_TOOLS=1)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

var _ = bytes.NewReader

type openpgpEntity = openpgp.Entity

var storePutIfAbsent = store.PutOptions{IfAbsent: true}

// resetPeakRSS resets VmHWM (Linux >= 4.0) so peakRSSMiB measures from now.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMiB is the process's VmHWM in MiB (-1 if unknown).
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// gaugeValue is the value of the unlabelled gauge name in reg (-1 if it
// is not there). The state gauges come from one collector that emits many
// metrics, so testutil.ToFloat64 cannot read them.
func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
