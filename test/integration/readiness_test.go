package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// setContainersReady plays kubelet after a readiness probe changed: it
// writes the pod's ContainersReady and Ready conditions.
func (f *lbFixture) setContainersReady(t *testing.T, name string, ready bool) {
	t.Helper()
	p := &corev1.Pod{}
	if err := f.e.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	for _, ct := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
		found := false
		for i := range p.Status.Conditions {
			if c := &p.Status.Conditions[i]; c.Type == ct {
				c.Status, c.LastTransitionTime, found = st, metav1.Now(), true
			}
		}
		if !found {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: ct, Status: st, LastTransitionTime: metav1.Now()})
		}
	}
	if err := f.e.c.Status().Update(context.Background(), p); err != nil {
		t.Fatalf("setting ContainersReady=%v on %s: %v", ready, name, err)
	}
}

// TestController_RuntimeNotReadyDrainsThePod proves that a pod in service
// whose readiness probe fails at runtime (ContainersReady False) while the
// load balancer's own check still passes is drained on the load balancer:
// under load, no request reaches it once drained and none fails; when it is
// ready again it takes traffic again, and its gate stays True throughout.
// Before, a gated pod with an IP stayed a target whatever its readiness.
func TestController_RuntimeNotReadyDrainsThePod(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "runtime", "/healthz")
	a, b := startTarget(t, "127.44.25.1"), startTarget(t, "127.44.25.2")
	a.SetHealthy(true)
	b.SetHealthy(true)
	pa, pb := f.startPod(t, a), f.startPod(t, b)
	f.waitGate(t, pa.Name)
	f.waitGate(t, pb.Name)
	f.waitState(t, 0, a, loadbalancer.StateHealthy)

	l := startLoad(f.procs[0].FrontendURL("fe") + "/")
	time.Sleep(300 * time.Millisecond)
	f.setContainersReady(t, pa.Name, false) // the app's readiness probe fails; HAProxy's check does not
	e.eventually("not-ready pod's target out of rotation", 30*time.Second, func() error {
		if s := f.state(t, 0, a).State; s != loadbalancer.StateMaintenance && s != loadbalancer.StateAbsent {
			return fmt.Errorf("state is %s", s)
		}
		return nil
	})
	drained := a.Requests()
	time.Sleep(time.Second)
	if n := a.Requests() - drained; n != 0 {
		t.Errorf("%d requests reached the not-ready pod after it was drained; want 0", n)
	}
	if f.gate(t, pa.Name) != corev1.ConditionTrue {
		t.Error("the not-ready pod's gate left True; it is latched")
	}

	f.setContainersReady(t, pa.Name, true)
	f.waitState(t, 0, a, loadbalancer.StateHealthy)
	back := a.Requests()
	e.eventually("ready-again pod takes traffic", 30*time.Second, func() error {
		if a.Requests() == back {
			return fmt.Errorf("no request reached it since it was healthy again")
		}
		return nil
	})
	sent, failed, errs := l.finish()
	t.Logf("under load: %d sent, %d failed; %d reached the pod before it was drained", sent, failed, drained)
	if failed != 0 {
		t.Errorf("%d of %d requests failed (first: %v); want 0", failed, sent, errs[:min(len(errs), 5)])
	}
}

// TestController_PendingGateSaysWhichInstanceHoldsItBack proves that a
// pod whose target is healthy on one instance and not yet on the other
// carries its gate condition False with each instance's state in the
// message (what `kubectl describe pod` shows), and True, with a message
// saying so, once both report it healthy.
func TestController_PendingGateSaysWhichInstanceHoldsItBack(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "why", "/healthz", "/healthz-b")
	tg := startTarget(t, "127.44.31.1")
	tg.SetHealthy(true)
	tg.SetPathHealthy("/healthz-b", false)
	p := f.startPod(t, tg)
	want := "i0: Healthy; i1: Initial (health checks have not passed yet)"
	e.eventually("gate condition explains the wait", 30*time.Second, func() error {
		c := f.gateCondition(t, p.Name)
		if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "TargetNotHealthy" || !strings.Contains(c.Message, want) {
			return fmt.Errorf("gate condition %+v; want False/TargetNotHealthy with %q", c, want)
		}
		return nil
	})
	tg.SetPathHealthy("/healthz-b", true)
	f.waitGate(t, p.Name)
	if c := f.gateCondition(t, p.Name); c.Reason != "TargetHealthy" || strings.Contains(c.Message, "Initial") {
		t.Errorf("gate condition after both instances report it healthy: %+v", c)
	}
}

// gateCondition returns the pod's gate condition, or nil.
func (f *lbFixture) gateCondition(t *testing.T, name string) *corev1.PodCondition {
	t.Helper()
	p := &corev1.Pod{}
	if err := f.e.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	for i, c := range p.Status.Conditions {
		if string(c.Type) == v1alpha1.GateConditionType(f.binding) {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
