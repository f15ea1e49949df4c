package indicator

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	stored         *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	ingestDuration prometheus.Histogram
	segmentSeconds prometheus.Histogram
	searchSeconds  prometheus.Histogram
	storeFailures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_indicators_stored_total", Help: "Object versions stored, by STIX type and effective TLP.",
		}, []string{"type", "tlp"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_indicators_rejected_total", Help: "Objects rejected at ingest, by reason.",
		}, []string{"reason"}),
		ingestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kurier_indicators_ingest_duration_seconds", Help: "Time to validate, sign, seal, store and index one submitted bundle.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		segmentSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kurier_indicators_segment_write_duration_seconds", Help: "Time to seal, store and index one segment.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		searchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kurier_indicators_search_duration_seconds", Help: "Observable value search latency.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		storeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kurier_indicators_store_failures_total", Help: "Segments that could not be written to the object store.",
		}),
	}
	for _, c := range []prometheus.Collector{m.stored, m.rejected, m.ingestDuration, m.segmentSeconds, m.searchSeconds, m.storeFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("indicator: register metrics: %w", err)
		}
	}
	for _, r := range []string{ReasonInvalid, ReasonSpecVersion, ReasonPattern, ReasonMarking, ReasonDuplicate, ReasonNotOrigin, ReasonNotCreator, ReasonLossyNumber, ReasonMediaType, ReasonMalformed, ReasonTooLarge, ReasonStoreFailure} {
		m.rejected.WithLabelValues(r)
	}
	return m, nil
}
