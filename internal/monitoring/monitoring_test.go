package monitoring_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/zerodrop/zerodrop/charts"
	"github.com/zerodrop/zerodrop/internal/controller"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/monitoring"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// collectors are the controller's metrics, registered as the manager does.
type collectors struct {
	c *controller.Metrics
	w *webhook.Metrics
	d *drain.Metrics
}

// descRecorder registers collectors and records the names they export.
type descRecorder struct {
	*prometheus.Registry
	names []string
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 100)
	c.Describe(ch)
	close(ch)
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names = append(r.names, m[1])
		}
	}
	return r.Registry.Register(c)
}

func newCollectors(t *testing.T) (*collectors, *descRecorder) {
	t.Helper()
	reg := &descRecorder{Registry: prometheus.NewPedanticRegistry()}
	c, err := controller.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := webhook.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := drain.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return &collectors{c, w, d}, reg
}

// exported returns every series name the collectors can export
// (histograms as their _bucket, _sum and _count series).
func exported(t *testing.T) map[string]bool {
	_, reg := newCollectors(t)
	out := map[string]bool{}
	for _, n := range reg.names {
		out[n] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			out[n+s] = true
		}
	}
	return out
}

// renderRules renders the chart's PrometheusRule and parses it.
func renderRules(t *testing.T, values map[string]any) *rulefmt.RuleGroups {
	t.Helper()
	ch, err := charts.Load(filepath.Join("..", "..", "charts", charts.Name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := charts.Render(ch, charts.Release{Name: "zerodrop", Namespace: "zerodrop-system"}, values)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Manifests {
		if m.Head != nil && m.Head.Kind == "PrometheusRule" {
			pr, err := monitoring.DecodePrometheusRule([]byte(m.Content))
			if err != nil {
				t.Fatal(err)
			}
			g, err := monitoring.Rules(pr)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
	}
	t.Fatal("no PrometheusRule rendered")
	return nil
}

func rulesEnabled() map[string]any {
	return map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{"enabled": true}}}
}

func TestRules_referenceOnlyExportedMetrics(t *testing.T) {
	names := exported(t)
	for _, g := range renderRules(t, rulesEnabled()).Groups {
		for _, r := range g.Rules {
			used, err := monitoring.MetricNames(r.Expr)
			if err != nil {
				t.Fatal(err)
			}
			if len(used) == 0 {
				t.Errorf("%s selects no metric", r.Alert)
			}
			for _, n := range used {
				if !names[n] {
					t.Errorf("%s uses %s, which the controller does not export", r.Alert, n)
				}
			}
		}
	}
}

func TestRules_fallbackAlertMatchesTheFallbackAnswers(t *testing.T) {
	want := `answer=~"` + strings.Join(drain.FallbackAnswers(), "|") + `"`
	for _, g := range renderRules(t, rulesEnabled()).Groups {
		for _, r := range g.Rules {
			if r.Alert == "ZerodropDrainAnswersFailing" && !strings.Contains(r.Expr, want) {
				t.Errorf("ZerodropDrainAnswersFailing's expression %q lacks %s", r.Expr, want)
			}
		}
	}
}

// healthy sets what a healthy controller reports: one binding with no
// pending or missing gate, its instance up.
func healthy(m *collectors) {
	m.c.GatesPending.WithLabelValues("shop", "web").Set(0)
	m.c.PendingOldest.WithLabelValues("shop", "web").Set(0)
	m.c.CheckInterval.WithLabelValues("shop", "web").Set(2)
	m.c.PodsMissingGate.WithLabelValues("shop", "web").Set(0)
	m.c.InstanceUp.WithLabelValues("edge", "lb-a").Set(1)
	m.c.Targets.WithLabelValues("shop", "web", "healthy").Set(3)
	m.d.Answers.WithLabelValues(drain.AnswerDrained).Inc()
}

// TestRules_eachAlertFiresOnItsCondition drives the real collectors,
// scrapes them every 30 s of rule time, and evaluates the chart's rules
// with Prometheus' engine: no alert in the healthy baseline, exactly the
// provoked one after its condition lasted 6 minutes.
func TestRules_eachAlertFiresOnItsCondition(t *testing.T) {
	groups := renderRules(t, rulesEnabled())
	tests := []struct {
		alert string
		// bad is applied before every scrape once provoked.
		bad        func(*collectors)
		wantLabels string
	}{
		{"ZerodropGatePendingTooLong", func(m *collectors) {
			m.c.GatesPending.WithLabelValues("shop", "web").Set(1)
			m.c.PendingOldest.WithLabelValues("shop", "web").Set(25) // > 10 × 2 s
		}, `binding="web", namespace="shop"`},
		{"ZerodropLoadBalancerInstanceUnreachable", func(m *collectors) {
			m.c.InstanceUp.WithLabelValues("edge", "lb-a").Set(0)
		}, `instance="lb-a", loadbalancer="edge"`},
		{"ZerodropBackendErrors", func(m *collectors) {
			m.c.BackendErrors.WithLabelValues("edge", "lb-a", "status").Inc()
		}, `instance="lb-a", loadbalancer="edge", operation="status"`},
		{"ZerodropPodsMissingGate", func(m *collectors) {
			m.c.PodsMissingGate.WithLabelValues("shop", "web").Set(2)
		}, `binding="web", namespace="shop"`},
		{"ZerodropDrainTimedOut", func(m *collectors) {
			m.c.DrainDuration.WithLabelValues(controller.DrainOutcomeTimeout).Observe(30)
		}, ``},
		{"ZerodropDrainAnswersFailing", func(m *collectors) {
			m.d.Answers.WithLabelValues(drain.AnswerFailed).Inc()
		}, ``},
		{"ZerodropWebhookErrors", func(m *collectors) {
			m.w.Errors.WithLabelValues(webhook.ReasonReadBindings).Inc()
		}, `reason="read_bindings"`},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.alert] = true
		t.Run(tt.alert, func(t *testing.T) {
			m, reg := newCollectors(t)
			ev, err := monitoring.NewEvaluator(groups)
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			step := func(provoked bool) []monitoring.Firing {
				t.Helper()
				healthy(m)
				if provoked {
					tt.bad(m)
				}
				scrape, err := monitoring.Scrape(reg.Registry)
				if err != nil {
					t.Fatal(err)
				}
				if err := ev.Add(ts, scrape); err != nil {
					t.Fatal(err)
				}
				f, err := ev.Eval(ts)
				if err != nil {
					t.Fatal(err)
				}
				ts = ts.Add(30 * time.Second)
				return f
			}
			for range 4 {
				if f := step(false); len(f) > 0 {
					t.Fatalf("healthy baseline fires %v", f)
				}
			}
			var f []monitoring.Firing
			for range 12 {
				f = step(true)
			}
			if len(f) != 1 || f[0].Alert != tt.alert {
				t.Fatalf("after 6 minutes of its condition: firing %v, want only %s", f, tt.alert)
			}
			if got := f[0].Labels.String(); !strings.Contains(got, tt.wantLabels) || !strings.Contains(got, `severity="warning"`) {
				t.Errorf("labels %s, want %s and the severity", got, tt.wantLabels)
			}
		})
	}
	ev, err := monitoring.NewEvaluator(groups)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	for _, a := range ev.Alerts() {
		if !covered[a] {
			t.Errorf("alert %s is not tested", a)
		}
	}
}

