package controller

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/fake"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// nopRecorder drops events.
type nopRecorder struct{}

func (nopRecorder) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {}

// reconcilerFixture is a TargetBindingReconciler on controller-runtime's
// fake client and one fake load-balancer instance.
type reconcilerFixture struct {
	t    *testing.T
	c    client.Client
	lb   *fake.Instance
	r    *TargetBindingReconciler
	key  types.NamespacedName
	uid  types.UID
	pods []*corev1.Pod
}

func newReconcilerFixture(t *testing.T, pods ...*corev1.Pod) *reconcilerFixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	lbObj := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "edge"}, Spec: v1alpha1.LoadBalancerSpec{
		HAProxy:         &v1alpha1.HAProxyLoadBalancer{Instances: []v1alpha1.HAProxyInstance{{Name: "i0", Socket: "/unused"}}},
		AllowedBindings: []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromAll}}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	b := &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "binding-uid"}, Spec: v1alpha1.TargetBindingSpec{
		ServiceRef: v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("http")}, LoadBalancerRef: "edge", Backend: "be"}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	objs := []client.Object{lbObj, svc, b, ns}
	for _, p := range pods {
		objs = append(objs, p)
	}
	c := clientfake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.TargetBinding{}, &corev1.Pod{}).
		WithIndex(&v1alpha1.TargetBinding{}, IndexLoadBalancerRef, func(o client.Object) []string {
			return []string{o.(*v1alpha1.TargetBinding).Spec.LoadBalancerRef}
		}).
		WithIndex(&corev1.Pod{}, IndexPodGate, podGateBindings).Build()
	inst := fake.New("be")
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &TargetBindingReconciler{
		Client: c, Recorder: nopRecorder{}, Metrics: metrics, ClusterID: "cluster",
		Pool:         pool.New(func(v1alpha1.LoadBalancerSpec, string) (loadbalancer.Instance, error) { return inst, nil }),
		PollInterval: 100 * time.Millisecond, ResyncInterval: 2 * time.Second,
		drains: map[drainKey]time.Time{}, missing: map[types.NamespacedName]string{}, conflicts: map[types.NamespacedName]string{},
		foreignGates: map[types.NamespacedName]string{},
	}
	return &reconcilerFixture{t: t, c: c, lb: inst, r: r, key: types.NamespacedName{Namespace: "shop", Name: "web"}, uid: b.UID, pods: pods}
}

func (f *reconcilerFixture) reconcile() {
	f.t.Helper()
	if _, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: f.key}); err != nil {
		f.t.Fatalf("Reconcile: %v", err)
	}
}

func (f *reconcilerFixture) owner() string { return targets.Owner("cluster", f.uid) }

// gatedPod is a pod the Service selects, with the binding's gate and an IP.
func gatedPod(name, ip string, conds ...corev1.PodCondition) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name + "-uid"), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(v1alpha1.GateConditionType("web"))}},
			Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{PodIP: ip, Conditions: conds},
	}
}

func TestTargetBindingReconciler_registersOwnedTargetsAndGatesOnHealth(t *testing.T) {
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1"))
	f.reconcile()
	regs := f.lb.CallsTo(fake.MethodRegister)
	if len(regs) != 1 || len(regs[0].Targets) != 1 {
		t.Fatalf("Register calls %+v; want one with one target", regs)
	}
	got := regs[0].Targets[0]
	if got.Address != netip.MustParseAddrPort("10.0.0.1:8080") || got.Owner != f.owner() || got.Settings != regs[0].Check.Tag() {
		t.Errorf("registered %+v; want 10.0.0.1:8080 with owner %s and the check settings' tag %s", got, f.owner(), regs[0].Check.Tag())
	}
	f.reconcile()
	if gateTrue(t, f.c, "a") {
		t.Fatal("gate True while the target is Initial")
	}
	if err := f.lb.SetState("be", got, loadbalancer.StateHealthy); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	if !gateTrue(t, f.c, "a") {
		t.Error("gate not True once the only instance reports the target healthy")
	}
}

func TestTargetBindingReconciler_neverTouchesAnotherOwnersTargets(t *testing.T) {
	f := newReconcilerFixture(t) // the Service selects nothing
	foreign := loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.9:8080"), Owner: "0123456789"}
	if err := f.lb.Register(context.Background(), "be", loadbalancer.CheckSettings{}, foreign); err != nil {
		t.Fatal(err)
	}
	if err := f.lb.SetState("be", foreign, loadbalancer.StateHealthy); err != nil {
		t.Fatal(err)
	}
	f.lb.ResetCalls()
	for range 3 {
		f.reconcile()
	}
	for _, m := range []string{fake.MethodRegister, fake.MethodDrain, fake.MethodRemove} {
		if calls := f.lb.CallsTo(m); len(calls) != 0 {
			t.Errorf("%s calls %+v on a backend holding only another owner's target; want none", m, calls)
		}
	}
}

