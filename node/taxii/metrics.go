package taxii

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Requests by endpoint and code are counted by the node's HTTP metrics
// (kurier_http_requests_total, labelled by route pattern).
type metrics struct {
	served   *prometheus.CounterVec
	received *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_taxii_objects_served_total", Help: "STIX objects served over TAXII, by collection alias.",
		}, []string{"collection"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_taxii_objects_received_total", Help: "STIX objects POSTed to the TAXII inbox, by result (success, failure).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.served, m.received} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("taxii: register metrics: %w", err)
		}
	}
	for _, c := range Collections {
		if !c.Inbox() {
			m.served.WithLabelValues(c.Alias)
		}
	}
	m.received.WithLabelValues("success")
	m.received.WithLabelValues("failure")
	return m, nil
}
