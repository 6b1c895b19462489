package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/charts"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/monitoring"
)

// ruleClock scrapes the controller's registry into a Prometheus TSDB and
// evaluates the chart's alerts with Prometheus' own rules and engine. Each
// scrape is stamped scrapeInterval after the one before, so rule time
// (`for`, rate windows) runs far ahead of the test's: minutes of rule
// time take seconds, and no test asserts wall-clock time.
type ruleClock struct {
	t  *testing.T
	e  *env
	ev *monitoring.Evaluator
	ts time.Time
}

const scrapeInterval = 30 * time.Second

func newRuleClock(t *testing.T, e *env) *ruleClock {
	t.Helper()
	ch, err := charts.Load(filepath.Join("..", "..", "charts", charts.Name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := charts.Render(ch, charts.Release{Name: "zerodrop", Namespace: "zerodrop-system"},
		map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Manifests {
		if m.Head == nil || m.Head.Kind != "PrometheusRule" {
			continue
		}
		pr, err := monitoring.DecodePrometheusRule([]byte(m.Content))
		if err != nil {
			t.Fatal(err)
		}
		groups, err := monitoring.Rules(pr)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := monitoring.NewEvaluator(groups)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ev.Close() })
		return &ruleClock{t: t, e: e, ev: ev, ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	t.Fatal("the chart rendered no PrometheusRule")
	return nil
}

// step scrapes once and returns the names of the alerts firing then.
func (c *ruleClock) step() []string {
	c.t.Helper()
	scrape, err := monitoring.Scrape(c.e.registry)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ev.Add(c.ts, scrape); err != nil {
		c.t.Fatal(err)
	}
	f, err := c.ev.Eval(c.ts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.ts = c.ts.Add(scrapeInterval)
	var names []string
	for _, a := range f {
		names = append(names, a.Alert)
	}
	return slices.Compact(names)
}

// waitFiring scrapes (200 ms of test time apart) until exactly want fire.
func (c *ruleClock) waitFiring(what string, want ...string) {
	c.t.Helper()
	slices.Sort(want)
	var got []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = c.step(); slices.Equal(got, want) {
			return
		}
	}
	c.t.Fatalf("%s: firing %v, want %v", what, got, want)
}

// TestMonitoring_AlertsFireOnProvokedConditions runs the controller on a
// real API server and real HAProxy, provokes each condition in turn, and
// evaluates the chart's alerts on the controller's own metrics: none in
// the healthy baseline, exactly the provoked ones while each condition
// lasts, none again once it is over. ZerodropWebhookErrors is provoked in
// internal/monitoring only: the webhook's internal errors are provoked here
// by deleting the TargetBinding CRD (TestWebhook_InternalError...), which
// would end this test's controller.
func TestMonitoring_AlertsFireOnProvokedConditions(t *testing.T) {
	e := startEnv(t, provider.New, withDrainEndpoint(t))
	f := newFixture(t, e, "mon", "/healthz") // check interval 100 ms: 10 intervals are 1 s
	clock := newRuleClock(t, e)
	ctx := context.Background()

	a := startTarget(t, "127.44.12.1")
	a.SetHealthy(true)
	pa := f.startPod(t, a)
	f.waitGate(t, pa.Name)
	for range 12 { // six minutes of rule time, longer than any `for`
		if got := clock.step(); len(got) > 0 {
			t.Fatalf("healthy baseline: firing %v", got)
		}
	}

	// A drain that ends by its timeout: a request held on the only
	// target, the binding's drain timeout 1 s, the pod deleted once
	// another pod serves.
	held := make(chan error, 1)
	go func() { _, _, err := f.get(0, holdPath); held <- err }()
	e.eventually("request held on the target", 30*time.Second, func() error {
		if a.Holding() != 1 {
			return fmt.Errorf("holding %d", a.Holding())
		}
		return nil
	})
	tb := &v1alpha1.TargetBinding{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: f.binding}, tb); err != nil {
		t.Fatal(err)
	}
	tb.Spec.Drain.Timeout = &metav1.Duration{Duration: time.Second}
	if err := e.c.Update(ctx, tb); err != nil {
		t.Fatal(err)
	}
	b := startTarget(t, "127.44.12.2")
	b.SetHealthy(true)
	pb := f.startPod(t, b)
	f.waitGate(t, pb.Name)
	clock.waitFiring("healthy again before the drain")
	if err := e.c.Delete(ctx, pa); err != nil {
		t.Fatal(err)
	}
	clock.waitFiring("drain ended by its timeout", "ZerodropDrainTimedOut")
	a.Release()
	<-held // cut or answered: the alert is about the drain, not the request
	clock.waitFiring("ten minutes after the drain")

	// A terminating pod's ask refused: the drain endpoint answers 401 to
	// an ask without a token (the pod's wait would fall back).
	if code, _ := newDrainCaller(t, e).ask(t, "", ""); code != http.StatusUnauthorized {
		t.Fatalf("ask without a token: %d, want 401", code)
	}
	clock.waitFiring("drain ask refused", "ZerodropDrainAnswersFailing")
	clock.waitFiring("five minutes after the refusal")

	// A gate stuck pending: the target fails its health check.
	d := startTarget(t, "127.44.12.4")
	pd := f.startPod(t, d)
	clock.waitFiring("gate pending (failing health check)", "ZerodropGatePendingTooLong")
	d.SetHealthy(true)
	f.waitGate(t, pd.Name)
	clock.waitFiring("gate opened")

	// A pod without the gate: created while its namespace is not opted in.
	setInjection(t, e, f.ns, false)
	c := startTarget(t, "127.44.12.3")
	c.SetHealthy(true)
	pc := f.startPod(t, c)
	if hasGate(pc, f.binding) {
		t.Fatal("pod created in a namespace not opted in got the gate")
	}
	clock.waitFiring("pod missing its gate", "ZerodropPodsMissingGate")
	if err := e.c.Delete(ctx, pc); err != nil {
		t.Fatal(err)
	}
	setInjection(t, e, f.ns, true)
	clock.waitFiring("pod without gate gone")

	// The load balancer's only instance down: unreachable, and its calls
	// fail.
	if err := f.procs[0].Stop(); err != nil {
		t.Fatal(err)
	}
	clock.waitFiring("instance down", "ZerodropBackendErrors", "ZerodropLoadBalancerInstanceUnreachable")
	if err := f.procs[0].Restart(ctx); err != nil {
		t.Fatalf("starting haproxy again: %v", err)
	}
	clock.waitFiring("instance back")
}

// setInjection labels the namespace for gate injection, or not.
func setInjection(t *testing.T, e *env, name string, inject bool) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Name: name}, ns); err != nil {
		t.Fatal(err)
	}
	if inject {
		ns.Labels[v1alpha1.LabelInject] = v1alpha1.LabelInjectEnabled
	} else {
		delete(ns.Labels, v1alpha1.LabelInject)
	}
	if err := e.c.Update(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}