func TestTargetBindingReconciler_drainsAPodInServiceThatTurnsNotReady(t *testing.T) {
	gate := corev1.PodCondition{Type: corev1.PodConditionType(v1alpha1.GateConditionType("web")), Status: corev1.ConditionTrue}
	notReady := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1", gate, notReady))
	tg := loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.1:8080"), Owner: f.owner(),
		Settings: checkSettings(&v1alpha1.TargetBinding{}).Tag()}
	if err := f.lb.Register(context.Background(), "be", loadbalancer.CheckSettings{}, tg); err != nil {
		t.Fatal(err)
	}
	if err := f.lb.SetState("be", tg, loadbalancer.StateHealthy); err != nil {
		t.Fatal(err)
	}
	f.lb.ResetCalls()
	f.reconcile()
	drains := f.lb.CallsTo(fake.MethodDrain)
	if len(drains) != 1 || len(drains[0].Targets) != 1 || drains[0].Targets[0] != tg {
		t.Errorf("Drain calls %+v; want the not-ready pod's target drained", drains)
	}
}

func gateTrue(t *testing.T, c client.Client, name string) bool {
	t.Helper()
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return targets.ConditionTrue(p, corev1.PodConditionType(v1alpha1.GateConditionType("web")))
}

func TestTargetBindingReconciler_doesNotPutBackATargetWhosePodIsTerminating(t *testing.T) {
	gate := corev1.PodCondition{Type: corev1.PodConditionType(v1alpha1.GateConditionType("web")), Status: corev1.ConditionTrue}
	cached := gatedPod("a", "10.0.0.1", gate) // the cache has not seen the deletion yet
	f := newReconcilerFixture(t, cached)
	live := cached.DeepCopy()
	now := metav1.Now()
	live.DeletionTimestamp, live.Finalizers = &now, []string{"test/hold"}
	scheme := f.c.Scheme()
	f.r.APIReader = clientfake.NewClientBuilder().WithScheme(scheme).WithObjects(live).Build()
	tg := loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.1:8080"), Owner: f.owner(),
		Settings: checkSettings(&v1alpha1.TargetBinding{}).Tag()}
	if err := f.lb.Register(context.Background(), "be", loadbalancer.CheckSettings{}, tg); err != nil {
		t.Fatal(err)
	}
	if err := f.lb.SetState("be", tg, loadbalancer.StateDraining); err != nil { // drained by the drain endpoint
		t.Fatal(err)
	}
	f.lb.ResetCalls()
	f.reconcile()
	if regs := f.lb.CallsTo(fake.MethodRegister); len(regs) != 0 {
		t.Errorf("Register calls %+v: a target the drain endpoint drained was put back in service while its pod terminates", regs)
	}
	f.r.APIReader = clientfake.NewClientBuilder().WithScheme(scheme).WithObjects(cached.DeepCopy()).Build() // not terminating after all
	f.reconcile()
	if regs := f.lb.CallsTo(fake.MethodRegister); len(regs) != 1 {
		t.Errorf("Register calls %+v: a serving pod's draining target is put back in service", regs)
	}
}

// TestTargetBindingReconciler_listsOnlyItsOwnPods covers listPods' narrowed
// lists: a pod the Service selects is registered, a pod that carries the
// binding's gate but is no longer selected (relabelled) has its gate
// released, and a pod of the namespace that is neither is not registered.
func TestTargetBindingReconciler_listsOnlyItsOwnPods(t *testing.T) {
	relabelled := gatedPod("moved", "10.0.0.2")
	relabelled.Labels = map[string]string{"app": "other"}
	stranger := gatedPod("stranger", "10.0.0.3")
	stranger.Labels, stranger.Spec.ReadinessGates = map[string]string{"app": "other"}, nil
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1"), relabelled, stranger)
	f.reconcile()
	regs := f.lb.CallsTo(fake.MethodRegister)
	if len(regs) != 1 || len(regs[0].Targets) != 1 || regs[0].Targets[0].Address != netip.MustParseAddrPort("10.0.0.1:8080") {
		t.Fatalf("Register calls %+v; want one of 10.0.0.1:8080 only", regs)
	}
	if !gateTrue(t, f.c, "moved") {
		t.Error("the gate of a pod the Service no longer selects is still due")
	}
	if gateTrue(t, f.c, "a") {
		t.Error("gate True while the target is Initial")
	}
}

func TestPodGateBindings(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{
		{ConditionType: corev1.PodConditionType(v1alpha1.GateConditionType("web"))},
		{ConditionType: "example.com/other"},
		{ConditionType: corev1.PodConditionType(v1alpha1.GateConditionType("api"))},
	}}}
	if got, want := podGateBindings(pod), []string{"web", "api"}; !slices.Equal(got, want) {
		t.Errorf("podGateBindings = %v, want %v", got, want)
	}
}
