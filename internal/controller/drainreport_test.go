package controller

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
)

func TestDrainProgress(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.1:8080")
	other := netip.MustParseAddrPort("10.0.0.2:8080")
	insts := []pool.NamedInstance{{Name: "i0"}, {Name: "i1"}}
	ts := func(a netip.AddrPort, s loadbalancer.State, sessions int64) loadbalancer.TargetStatus {
		return loadbalancer.TargetStatus{Target: loadbalancer.Target{Address: a}, State: s, Sessions: sessions}
	}
	for _, tc := range []struct {
		name     string
		observed map[string]loadbalancer.BackendStatus
		drained  bool
		msg      string
	}{
		{"draining with sessions on one, gone from the other", map[string]loadbalancer.BackendStatus{
			"i0": {Targets: []loadbalancer.TargetStatus{ts(addr, loadbalancer.StateDraining, 3), ts(other, loadbalancer.StateHealthy, 1)}},
			"i1": {},
		}, false, "i0: Draining, 3 sessions; i1: Removed"},
		{"maintenance without session everywhere is drained", map[string]loadbalancer.BackendStatus{
			"i0": {Targets: []loadbalancer.TargetStatus{ts(addr, loadbalancer.StateMaintenance, 0)}},
			"i1": {Targets: []loadbalancer.TargetStatus{ts(addr, loadbalancer.StateAbsent, 0)}},
		}, true, "i0: Maintenance, 0 sessions; i1: Removed"},
		{"an instance that did not answer is not drained", map[string]loadbalancer.BackendStatus{
			"i0": {},
		}, false, "i0: Removed; i1: unreachable"},
		{"sessions unknown: no count, not drained while draining", map[string]loadbalancer.BackendStatus{
			"i0": {Targets: []loadbalancer.TargetStatus{ts(addr, loadbalancer.StateDraining, loadbalancer.SessionsUnknown)}},
			"i1": {},
		}, false, "i0: Draining; i1: Removed"},
		{"the target still holding on wins over a stale one already out", map[string]loadbalancer.BackendStatus{
			"i0": {Targets: []loadbalancer.TargetStatus{ts(addr, loadbalancer.StateDraining, 2), ts(addr, loadbalancer.StateMaintenance, 0)}},
			"i1": {},
		}, false, "i0: Draining, 2 sessions; i1: Removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drained, msg := DrainProgress(addr, insts, tc.observed)
			if drained != tc.drained || msg != tc.msg {
				t.Errorf("DrainProgress = %v, %q; want %v, %q", drained, msg, tc.drained, tc.msg)
			}
		})
	}
}

func TestDrainReportDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cond := func(s corev1.ConditionStatus, msg string, written time.Time) *corev1.PodCondition {
		return &corev1.PodCondition{Status: s, Message: msg, LastProbeTime: metav1.NewTime(written)}
	}
	const f, tr = corev1.ConditionFalse, corev1.ConditionTrue
	for _, tc := range []struct {
		name     string
		existing *corev1.PodCondition
		status   corev1.ConditionStatus
		msg      string
		want     bool
	}{
		{"absent", nil, f, "i0: Draining, 3 sessions", true},
		{"unchanged", cond(f, "i0: Draining, 3 sessions", now), f, "i0: Draining, 3 sessions", false},
		{"status changed", cond(f, "i0: Removed", now), tr, "i0: Removed", true},
		{"state changed", cond(f, "i0: Draining, 0 sessions", now), f, "i0: Maintenance, 0 sessions", true},
		{"sessions only, written just now", cond(f, "i0: Draining, 3 sessions", now.Add(-300*time.Millisecond)), f, "i0: Draining, 2 sessions", false},
		{"sessions only, written a second ago", cond(f, "i0: Draining, 3 sessions", now.Add(-time.Second)), f, "i0: Draining, 2 sessions", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DrainReportDue(tc.existing, tc.status, tc.msg, now); got != tc.want {
				t.Errorf("DrainReportDue = %v; want %v", got, tc.want)
			}
		})
	}
}

func drainCondition(t *testing.T, f *reconcilerFixture, name string) *corev1.PodCondition {
	t.Helper()
	p := &corev1.Pod{}
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: name}, p); err != nil {
		t.Fatal(err)
	}
	for i, c := range p.Status.Conditions {
		if string(c.Type) == v1alpha1.DrainConditionType("web") {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestTargetBindingReconciler_reportsATerminatingPodsDrainOnThePod(t *testing.T) {
	gate := corev1.PodCondition{Type: corev1.PodConditionType(v1alpha1.GateConditionType("web")), Status: corev1.ConditionTrue}
	p := gatedPod("a", "10.0.0.1", gate)
	now := metav1.Now()
	p.DeletionTimestamp, p.Finalizers = &now, []string{"test/hold"}
	f := newReconcilerFixture(t, p)
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.r.Now = func() time.Time { return clock }
	tg := loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.1:8080"), Owner: f.owner(),
		Settings: checkSettings(&v1alpha1.TargetBinding{}).Tag()}
	if err := f.lb.Register(context.Background(), "be", loadbalancer.CheckSettings{}, tg); err != nil {
		t.Fatal(err)
	}
	if err := f.lb.SetState("be", tg, loadbalancer.StateHealthy); err != nil {
		t.Fatal(err)
	}
	if err := f.lb.SetSessions("be", tg, 3); err != nil {
		t.Fatal(err)
	}
	f.reconcile() // drains it
	start := clock
	clock = clock.Add(100 * time.Millisecond)
	f.reconcile()
	c := drainCondition(t, f, "a")
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != v1alpha1.ReasonDraining || c.Message != "i0: Draining, 3 sessions" ||
		!c.LastTransitionTime.Time.Equal(start) {
		t.Fatalf("drain condition %+v; want False/Draining, \"i0: Draining, 3 sessions\", since the drain started at %s", c, start)
	}
	if err := f.lb.SetSessions("be", tg, 2); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(100 * time.Millisecond)
	f.reconcile()
	if c := drainCondition(t, f, "a"); c.Message != "i0: Draining, 3 sessions" {
		t.Errorf("drain condition rewritten for a session count within %s: %+v", MinDrainReportInterval, c)
	}
	clock = clock.Add(MinDrainReportInterval)
	f.reconcile()
	if c := drainCondition(t, f, "a"); c.Message != "i0: Draining, 2 sessions" || !c.LastTransitionTime.Time.Equal(start) {
		t.Errorf("drain condition after %s: %+v; want the new count, still since %s", MinDrainReportInterval, c, start)
	}
	if err := f.lb.SetSessions("be", tg, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 { // removed (maintenance, no session), then drained
		clock = clock.Add(100 * time.Millisecond)
		f.reconcile()
	}
	if c := drainCondition(t, f, "a"); c.Status != corev1.ConditionTrue || c.Reason != v1alpha1.ReasonDrained {
		t.Errorf("drain condition once every instance let go: %+v; want True/Drained", c)
	}
}