func TestRules_gatePendingBelowThresholdDoesNotFire(t *testing.T) {
	for _, tc := range []struct {
		periods int
		oldest  float64
		fires   bool
	}{{10, 15, false}, {10, 25, true}, {5, 15, true}} {
		t.Run(fmt.Sprintf("%d periods, %vs", tc.periods, tc.oldest), func(t *testing.T) {
			v := rulesEnabled()
			v["monitoring"].(map[string]any)["prometheusRule"].(map[string]any)["alerts"] = map[string]any{"gatePendingPeriods": tc.periods}
			ev, err := monitoring.NewEvaluator(renderRules(t, v))
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			m, reg := newCollectors(t)
			healthy(m)
			m.c.GatesPending.WithLabelValues("shop", "web").Set(1)
			m.c.PendingOldest.WithLabelValues("shop", "web").Set(tc.oldest)
			ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var f []monitoring.Firing
			for range 5 {
				scrape, err := monitoring.Scrape(reg.Registry)
				if err != nil {
					t.Fatal(err)
				}
				if err := ev.Add(ts, scrape); err != nil {
					t.Fatal(err)
				}
				if f, err = ev.Eval(ts); err != nil {
					t.Fatal(err)
				}
				ts = ts.Add(30 * time.Second)
			}
			if fires := len(f) == 1 && f[0].Alert == "ZerodropGatePendingTooLong"; fires != tc.fires || len(f) > 1 {
				t.Errorf("firing %v, want ZerodropGatePendingTooLong firing: %v", f, tc.fires)
			}
		})
	}
}

// rateInterval and allNamespaces stand for the dashboard's variables when
// its queries are parsed.
var dashboardVars = strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*")

func TestDashboard_queriesParseAndUseExportedMetrics(t *testing.T) {
	data, err := monitoring.DashboardJSON()
	if err != nil {
		t.Fatal(err)
	}
	plugins.RegisterDefaultPlugins()
	//lint:ignore SA1019 the classic dashboard JSON (v1) is what Grafana's sidecar and file provisioning load; dashboardv2 is the app-platform resource
	d := &dashboard.Dashboard{}
	if err := json.Unmarshal(data, d); err != nil {
		t.Fatalf("the dashboard does not parse: %v", err)
	}
	names := exported(t)
	var exprs []string
	titles := map[string]bool{}
	for _, p := range d.Panels {
		if p.Panel == nil {
			continue
		}
		if p.Panel.Title != nil {
			titles[*p.Panel.Title] = true
		}
		for _, q := range p.Panel.Targets {
			raw, err := json.Marshal(q)
			if err != nil {
				t.Fatal(err)
			}
			var target struct{ Expr string }
			if err := json.Unmarshal(raw, &target); err != nil {
				t.Fatal(err)
			}
			exprs = append(exprs, target.Expr)
		}
	}
	for _, want := range []string{"Gate latency", "Targets by state", "Drain duration", "Load-balancer errors", "Webhook errors", "Instance up"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("%d queries, want every panel's", len(exprs))
	}
	for _, e := range exprs {
		used, err := monitoring.MetricNames(dashboardVars.Replace(e))
		if err != nil {
			t.Error(err)
			continue
		}
		for _, n := range used {
			if !names[n] {
				t.Errorf("query %q uses %s, which the controller does not export", e, n)
			}
		}
		if len(used) == 0 {
			t.Errorf("query %q selects no metric", e)
		}
	}
	if slices.Contains(exprs, "") {
		t.Error("a panel has an empty query")
	}
}
