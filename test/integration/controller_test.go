package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

// lbFixture is one or more real HAProxy instances registered as a
// LoadBalancer, a labelled namespace, a Service and a TargetBinding.
type lbFixture struct {
	e       *env
	ns      string
	lbName  string
	procs   []*process.Process
	insts   []loadbalancer.Instance
	binding string
	podSeq  int
}

// newFixture starts HAProxy instances whose backend "web" checks the given
// health paths (one instance per path) and binds Service "web" to it.
func newFixture(t testing.TB, e *env, ns string, healthPaths ...string) *lbFixture {
	t.Helper()
	f := &lbFixture{e: e, ns: ns, lbName: "lb-" + ns, binding: "web"}
	lb := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: f.lbName}, Spec: v1alpha1.LoadBalancerSpec{HAProxy: &v1alpha1.HAProxyLoadBalancer{},
		AllowedBindings: []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromNames, Names: []string{ns}}}}}}
	for i, hp := range healthPaths {
		p, err := process.Start(context.Background(), process.Config{
			Frontends: []process.Frontend{{Name: "fe", Address: netip.MustParseAddrPort("127.0.0.1:0"), Backend: "web"}},
			Backends:  []process.Backend{{Name: "web", HealthPath: hp}},
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
		f.procs = append(f.procs, p)
		f.insts = append(f.insts, inst)
		lb.Spec.HAProxy.Instances = append(lb.Spec.HAProxy.Instances, v1alpha1.HAProxyInstance{Name: fmt.Sprintf("i%d", i), Socket: p.RuntimeSocket()})
	}
	e.namespace(ns, true)
	mustCreate(t, e, lb)
	mustCreate(t, e, service(ns, "web", map[string]string{"app": "web"}))
	mustCreate(t, e, binding(ns, f.binding, "web", f.lbName, func(b *v1alpha1.TargetBinding) {
		b.Spec.HealthCheck.Interval = &metav1.Duration{Duration: 100 * time.Millisecond}
		b.Spec.Drain.Timeout = &metav1.Duration{Duration: 20 * time.Second}
	}))
	return f
}

// startPod creates a pod for target tg the way a workload would (the
// webhook decides its gates) and plays kubelet: it binds it to a node and
// sets its IP, phase and ContainersReady.
func (f *lbFixture) startPod(t testing.TB, tg *conformance.Server) *corev1.Pod {
	t.Helper()
	f.podSeq++
	p := pod(f.ns, fmt.Sprintf("web-%d", f.podSeq), map[string]string{"app": "web"}, int32(tg.Addr().Port()))
	p.Spec.NodeName = "node-1" // a bound pod is deleted gracefully, as with a kubelet
	p.Spec.ServiceAccountName = "default"
	mustCreate(t, f.e, p)
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: tg.Addr().Addr().String(), PodIPs: []corev1.PodIP{{IP: tg.Addr().Addr().String()}},
		Conditions: []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
	}
	if err := f.e.c.Status().Update(context.Background(), p); err != nil {
		t.Fatalf("setting pod status: %v", err)
	}
	return p
}

// gate returns the pod's gate condition status ("" when absent).
func (f *lbFixture) gate(t testing.TB, name string) corev1.ConditionStatus {
	t.Helper()
	p := &corev1.Pod{}
	if err := f.e.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: name}, p); err != nil {
		t.Fatalf("getting pod %s: %v", name, err)
	}
	for _, c := range p.Status.Conditions {
		if string(c.Type) == v1alpha1.GateConditionType(f.binding) {
			return c.Status
		}
	}
	return ""
}

// waitGate waits until the pod's gate is True.
func (f *lbFixture) waitGate(t testing.TB, name string) {
	t.Helper()
	f.e.eventually("gate of "+name+" True", 30*time.Second, func() error {
		if s := f.gate(t, name); s != corev1.ConditionTrue {
			return fmt.Errorf("gate is %q", s)
		}
		return nil
	})
}

