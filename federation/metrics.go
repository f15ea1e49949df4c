package federation

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/federation/policy"
)

// Refusal reasons of the federation endpoints (label values of
// kurier_federation_refusals_total).
const (
	RefusedUnknownNode   = "unknown_node"
	RefusedBadSignature  = "bad_signature"
	RefusedImpersonation = "impersonation"
	RefusedReplay        = "replay"
	RefusedClockSkew     = "clock_skew"
	RefusedPolicy        = "policy" // the peer is paused
)

var refusalReasons = []string{RefusedUnknownNode, RefusedBadSignature, RefusedImpersonation, RefusedReplay, RefusedClockSkew, RefusedPolicy}

// Reasons a received record is rejected (label values of
// kurier_federation_rejected_total).
const (
	RejectBadSignature  = "bad_signature"
	RejectUnknownOrigin = "unknown_origin"
	RejectBadPath       = "bad_path"
	RejectInvalid       = "invalid"
	RejectNotOrigin     = "not_origin"
	// Inbound policy rejections use "policy_" + the policy rule.
)

type metrics struct {
	refusals      *prometheus.CounterVec
	up            *prometheus.GaugeVec
	lastSuccess   *prometheus.GaugeVec
	lagObjects    *prometheus.GaugeVec
	lagSeconds    *prometheus.GaugeVec
	received      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	conflicts     *prometheus.CounterVec
	provenance    *prometheus.CounterVec
	sent          *prometheus.CounterVec
	withheld      *prometheus.CounterVec
	pullFailures  *prometheus.CounterVec
	notices       *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	batchSeconds  *prometheus.HistogramVec
	consecutiveKO *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_refusals_total",
			Help: "Federation requests refused before anything was served, by reason (unknown_node, bad_signature, impersonation, replay, clock_skew, policy).",
		}, []string{"reason"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kurier_federation_peer_up", Help: "1 if the last pull from the peer succeeded.",
		}, []string{"peer"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kurier_federation_last_sync_timestamp_seconds", Help: "Unix time of the last successful pull from the peer (0: never).",
		}, []string{"peer"}),
		lagObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kurier_federation_lag_objects", Help: "Object versions the peer's feed holds beyond our cursor (estimate).",
		}, []string{"peer"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kurier_federation_lag_seconds", Help: "Age of the peer's newest version we have not pulled yet (0 when caught up).",
		}, []string{"peer"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_received_total", Help: "Object versions received from the peer and accepted, by outcome (stored, duplicate, older, conflict: other content under a held version, kept aside).",
		}, []string{"peer", "outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_rejected_total", Help: "Object versions received from the peer and rejected (not stored), by reason.",
		}, []string{"peer", "reason"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_conflicts_total", Help: "Versions received with the id and modified of a stored version but different content (kept under federation/conflicts/).",
		}, []string{"peer"}),
		provenance: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_provenance_total", Help: "Held versions received again by another path or from another origin with the same content (one more provenance record under federation/provenance/).",
		}, []string{"peer"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_sent_total", Help: "Records served to the peer in feed batches, by kind (object, tombstone).",
		}, []string{"peer", "kind"}),
		withheld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_withheld_total", Help: "Feed entries withheld from the peer by the outbound policy, by rule.",
		}, []string{"peer", "rule"}),
		pullFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_pull_failures_total", Help: "Failed pulls from the peer, by reason.",
		}, []string{"peer", "reason"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_federation_notices_total", Help: "Push notices, by direction (sent, received) and result.",
		}, []string{"peer", "direction", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kurier_federation_request_duration_seconds", Help: "Duration of requests to the peer, by endpoint and result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"peer", "endpoint", "result"}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kurier_federation_batch_store_duration_seconds", Help: "Time to verify and store one received batch.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"peer"}),
		consecutiveKO: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kurier_federation_consecutive_failures", Help: "Pulls from the peer that failed in a row (0 when the last one succeeded).",
		}, []string{"peer"}),
	}
	for _, c := range []prometheus.Collector{m.refusals, m.up, m.lastSuccess, m.lagObjects, m.lagSeconds, m.received, m.rejected,
		m.conflicts, m.provenance, m.sent, m.withheld, m.pullFailures, m.notices, m.duration, m.batchSeconds, m.consecutiveKO} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("federation: register metrics: %w", err)
		}
	}
	for _, r := range refusalReasons {
		m.refusals.WithLabelValues(r)
	}
	return m, nil
}

// addPeer initialises a peer's series so dashboards show zeros, not gaps.
func (m *metrics) addPeer(name string) {
	m.up.WithLabelValues(name)
	m.lastSuccess.WithLabelValues(name)
	m.lagObjects.WithLabelValues(name)
	m.lagSeconds.WithLabelValues(name)
	m.consecutiveKO.WithLabelValues(name)
	for _, o := range []string{"stored", "duplicate", "older"} {
		m.received.WithLabelValues(name, o)
	}
	for _, r := range []string{RejectBadSignature, RejectUnknownOrigin, RejectInvalid, RejectNotOrigin} {
		m.rejected.WithLabelValues(name, r)
	}
	m.conflicts.WithLabelValues(name)
	m.provenance.WithLabelValues(name)
	m.sent.WithLabelValues(name, "object")
	m.sent.WithLabelValues(name, "tombstone")
	for _, r := range policy.Rules {
		m.withheld.WithLabelValues(name, r)
	}
}

// removePeer drops a removed peer's series.
func (m *metrics) removePeer(name string) {
	l := prometheus.Labels{"peer": name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.up, m.lastSuccess, m.lagObjects, m.lagSeconds, m.received, m.rejected, m.conflicts, m.sent,
		m.withheld, m.pullFailures, m.notices, m.duration, m.batchSeconds, m.consecutiveKO,
	} {
		v.DeletePartialMatch(l)
	}
}
