package elbv2

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, all prefixed zerodrop_elbv2_.
const (
	// MetricAPICalls counts HTTP attempts to the ELBv2 API (what AWS
	// counts against the budget, retries included) by region, action and
	// outcome (OutcomeOK, OutcomeThrottled, OutcomeError): throttled calls
	// are those with outcome "throttled".
	MetricAPICalls = "zerodrop_elbv2_api_calls_total"
	// MetricBudgetWait is how long attempts waited for a token of the
	// client-side budget, by region and kind (KindDescribe, KindRegister).
	MetricBudgetWait = "zerodrop_elbv2_budget_wait_seconds"
	// MetricPollLag is how late a target group's describe finished
	// relative to when it was due, by region: budget waits, retries and
	// queueing behind other target groups.
	MetricPollLag = "zerodrop_elbv2_poll_lag_seconds"
	// MetricMovingGroups is how many target groups have targets on the
	// move (and are therefore polled at PollInterval), by region.
	MetricMovingGroups = "zerodrop_elbv2_moving_target_groups"
)

// Outcomes of MetricAPICalls.
const (
	OutcomeOK        = "ok"
	OutcomeThrottled = "throttled"
	OutcomeError     = "error"
)

// Kinds of calls, each with its own token bucket.
const (
	KindDescribe = "describe"
	KindRegister = "register"
)

// metrics are a Registry's Prometheus collectors.
type metrics struct {
	calls      *prometheus.CounterVec
	budgetWait *prometheus.HistogramVec
	pollLag    *prometheus.HistogramVec
	moving     *prometheus.GaugeVec
}

// newMetrics creates the collectors and registers them with reg (none when
// reg is nil).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAPICalls,
			Help: "HTTP attempts to the ELBv2 API, retries included, by region, action and outcome (ok, throttled, error).",
		}, []string{"region", "action", "outcome"}),
		budgetWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricBudgetWait,
			Help:    "Time an ELBv2 API attempt waited for the client-side budget, by region and kind (describe, register).",
			Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"region", "kind"}),
		pollLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricPollLag,
			Help:    "How late a target group's DescribeTargetHealth finished relative to when it was due, by region.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"region"}),
		moving: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricMovingGroups,
			Help: "Target groups with targets on the move, polled at the poll interval, by region.",
		}, []string{"region"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.calls, m.budgetWait, m.pollLag, m.moving} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
