package controller

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/fake"
)

// elbv2Caps are the capabilities of the ELBv2 provider: no session counts,
// group-level checks, no owner tags, can observe.
var elbv2Caps = loadbalancer.Capabilities{Observe: true}

// asELBv2 turns the fixture's LoadBalancer into an ELBv2 one and its fake
// instance into one with ELBv2's capabilities.
func (f *reconcilerFixture) asELBv2() {
	f.t.Helper()
	lb := &v1alpha1.LoadBalancer{}
	if err := f.c.Get(context.Background(), types.NamespacedName{Name: "edge"}, lb); err != nil {
		f.t.Fatal(err)
	}
	lb.Spec.HAProxy, lb.Spec.ELBv2 = nil, &v1alpha1.ELBv2LoadBalancer{Region: "eu-west-1"}
	if err := f.c.Update(context.Background(), lb); err != nil {
		f.t.Fatal(err)
	}
	f.lb.SetCapabilities(elbv2Caps)
}

func (f *reconcilerFixture) binding() *v1alpha1.TargetBinding {
	f.t.Helper()
	b := &v1alpha1.TargetBinding{}
	if err := f.c.Get(context.Background(), f.key, b); err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *reconcilerFixture) setMode(m v1alpha1.BindingMode) {
	f.t.Helper()
	b := f.binding()
	b.Spec.Mode = m
	if err := f.c.Update(context.Background(), b); err != nil {
		f.t.Fatal(err)
	}
}

func (f *reconcilerFixture) noChanges(what string) {
	f.t.Helper()
	for _, m := range []string{fake.MethodRegister, fake.MethodDrain, fake.MethodRemove} {
		if calls := f.lb.CallsTo(m); len(calls) != 0 {
			f.t.Errorf("%s: %s calls %+v; want none", what, m, calls)
		}
	}
}

var podAddr = netip.MustParseAddrPort("10.0.0.1:8080")

func TestTargetBindingReconciler_withoutSessionCountsTheLoadBalancerEndsTheDrain(t *testing.T) {
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1"))
	f.asELBv2()
	f.reconcile()
	regs := f.lb.CallsTo(fake.MethodRegister)
	if len(regs) != 1 || regs[0].Targets[0].Settings != "" {
		t.Fatalf("Register calls %+v; want one, with no settings tag (the target group's checks apply)", regs)
	}
	tg := loadbalancer.Target{Address: podAddr}
	if err := f.lb.SetState("be", tg, loadbalancer.StateHealthy); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	if !gateTrue(t, f.c, "a") {
		t.Fatal("gate not True once the target group reports the target healthy")
	}
	// The Service stops selecting the pod: the target is deregistered once,
	// then left to the load balancer's own delay, never removed early and
	// never timed out.
	if err := f.c.Delete(context.Background(), gatedPod("a", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	f.lb.ResetCalls()
	f.r.Now = time.Now
	f.reconcile()
	if d := f.lb.CallsTo(fake.MethodDrain); len(d) != 1 {
		t.Fatalf("Drain calls %+v; want one deregistration", d)
	}
	f.lb.ResetCalls()
	f.r.Now = func() time.Time { return time.Now().Add(time.Hour) } // far past drain.timeout
	f.reconcile()
	f.noChanges("a draining target of a provider without session counts, past drain.timeout")
	if err := f.lb.SetState("be", tg, loadbalancer.StateAbsent); err != nil { // the delay ended
		t.Fatal(err)
	}
	f.reconcile()
	f.noChanges("after the load balancer let the target go")
}

func TestTargetBindingReconciler_observeNeverChangesTheLoadBalancer(t *testing.T) {
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1"))
	f.asELBv2()
	f.setMode(v1alpha1.ModeObserve)
	stray := loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.7:8080")} // registered by someone else, no pod here
	for _, tg := range []loadbalancer.Target{{Address: podAddr}, stray} {
		if err := f.lb.Register(context.Background(), "be", loadbalancer.CheckSettings{}, tg); err != nil {
			t.Fatal(err)
		}
	}
	f.lb.ResetCalls()
	f.reconcile()
	f.noChanges("observe, target initial")
	if gateTrue(t, f.c, "a") {
		t.Fatal("gate True while the target is initial")
	}
	if err := f.lb.SetState("be", loadbalancer.Target{Address: podAddr}, loadbalancer.StateHealthy); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	f.noChanges("observe, target healthy")
	if !gateTrue(t, f.c, "a") {
		t.Error("gate not True once the observed target is healthy")
	}
}

func TestTargetBindingReconciler_observeIsRefusedWhereTheProviderCannot(t *testing.T) {
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1")) // HAProxy: lists only zerodrop's servers
	f.setMode(v1alpha1.ModeObserve)
	f.reconcile()
	f.noChanges("observe refused")
	c := meta.FindStatusCondition(f.binding().Status.Conditions, v1alpha1.ConditionAccepted)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonModeUnsupported || !strings.Contains(c.Message, "spec.mode") {
		t.Errorf("Accepted = %+v; want False/%s naming spec.mode", c, v1alpha1.ReasonModeUnsupported)
	}
}

func TestTargetBindingReconciler_refusesABackendTheProviderCannotHave(t *testing.T) {
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1"))
	f.asELBv2()
	b := f.binding()
	// A binding's backend is immutable in the API server; the fake client
	// does not enforce it, which lets one fixture try it.
	b.Spec.Backend = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
	if err := f.c.Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	f.noChanges("backend of another region")
	c := meta.FindStatusCondition(f.binding().Status.Conditions, v1alpha1.ConditionAccepted)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonInvalidBackend ||
		!strings.Contains(c.Message, "spec.backend") || !strings.Contains(c.Message, "us-east-1") {
		t.Errorf("Accepted = %+v; want False/%s naming spec.backend and the ARN's region", c, v1alpha1.ReasonInvalidBackend)
	}
}

func TestTargetBindingReconciler_withoutOwnerTagsABackendHasOneManager(t *testing.T) {
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1"))
	f.asELBv2()
	// Created at the same instant as shop/web (the fake client keeps the
	// zero time): the tie goes to the first by namespace/name.
	older := &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "first", UID: "older-uid"}, Spec: v1alpha1.TargetBindingSpec{
		ServiceRef: v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("http")}, LoadBalancerRef: "edge", Backend: "be"}}
	if err := f.c.Create(context.Background(), older); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	f.noChanges("a second binding managing a backend without owner tags")
	c := meta.FindStatusCondition(f.binding().Status.Conditions, v1alpha1.ConditionConflictFree)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonBackendShared || !strings.Contains(c.Message, "other/first") {
		t.Errorf("ConflictFree = %+v; want False/%s naming other/first", c, v1alpha1.ReasonBackendShared)
	}
}

