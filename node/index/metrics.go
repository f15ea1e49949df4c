package index

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are kept up to date by each write transaction from its counter
// deltas (never by scanning). A nil *metrics is a no-op.
type metrics struct {
	reg     prometheus.Registerer
	objects *prometheus.GaugeVec
	values  prometheus.Gauge
	size    prometheus.GaugeFunc
	invalid prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, path string) (*metrics, error) {
	m := &metrics{
		reg: reg,
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kurier_index_objects",
			Help: "STIX objects in the index (current versions, revoked included) by type and effective TLP.",
		}, []string{"type", "tlp"}),
		values: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kurier_index_values",
			Help: "Observable values indexed for search (of current versions, including URL and e-mail hosts).",
		}),
		size: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kurier_index_size_bytes",
			Help: "Size of the index file.",
		}, func() float64 {
			fi, err := os.Stat(path)
			if err != nil {
				return 0
			}
			return float64(fi.Size())
		}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kurier_index_values_invalid_total",
			Help: "Values of indexed versions skipped because they are not valid IPs, CIDRs, domains, URLs, e-mail addresses or hashes.",
		}),
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.objects, m.values, m.size, m.invalid} {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("index: register metrics: %w", err)
		}
		done = append(done, c)
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.objects, m.values, m.size, m.invalid} {
		m.reg.Unregister(c)
	}
}

// reset sets the gauges from a full set of counts (after open or reset).
func (m *metrics) reset(counts map[string]int64) {
	if m == nil {
		return
	}
	m.objects.Reset()
	m.values.Set(0)
	m.apply(counts, counts)
}

// apply updates the gauges for the counters named in delta, reading their
// new totals from counts.
func (m *metrics) apply(delta, counts map[string]int64) {
	if m == nil {
		return
	}
	for k := range delta {
		switch {
		case k == countValues:
			m.values.Set(float64(counts[k]))
		case len(k) > 0 && k[0] == 'x':
			if typ, tlp, ok := splitJointKey(k); ok {
				if n := counts[k]; n > 0 {
					m.objects.WithLabelValues(typ, tlp).Set(float64(n))
				} else {
					m.objects.DeleteLabelValues(typ, tlp)
				}
			}
		}
	}
}

func (m *metrics) addInvalid(n int) {
	if m != nil && n > 0 {
		m.invalid.Add(float64(n))
	}
}
