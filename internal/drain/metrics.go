package drain

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricAnswers counts the drain endpoint's answers by kind (the Answer*
// values): what the controller can see of the pods' waits. How a wait
// ended is decided in the pod (`zerodrop wait-drained`), which nobody
// scrapes; the answers that push a wait towards its fallback are those in
// FallbackAnswers.
const MetricAnswers = "zerodrop_drain_answers_total"

// Values of MetricAnswers' "answer" label: the reasons of 200 answers
// (Reason*, which are bounded) and one value per refusal or failure.
const (
	AnswerDrained             = ReasonDrained
	AnswerDraining            = ReasonDraining
	AnswerNotTerminating      = ReasonNotTerminating
	AnswerBypass              = ReasonBypass
	AnswerNoBinding           = ReasonNoBinding
	AnswerInstanceUnreachable = ReasonInstanceUnreachable
	// AnswerUnauthenticated: no token, or one the TokenReview refused
	// (401); the pod's wait falls back at once.
	AnswerUnauthenticated = "Unauthenticated"
	// AnswerForbidden: the token's pod asked about another pod (403); the
	// wait falls back at once.
	AnswerForbidden = "Forbidden"
	// AnswerReviewPending and AnswerThrottled: 429, ask again; no step
	// towards the fallback.
	AnswerReviewPending = "ReviewPending"
	AnswerThrottled     = "Throttled"
	// AnswerReviewFailed: the TokenReview failed (503); asks failing for
	// the client's UnreachableAfter make the wait fall back.
	AnswerReviewFailed = "ReviewFailed"
	// AnswerFailed: the handler could not read the pod or its bindings
	// (500); counts towards the fallback like AnswerReviewFailed.
	AnswerFailed = "AnswerFailed"
	// AnswerClientGone: the asking client had given up (its ClientTimeout
	// passed, or it hung up) before the answer was ready; to the pod this
	// is an ask that failed, a step towards the fallback.
	AnswerClientGone = "ClientGone"
)

// Answers returns every value of MetricAnswers' "answer" label.
func Answers() []string {
	return []string{AnswerDrained, AnswerDraining, AnswerNotTerminating, AnswerBypass, AnswerNoBinding, AnswerInstanceUnreachable,
		AnswerUnauthenticated, AnswerForbidden, AnswerReviewPending, AnswerThrottled, AnswerReviewFailed, AnswerFailed, AnswerClientGone}
}

// FallbackAnswers returns the answers after which, or after enough of which
// in a row, a pod's wait falls back to the fixed wait computed at
// admission.
func FallbackAnswers() []string {
	return []string{AnswerUnauthenticated, AnswerForbidden, AnswerReviewFailed, AnswerFailed, AnswerClientGone}
}

// Metrics are the drain endpoint's Prometheus collectors.
type Metrics struct {
	Answers *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAnswers,
			Help: "Answers of the drain endpoint to terminating pods' asks, by answer (a drain reason, or the refusal or failure).",
		}, []string{"answer"}),
	}
	if err := reg.Register(m.Answers); err != nil {
		return nil, fmt.Errorf("registering %s: %w", MetricAnswers, err)
	}
	// Every answer's series exists from the start at 0, so that alerts on
	// increase() count the first one.
	for _, a := range Answers() {
		m.Answers.WithLabelValues(a)
	}
	return m, nil
}

// count adds one answer; a nil Metrics counts nothing.
func (m *Metrics) count(answer string) {
	if m != nil {
		m.Answers.WithLabelValues(answer).Inc()
	}
}
