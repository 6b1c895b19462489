package controller

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, all prefixed zerodrop_.
const (
	MetricGateLatency     = "zerodrop_gate_latency_seconds"
	MetricTargets         = "zerodrop_targets"
	MetricDrainDuration   = "zerodrop_drain_duration_seconds"
	MetricBackendErrors   = "zerodrop_backend_errors_total"
	MetricPodsMissingGate = "zerodrop_pods_missing_gate"
	MetricInstanceRestart = "zerodrop_instance_restarts_total"
	// MetricGatesPending counts a binding's selected pods whose gate is
	// not True yet.
	MetricGatesPending = "zerodrop_gates_pending"
	// MetricGatePendingOldest is the age (since pod creation) of the
	// binding's oldest pending gate, 0 when none is pending, set on every
	// pass.
	MetricGatePendingOldest = "zerodrop_gate_pending_oldest_seconds"
	// MetricCheckInterval is the binding's health-check interval, so that
	// alerts can compare pending times with "N checks".
	MetricCheckInterval = "zerodrop_binding_check_interval_seconds"
	// MetricInstanceUp is 1 when the LoadBalancer reconciler's last probe
	// of an instance answered, 0 when it did not.
	MetricInstanceUp = "zerodrop_instance_up"
)

// Values of MetricDrainDuration's "outcome" label.
const (
	// DrainOutcomeDrained: the target's sessions ended (or the LB let it
	// go) before the drain timeout.
	DrainOutcomeDrained = "drained"
	// DrainOutcomeTimeout: the drain timeout passed with sessions open;
	// they were cut when the target was removed.
	DrainOutcomeTimeout = "timeout"
)

// Label values of MetricGateLatency's "from" label.
const (
	// GateFromPodCreated measures pod creation → gate True.
	GateFromPodCreated = "pod_created"
	// GateFromLBHealthy measures the controller first seeing the target
	// healthy on every instance → gate True written.
	GateFromLBHealthy = "lb_healthy"
)

// Metrics are the controller's Prometheus collectors.
type Metrics struct {
	GateLatency     *prometheus.HistogramVec
	Targets         *prometheus.GaugeVec
	DrainDuration   *prometheus.HistogramVec
	BackendErrors   *prometheus.CounterVec
	PodsMissingGate *prometheus.GaugeVec
	InstanceRestart *prometheus.CounterVec
	GatesPending    *prometheus.GaugeVec
	PendingOldest   *prometheus.GaugeVec
	CheckInterval   *prometheus.GaugeVec
	InstanceUp      *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		GateLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricGateLatency,
			Help:    "Time until a pod's readiness gate was set True, from pod creation or from the controller first seeing the target healthy on every instance.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"from"}),
		Targets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricTargets,
			Help: "Targets of a binding by state (desired, healthy, initial, unhealthy, draining).",
		}, []string{"namespace", "binding", "state"}),
		DrainDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricDrainDuration,
			Help:    "Time from drain start to removal of a target on one instance, by outcome (drained, timeout).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"outcome"}),
		BackendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricBackendErrors,
			Help: "Failed calls to a load-balancer instance, by operation.",
		}, []string{"loadbalancer", "instance", "operation"}),
		PodsMissingGate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricPodsMissingGate,
			Help: "Pods a binding selects that lack its readiness gate.",
		}, []string{"namespace", "binding"}),
		InstanceRestart: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricInstanceRestart,
			Help: "Reloads or restarts of a load-balancer instance seen by the controller.",
		}, []string{"loadbalancer", "instance"}),
		GatesPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricGatesPending,
			Help: "Pods a binding selects whose readiness gate is not True yet.",
		}, []string{"namespace", "binding"}),
		PendingOldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricGatePendingOldest,
			Help: "Age since pod creation of the binding's oldest pending readiness gate (0: none pending).",
		}, []string{"namespace", "binding"}),
		CheckInterval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricCheckInterval,
			Help: "The binding's health-check interval in seconds.",
		}, []string{"namespace", "binding"}),
		InstanceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricInstanceUp,
			Help: "Whether the last probe of a load-balancer instance answered (1) or not (0).",
		}, []string{"loadbalancer", "instance"}),
	}
	for _, c := range []prometheus.Collector{m.GateLatency, m.Targets, m.DrainDuration, m.BackendErrors, m.PodsMissingGate, m.InstanceRestart,
		m.GatesPending, m.PendingOldest, m.CheckInterval, m.InstanceUp} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Series that alerts take increase() of exist from the start at 0, so
	// that the first observation counts as one.
	for _, o := range []string{DrainOutcomeDrained, DrainOutcomeTimeout} {
		m.DrainDuration.WithLabelValues(o)
	}
	return m, nil
}
