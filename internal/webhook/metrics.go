package webhook

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricErrors counts pods the webhook admitted unchanged because of an
// internal error, by reason (the Reason* values).
const MetricErrors = "zerodrop_webhook_errors_total"

// MetricCacheReads counts pods whose bindings were read from the
// controller's cache because the live read failed or was late.
const MetricCacheReads = "zerodrop_webhook_cache_reads_total"

// Values of MetricErrors' "reason" label.
const (
	// ReasonDecode: the admitted object could not be decoded as a pod.
	ReasonDecode = "decode"
	// ReasonReadBindings: the namespace, bindings or Services could not be
	// read.
	ReasonReadBindings = "read_bindings"
	// ReasonPatch: the JSON patch could not be built.
	ReasonPatch = "patch"
	// ReasonPanic: the handler panicked (a bug); the panic was recovered.
	ReasonPanic = "panic"
)

// Metrics are the webhook's Prometheus collectors.
type Metrics struct {
	Errors     *prometheus.CounterVec
	CacheReads prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricErrors,
			Help: "Pods the webhook admitted unchanged (no readiness gate, no drain wait) because of an internal error, by reason.",
		}, []string{"reason"}),
		CacheReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricCacheReads,
			Help: "Pods whose bindings the webhook read from the controller's cache because the API server did not answer the live read in time.",
		}),
	}
	if err := reg.Register(m.Errors); err != nil {
		return nil, fmt.Errorf("registering %s: %w", MetricErrors, err)
	}
	if err := reg.Register(m.CacheReads); err != nil {
		return nil, fmt.Errorf("registering %s: %w", MetricCacheReads, err)
	}
	// Every reason's series exists from the start at 0, so that alerts on
	// increase() count the first error.
	for _, r := range []string{ReasonDecode, ReasonReadBindings, ReasonPatch, ReasonPanic} {
		m.Errors.WithLabelValues(r)
	}
	return m, nil
}
