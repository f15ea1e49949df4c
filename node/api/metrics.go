package api

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	problems      *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
	auditFailures prometheus.Counter
	panics        prometheus.Counter
	slowBodies    *prometheus.CounterVec
	slowReads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_http_requests_total", Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kurier_http_request_duration_seconds", Help: "HTTP request duration by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kurier_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		problems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_http_problems_total", Help: "Problem responses (RFC 9457) by problem type.",
		}, []string{"type"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_auth_failures_total", Help: "Refused API requests by reason (no_token, malformed, unknown, revoked, forbidden, error).",
		}, []string{"reason"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kurier_audit_write_failures_total", Help: "Audit log entries that could not be written.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kurier_http_panics_total", Help: "Handler panics recovered.",
		}),
		slowBodies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_http_slow_bodies_total", Help: "Request bodies cut off for arriving too slowly, by bound (request: the body deadline; stream: idle pause or minimum rate).",
		}, []string{"kind"}),
		slowReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kurier_http_slow_reads_total", Help: "Responses cut off because the client read them too slowly, by bound (request: the write deadline; stream: idle pause or minimum rate).",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.problems, m.authFailures, m.auditFailures, m.panics, m.slowBodies, m.slowReads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	for _, reason := range []string{"no_token", "malformed", "unknown", "revoked", "forbidden", "error"} {
		m.authFailures.WithLabelValues(reason)
	}
	m.slowBodies.WithLabelValues("request")
	m.slowBodies.WithLabelValues("stream")
	m.slowReads.WithLabelValues("request")
	m.slowReads.WithLabelValues("stream")
	return m, nil
}