// state returns tg's state on instance i, as HAProxy reports it.
func (f *lbFixture) state(t testing.TB, i int, tg *conformance.Server) loadbalancer.TargetStatus {
	t.Helper()
	st, err := f.insts[i].Status(context.Background(), "web")
	if err != nil {
		t.Fatalf("haproxy status: %v", err)
	}
	for _, ts := range st.Targets {
		if ts.Address == tg.Addr() {
			return ts
		}
	}
	return loadbalancer.TargetStatus{Target: loadbalancer.Target{Address: tg.Addr()}, State: loadbalancer.StateAbsent}
}

// waitState waits until tg has state s on instance i.
func (f *lbFixture) waitState(t testing.TB, i int, tg *conformance.Server, s loadbalancer.State) {
	t.Helper()
	f.e.eventually(fmt.Sprintf("target %s %s on instance %d", tg.Addr(), s, i), 30*time.Second, func() error {
		if got := f.state(t, i, tg).State; got != s {
			return fmt.Errorf("state is %s", got)
		}
		return nil
	})
}

// get sends one client request through instance i's frontend.
func (f *lbFixture) get(i int, path string) (int, string, error) {
	resp, err := http.Get(f.procs[i].FrontendURL("fe") + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (f *lbFixture) bindingStatus(t testing.TB) v1alpha1.TargetBindingStatus {
	t.Helper()
	b := &v1alpha1.TargetBinding{}
	if err := f.e.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: f.binding}, b); err != nil {
		t.Fatalf("getting binding: %v", err)
	}
	return b.Status
}

