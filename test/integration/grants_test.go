package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

// waitCondition waits until binding ns/name has condition typ with status
// and reason, and returns it.
func (e *env) waitCondition(ns, name, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	e.t.Helper()
	var got metav1.Condition
	e.eventually(fmt.Sprintf("binding %s/%s %s=%s (%s)", ns, name, typ, status, reason), 30*time.Second, func() error {
		b := &v1alpha1.TargetBinding{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, b); err != nil {
			return err
		}
		c := meta.FindStatusCondition(b.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s = %+v", typ, c)
		}
		got = *c
		return nil
	})
	return got
}

// setNamespaceLabel sets (value != "") or removes a label of namespace ns.
func (e *env) setNamespaceLabel(ns, key, value string) {
	e.t.Helper()
	o := &corev1.Namespace{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Name: ns}, o); err != nil {
		e.t.Fatal(err)
	}
	if value == "" {
		delete(o.Labels, key)
	} else {
		o.Labels[key] = value
	}
	if err := e.c.Update(context.Background(), o); err != nil {
		e.t.Fatalf("labelling namespace %s: %v", ns, err)
	}
}

// servers returns every server HAProxy has in backend, whoever put it there.
func servers(t testing.TB, inst loadbalancer.Instance, backend string) []loadbalancer.TargetStatus {
	t.Helper()
	st, err := inst.Status(context.Background(), backend)
	if err != nil {
		t.Fatalf("haproxy status of %s: %v", backend, err)
	}
	var out []loadbalancer.TargetStatus
	for _, ts := range st.Targets {
		if ts.State != loadbalancer.StateAbsent {
			out = append(out, ts)
		}
	}
	return out
}

// mustContain fails unless msg mentions every one of want.
func mustContain(t testing.TB, what, msg string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s %q does not mention %q", what, msg, w)
		}
	}
}

// TestController_GrantsDecideWhichNamespacesAndBackendsMayBind proves, on a
// real API server and a real HAProxy, that a LoadBalancer's
// spec.allowedBindings decide which bindings act on it: a binding in a
// namespace no grant selects is Accepted=False (NamespaceNotAllowed), puts
// no server into HAProxy and opens no gate; labelling the namespace to
// match the grant's selector accepts it and opens its pod's gate; a binding
// naming a backend the grant does not list is BackendNotAllowed and adds
// nothing; a binding from another namespace that names the same backend
// neither drains the granted team's target while it exists nor when it is
// deleted; revoking the grant leaves the registered target serving.
func TestController_GrantsDecideWhichNamespacesAndBackendsMayBind(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	p, err := process.Start(context.Background(), process.Config{
		Frontends: []process.Frontend{{Name: "fe", Address: netip.MustParseAddrPort("127.0.0.1:0"), Backend: "web"}},
		Backends:  []process.Backend{{Name: "web", HealthPath: "/healthz"}, {Name: "other", HealthPath: "/healthz"}},
	})
	if err != nil {
		t.Fatalf("starting haproxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	inst, err := haproxy.New(haproxy.Config{SocketPath: p.RuntimeSocket()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	const ns, lbName = "shop", "lb-grants"
	f := &lbFixture{e: e, ns: ns, lbName: lbName, procs: []*process.Process{p}, insts: []loadbalancer.Instance{inst}, binding: "web"}
	mustCreate(t, e, &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: lbName}, Spec: v1alpha1.LoadBalancerSpec{
		HAProxy: &v1alpha1.HAProxyLoadBalancer{Instances: []v1alpha1.HAProxyInstance{{Name: "i0", Socket: p.RuntimeSocket()}}},
		AllowedBindings: []v1alpha1.BindingGrant{{
			Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromSelector, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}},
			Backends:   []string{"web"},
		}},
	}})
	fast := func(b *v1alpha1.TargetBinding) {
		b.Spec.HealthCheck.Interval = &metav1.Duration{Duration: 100 * time.Millisecond}
	}
	e.namespace(ns, true)
	mustCreate(t, e, service(ns, "web", map[string]string{"app": "web"}))
	mustCreate(t, e, binding(ns, "web", "web", lbName, fast))
	tg := startTarget(t, "127.44.10.1")
	tg.SetHealthy(true)
	pd := f.startPod(t, tg)
	if !hasGate(pd, f.binding) {
		t.Fatalf("webhook did not inject the gate: %v", pd.Spec.ReadinessGates)
	}

	// Not granted: Accepted=False naming the LB and the grant field; Ready
	// says why; nothing on HAProxy, no gate, across several resyncs.
	c := e.waitCondition(ns, "web", v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotAllowed)
	mustContain(t, "Accepted message", c.Message, lbName, "spec.allowedBindings")
	e.waitCondition(ns, "web", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotAllowed)
	time.Sleep(time.Second) // two resync intervals of the test controller
	if s := servers(t, inst, "web"); len(s) != 0 {
		t.Fatalf("backend web has servers %v of a binding that is not accepted", s)
	}
	if s := f.gate(t, pd.Name); s == corev1.ConditionTrue {
		t.Fatal("gate True for a binding that is not accepted")
	}

	// Granted by labelling the namespace: accepted, registered, gate opens.
	e.setNamespaceLabel(ns, "team", "shop")
	c = e.waitCondition(ns, "web", v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	mustContain(t, "Accepted message", c.Message, lbName, "spec.allowedBindings[0]")
	f.waitGate(t, pd.Name)
	f.waitState(t, 0, tg, loadbalancer.StateHealthy)

	// A backend the grant does not list.
	mustCreate(t, e, binding(ns, "other", "web", lbName, fast, func(b *v1alpha1.TargetBinding) { b.Spec.Backend = "other" }))
	c = e.waitCondition(ns, "other", v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonBackendNotAllowed)
	mustContain(t, "Accepted message", c.Message, lbName, `"other"`, "spec.allowedBindings[0].backends")
	e.waitCondition(ns, "other", v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendNotAllowed)

	// Another team names the shop's backend: not accepted, and neither its
	// passes nor its deletion drain the shop's target.
	e.namespace("intruder", true)
	mustCreate(t, e, service("intruder", "web", map[string]string{"app": "intruder"}))
	mustCreate(t, e, binding("intruder", "web", "web", lbName, fast))
	e.waitCondition("intruder", "web", v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotAllowed)
	if err := e.c.Delete(context.Background(), binding("intruder", "web", "web", lbName)); err != nil {
		t.Fatal(err)
	}
	e.eventually("intruder binding gone (finalizer dropped)", 30*time.Second, func() error {
		err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "intruder", Name: "web"}, &v1alpha1.TargetBinding{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	time.Sleep(time.Second)
	if s := servers(t, inst, "other"); len(s) != 0 {
		t.Fatalf("backend other has servers %v of a binding that is not accepted", s)
	}
	if st := f.state(t, 0, tg); st.State != loadbalancer.StateHealthy {
		t.Fatalf("shop target is %s after another namespace's binding to its backend came and went; want Healthy", st.State)
	}

	// Revoking the grant: Accepted=False, the registered target is left
	// serving (not drained, not removed).
	e.setNamespaceLabel(ns, "team", "")
	e.waitCondition(ns, "web", v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotAllowed)
	time.Sleep(time.Second)
	if st := f.state(t, 0, tg); st.State != loadbalancer.StateHealthy {
		t.Fatalf("target is %s after its grant was revoked; want Healthy (left alone)", st.State)
	}
	if code, _, err := f.get(0, "/"); err != nil || code != 200 {
		t.Fatalf("client request through haproxy after the revocation: %d %v", code, err)
	}
}