// eventRecorder keeps the reasons and messages of the events it gets.
type eventRecorder struct{ events []string }

func (e *eventRecorder) Eventf(_ runtime.Object, _ runtime.Object, eventtype, reason, _ string, note string, args ...any) {
	e.events = append(e.events, eventtype+" "+reason+": "+fmt.Sprintf(note, args...))
}

func TestTargetBindingReconciler_reportsTheAWSControllersGate(t *testing.T) {
	pod := gatedPod("a", "10.0.0.1")
	pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: AWSControllerGatePrefix + "web-tgb"})
	for _, mode := range []v1alpha1.BindingMode{v1alpha1.ModeManage, v1alpha1.ModeObserve} {
		f := newReconcilerFixture(t, pod.DeepCopy())
		f.asELBv2()
		f.setMode(mode)
		rec := &eventRecorder{}
		f.r.Recorder = rec
		f.reconcile()
		f.reconcile()
		var got []string
		for _, e := range rec.events {
			if strings.Contains(e, EventAWSControllerGate) {
				got = append(got, e)
			}
		}
		want := "Warning"
		if mode == v1alpha1.ModeObserve {
			want = "Normal"
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], "target-health.elbv2.k8s.aws/web-tgb") {
			t.Errorf("mode %s: events %q; want one %s event naming the AWS controller's gate", mode, got, want)
		}
	}
}

func TestTargetBindingReconciler_misconfiguredTargetsAreReportedAndNeverReady(t *testing.T) {
	f := newReconcilerFixture(t, gatedPod("a", "10.0.0.1"))
	f.asELBv2()
	f.reconcile()
	if err := f.lb.SetState("be", loadbalancer.Target{Address: podAddr}, loadbalancer.StateMisconfigured); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	if gateTrue(t, f.c, "a") {
		t.Error("gate True for a target the load balancer cannot send traffic to")
	}
	c := meta.FindStatusCondition(f.binding().Status.Conditions, v1alpha1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonTargetsMisconfigured || !strings.Contains(c.Message, podAddr.String()) {
		t.Errorf("Ready = %+v; want False/%s naming %s", c, v1alpha1.ReasonTargetsMisconfigured, podAddr)
	}
}