// TestController_GateFollowsLoadBalancerHealth proves, on a real API server
// and a real HAProxy: a pod whose target fails its health check is
// registered early but never gets its gate and receives no client request,
// while a healthy one gets its gate and serves; the failing one gets its
// gate once it passes.
func TestController_GateFollowsLoadBalancerHealth(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "gate", "/healthz")
	good, bad := startTarget(t, "127.44.1.1"), startTarget(t, "127.44.1.2")
	good.SetHealthy(true)
	pg, pb := f.startPod(t, good), f.startPod(t, bad)
	if !hasGate(pg, f.binding) || !hasGate(pb, f.binding) {
		t.Fatalf("webhook did not inject the gate: %v / %v", pg.Spec.ReadinessGates, pb.Spec.ReadinessGates)
	}

	f.waitGate(t, pg.Name)
	f.waitState(t, 0, bad, loadbalancer.StateInitial) // pre-registered
	// Let the failing target be checked many times more: still no gate.
	time.Sleep(1 * time.Second)
	if s := f.gate(t, pb.Name); s == corev1.ConditionTrue {
		t.Fatalf("pod %s got its gate while its target fails its checks", pb.Name)
	}
	for range 200 {
		code, _, err := f.get(0, "/")
		if err != nil || code != http.StatusOK {
			t.Fatalf("client request through haproxy: %d %v", code, err)
		}
	}
	if n := bad.Requests(); n != 0 {
		t.Errorf("pre-registered, not yet healthy target received %d client requests; want 0", n)
	}
	if n := good.Requests(); n != 200 {
		t.Errorf("healthy target received %d client requests; want 200", n)
	}
	// The reconciler writes the status on its own schedule.
	e.eventually("binding counts while a target is pending", 30*time.Second, func() error {
		st := f.bindingStatus(t)
		if st.Targets.Desired != 2 || st.Targets.Healthy != 1 || st.Targets.Initial != 1 {
			return fmt.Errorf("binding counts = %+v; want desired 2, healthy 1, initial 1", st.Targets)
		}
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("binding Ready = %+v; want False while a target is pending", c)
		}
		return nil
	})

	bad.SetHealthy(true)
	f.waitGate(t, pb.Name)
	e.eventually("binding Ready", 30*time.Second, func() error {
		c := meta.FindStatusCondition(f.bindingStatus(t).Conditions, v1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
}

// TestController_DeletedPodDrainsWithoutCuttingInFlightRequests proves that
// deleting a pod drains its target on HAProxy (no new request reaches it,
// the in-flight one finishes with 200), then removes it.
func TestController_DeletedPodDrainsWithoutCuttingInFlightRequests(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "drain", "/healthz")
	old, peer := startTarget(t, "127.44.2.1"), startTarget(t, "127.44.2.2")
	old.SetHealthy(true)
	po := f.startPod(t, old)
	f.waitGate(t, po.Name)

	// Only old is in service: this request is held on it.
	type result struct {
		code int
		body string
		err  error
	}
	held := make(chan result, 1)
	go func() {
		code, body, err := f.get(0, holdPath)
		held <- result{code, body, err}
	}()
	e.eventually("request held on the old target", 30*time.Second, func() error {
		if old.Holding() != 1 {
			return fmt.Errorf("holding %d", old.Holding())
		}
		return nil
	})
	peer.SetHealthy(true)
	pp := f.startPod(t, peer)
	f.waitGate(t, pp.Name)

	if err := e.c.Delete(context.Background(), po); err != nil {
		t.Fatal(err)
	}
	f.waitState(t, 0, old, loadbalancer.StateDraining)
	before := old.Requests()
	for range 50 {
		if code, body, err := f.get(0, "/"); err != nil || code != http.StatusOK || body != peer.Addr().String() {
			t.Fatalf("request while draining: %d %q %v; want 200 from %s", code, body, err, peer.Addr())
		}
	}
	if n := old.Requests() - before; n != 0 {
		t.Errorf("draining target received %d new requests; want 0", n)
	}
	old.Release()
	r := <-held
	if r.err != nil || r.code != http.StatusOK || r.body != old.Addr().String() {
		t.Fatalf("in-flight request during drain: %d %q %v; want 200 from %s", r.code, r.body, r.err, old.Addr())
	}
	f.waitState(t, 0, old, loadbalancer.StateAbsent)
}

// TestController_HAProxyRestartConverges proves that after HAProxy restarts
// (its dynamic servers vanish) the controller registers every target again
// and no serving pod's gate turns False.
func TestController_HAProxyRestartConverges(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "restart", "/healthz")
	a, b := startTarget(t, "127.44.3.1"), startTarget(t, "127.44.3.2")
	a.SetHealthy(true)
	b.SetHealthy(true)
	pa, pb := f.startPod(t, a), f.startPod(t, b)
	f.waitGate(t, pa.Name)
	f.waitGate(t, pb.Name)

	var flipped atomic.Bool
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { // watch the gates through the restart
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, n := range []string{pa.Name, pb.Name} {
				if f.gate(t, n) != corev1.ConditionTrue {
					flipped.Store(true)
				}
			}
		}
	}()
	if err := f.procs[0].Restart(context.Background()); err != nil {
		t.Fatalf("restarting haproxy: %v", err)
	}
	f.waitState(t, 0, a, loadbalancer.StateHealthy)
	f.waitState(t, 0, b, loadbalancer.StateHealthy)
	close(stop)
	<-watched
	if flipped.Load() {
		t.Error("a serving pod's gate left True during the HAProxy restart")
	}
}

// TestController_GateWaitsForEveryInstance proves that a target healthy on
// one HAProxy instance and not on the other gets no gate, and gets it once
// both report it healthy.
func TestController_GateWaitsForEveryInstance(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "pair", "/healthz", "/healthz-b")
	tg := startTarget(t, "127.44.4.1")
	tg.SetHealthy(true) // instance 0 checks /healthz, instance 1 /healthz-b
	tg.SetPathHealthy("/healthz-b", false)
	p := f.startPod(t, tg)
	f.waitState(t, 0, tg, loadbalancer.StateHealthy)
	f.waitState(t, 1, tg, loadbalancer.StateInitial)
	time.Sleep(500 * time.Millisecond)
	if s := f.gate(t, p.Name); s == corev1.ConditionTrue {
		t.Fatal("gate True while one of two instances does not report the target healthy")
	}
	tg.SetPathHealthy("/healthz-b", true)
	f.waitGate(t, p.Name)
}

