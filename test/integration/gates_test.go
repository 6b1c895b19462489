package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/controller"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// TestController_ReleasesGatesOfAMissingBinding proves that a pod whose
// gate belongs to a binding that no longer exists (here: its finalizer was
// stripped and it was deleted while the controller was down, so the
// controller never finalized it) gets its gate set True, with an event,
// and that the deleted binding's metric series are gone.
func TestController_ReleasesGatesOfAMissingBinding(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "orphan", "/healthz")
	tg := startTarget(t, "127.44.26.1") // never passes: its gate would wait forever
	p := f.startPod(t, tg)
	f.waitState(t, 0, tg, loadbalancer.StateInitial)
	e.eventually("targets metric of the binding", 30*time.Second, func() error {
		if n := seriesOf(t, e, "zerodrop_targets", "orphan", "web"); n == 0 {
			return fmt.Errorf("no zerodrop_targets series for orphan/web")
		}
		return nil
	})

	e.stopController()
	b := &v1alpha1.TargetBinding{}
	key := types.NamespacedName{Namespace: f.ns, Name: f.binding}
	if err := e.c.Get(context.Background(), key, b); err != nil {
		t.Fatal(err)
	}
	b.Finalizers = nil
	if err := e.c.Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	e.eventually("binding gone", 30*time.Second, func() error {
		if err := e.c.Get(context.Background(), key, b); err == nil {
			return fmt.Errorf("binding still there")
		}
		return nil
	})
	if f.gate(t, p.Name) == corev1.ConditionTrue {
		t.Fatal("gate True before the controller came back")
	}
	e.startController()
	f.waitGate(t, p.Name)
	e.eventually("gate-released event on the pod", 30*time.Second, func() error {
		return eventFor(t, e, f.ns, p.Name, controller.EventGateReleased)
	})
	if n := seriesOf(t, e, "zerodrop_targets", "orphan", "web"); n != 0 {
		t.Errorf("%d zerodrop_targets series of the deleted binding remain; want 0", n)
	}
}

// TestPatchGateTrue_refusesAPodRecreatedUnderTheSameName proves that the
// gate patch carries the pod's UID as a precondition: a pod deleted and
// created again under the same name does not get the gate meant for the
// one read before.
func TestPatchGateTrue_refusesAPodRecreatedUnderTheSameName(t *testing.T) {
	e := startEnv(t, noLoadBalancer)
	e.namespace("recreate", false)
	gate := v1alpha1.GateConditionType("web")
	mk := func() *corev1.Pod {
		p := pod("recreate", "web-0", map[string]string{"app": "web"}, 8080)
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate)}}
		mustCreate(t, e, p)
		return p
	}
	old := mk()
	if err := e.c.Delete(context.Background(), old, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	e.eventually("old pod gone", 30*time.Second, func() error {
		if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(old), &corev1.Pod{}); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	fresh := mk()
	err := controller.PatchGateTrue(context.Background(), e.c, old, gate, "TargetHealthy", time.Now())
	if !errors.Is(err, controller.ErrPodReplaced) {
		t.Errorf("patching the old pod's gate: %v; want ErrPodReplaced", err)
	}
	got := &corev1.Pod{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(fresh), got); err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Status.Conditions {
		if string(c.Type) == gate {
			t.Errorf("the recreated pod got the gate condition %+v meant for its predecessor", c)
		}
	}
	if err := controller.PatchGateTrue(context.Background(), e.c, got, gate, "TargetHealthy", time.Now()); err != nil {
		t.Errorf("patching the current pod: %v", err)
	}
}

// seriesOf counts the series of metric name for one binding.
func seriesOf(t *testing.T, e *env, name, ns, binding string) int {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["namespace"] == ns && l["binding"] == binding {
				n++
			}
		}
	}
	return n
}

// eventFor returns nil once an event with reason is recorded about the
// named object.
func eventFor(t *testing.T, e *env, ns, name, reason string) error {
	t.Helper()
	var list corev1.EventList
	if err := e.c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == name && ev.Reason == reason {
			return nil
		}
	}
	return fmt.Errorf("no %s event about %s among %d events", reason, name, len(list.Items))
}
