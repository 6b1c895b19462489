package drain

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHandler_ServeHTTPCountsARefusal(t *testing.T) {
	m, err := NewMetrics(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Metrics: m}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", rec.Code)
	}
	if got := testutil.ToFloat64(m.Answers.WithLabelValues(AnswerUnauthenticated)); got != 1 {
		t.Errorf("%s{answer=%q} = %v, want 1", MetricAnswers, AnswerUnauthenticated, got)
	}
}

func TestMetrics_countWithoutMetrics(t *testing.T) {
	var m *Metrics
	m.count(AnswerDrained) // a handler without metrics counts nothing and does not panic
}
