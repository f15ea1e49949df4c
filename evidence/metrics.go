package evidence

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	bytesSealed    prometheus.Counter
	verifyFailures *prometheus.CounterVec
	transfers      *prometheus.CounterVec
	slotRefused    *prometheus.CounterVec
}

// stateCollector reports gauges computed from the packages at scrape time:
// labels are bounded (package type, state, deadline kind).
type stateCollector struct {
	s        *Service
	packages *prometheus.Desc
	receipts *prometheus.Desc
	overdue  *prometheus.Desc
	hidden   *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.packages
	ch <- c.receipts
	ch <- c.overdue
	ch <- c.hidden
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	type ts struct {
		t  Type
		st State
	}
	counts := map[ts]int{}
	overdue := map[string]int{DueResponse: 0, DuePreservation: 0, DueReview: 0, DueRetentionReview: 0}
	receipts, hidden := 0, 0
	for _, p := range c.s.List(Filter{}) {
		counts[ts{p.Type, p.State}]++
		if p.IndexHidden {
			hidden++
		}
		receipts += p.ReceiptsOutstanding
		for _, o := range p.Overdue {
			overdue[o.Kind]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.packages, prometheus.GaugeValue, float64(n), string(k.t), string(k.st))
	}
	ch <- prometheus.MustNewConstMetric(c.receipts, prometheus.GaugeValue, float64(receipts))
	ch <- prometheus.MustNewConstMetric(c.hidden, prometheus.GaugeValue, float64(hidden))
	for k, n := range overdue {
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(n), k)
	}
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		bytesSealed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kurier_evidence_sealed_bytes_total", Help: "Plaintext bytes of evidence items hashed, encrypted and stored.",
		}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_evidence_verification_failures_total", Help: "Evidence verification failures, by stage (verify, receive, export, receipt).",
		}, []string{"stage"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_evidence_transfers_received_total", Help: "Incoming evidence transfers, by result (accepted, refused, quarantined).",
		}, []string{"result"}),
		slotRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_evidence_custody_appends_refused_total",
			Help: "Custody events not written because their key already held a version, by reason (hidden-version: under a delete marker; exists: another writer).",
		}, []string{"reason"}),
	}
	for _, r := range []string{slotHidden, slotExists} {
		m.slotRefused.WithLabelValues(r)
	}
	for _, st := range []string{"verify", "receive", "export", "receipt"} {
		m.verifyFailures.WithLabelValues(st)
	}
	for _, r := range []string{"accepted", "refused", "quarantined"} {
		m.transfers.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	c := &stateCollector{
		s: s,
		packages: prometheus.NewDesc("kurier_evidence_packages", "Evidence packages by type and lifecycle state.",
			[]string{"type", "state"}, nil),
		receipts: prometheus.NewDesc("kurier_evidence_receipts_outstanding", "Transfers sent for which no signed receipt was filed yet.", nil, nil),
		overdue: prometheus.NewDesc("kurier_evidence_deadlines_overdue", "Package deadlines that have passed, by kind (response, preservation, review, retention-review).",
			[]string{"kind"}, nil),
		hidden: prometheus.NewDesc("kurier_evidence_hidden_records",
			"Packages whose package record (index/<id>.json) a delete marker hides; each is kept from the record's latest stored version and its id refused.", nil, nil),
	}
	for _, col := range []prometheus.Collector{m.bytesSealed, m.verifyFailures, m.transfers, m.slotRefused, c} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}