// TestController_DeletedBindingReleasesGatesAndServers proves that deleting
// a binding sets its gates True (nothing stays stuck) and removes its
// servers from HAProxy.
func TestController_DeletedBindingReleasesGatesAndServers(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "release", "/healthz")
	tg := startTarget(t, "127.44.5.1") // never passes: the gate would wait forever
	p := f.startPod(t, tg)
	f.waitState(t, 0, tg, loadbalancer.StateInitial)
	b := &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.binding}}
	if err := e.c.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	f.waitGate(t, p.Name)
	f.waitState(t, 0, tg, loadbalancer.StateAbsent)
	e.eventually("binding gone", 30*time.Second, func() error {
		err := e.c.Get(context.Background(), client.ObjectKeyFromObject(b), b)
		if err == nil {
			return fmt.Errorf("binding still exists with finalizers %v", b.Finalizers)
		}
		return client.IgnoreNotFound(err)
	})
}

// TestController_RestartAndWebhookOutage proves that a pod created while the
// controller (and so the webhook) is down is admitted without the gate and
// reported on the binding, and that a restarted controller converges.
func TestController_RestartAndWebhookOutage(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "outage", "/healthz")
	a := startTarget(t, "127.44.6.1")
	a.SetHealthy(true)
	pa := f.startPod(t, a)
	f.waitGate(t, pa.Name)

	e.stopController()
	b := startTarget(t, "127.44.6.2")
	b.SetHealthy(true)
	pb := f.startPod(t, b) // failurePolicy Ignore: admitted without the gate
	if hasGate(pb, f.binding) {
		t.Fatal("pod created while the webhook was down got the gate")
	}
	e.startController()
	f.waitState(t, 0, b, loadbalancer.StateHealthy) // still registered: it serves
	e.eventually("pod reported missing its gate", 30*time.Second, func() error {
		st := f.bindingStatus(t)
		if len(st.PodsMissingGate) != 1 || st.PodsMissingGate[0].Name != pb.Name {
			return fmt.Errorf("podsMissingGate = %v", st.PodsMissingGate)
		}
		c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionGateInjected)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonPodsMissingGate {
			return fmt.Errorf("GateInjected = %+v", c)
		}
		return nil
	})
	if f.gate(t, pa.Name) != corev1.ConditionTrue {
		t.Error("gate of a serving pod is not True after the controller restart")
	}
}

// TestController_LoadBalancerDownThenBack proves that an unreachable
// instance is reported on the binding, keeps new pods' gates closed, and
// that the controller converges when it comes back.
func TestController_LoadBalancerDownThenBack(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "down", "/healthz")
	if err := f.procs[0].Stop(); err != nil {
		t.Fatal(err)
	}
	tg := startTarget(t, "127.44.7.1")
	tg.SetHealthy(true)
	p := f.startPod(t, tg)
	e.eventually("binding reports the instance unreachable", 30*time.Second, func() error {
		c := meta.FindStatusCondition(f.bindingStatus(t).Conditions, v1alpha1.ConditionSynced)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonInstanceUnreachable {
			return fmt.Errorf("Synced = %+v", c)
		}
		return nil
	})
	if s := f.gate(t, p.Name); s == corev1.ConditionTrue {
		t.Fatal("gate True while the load balancer is down")
	}
	e.eventually("load balancer reports the instance unreachable", 60*time.Second, func() error {
		lb := &v1alpha1.LoadBalancer{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Name: f.lbName}, lb); err != nil {
			return err
		}
		c := meta.FindStatusCondition(lb.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || lb.Status.ReachableInstances != 0 {
			return fmt.Errorf("Ready = %+v, reachable %d", c, lb.Status.ReachableInstances)
		}
		return nil
	})
	if err := f.procs[0].Restart(context.Background()); err != nil {
		t.Fatalf("starting haproxy again: %v", err)
	}
	f.waitGate(t, p.Name)
}
