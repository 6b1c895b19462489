package status

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/controller"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
)

var now = time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)

func at(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(d)) }

func binding(mods ...func(*v1alpha1.TargetBinding)) v1alpha1.TargetBinding {
	b := v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1alpha1.TargetBindingSpec{LoadBalancerRef: "edge", Backend: "web",
			HealthCheck: v1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: 100 * time.Millisecond}, HealthyThreshold: 2, UnhealthyThreshold: 3},
			Drain:       v1alpha1.Drain{Timeout: &metav1.Duration{Duration: 20 * time.Second}}}}
	for _, m := range mods {
		m(&b)
	}
	return b
}

func gatedPod(name string, conds ...corev1.PodCondition) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: at(-time.Minute)},
		Spec:   corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(v1alpha1.GateConditionType("web"))}}},
		Status: corev1.PodStatus{Conditions: conds}}
}

func terminating(p corev1.Pod, graceLeft time.Duration) corev1.Pod {
	dt := at(graceLeft)
	p.DeletionTimestamp = &dt
	return p
}

func cond(t string, s corev1.ConditionStatus, reason, msg string, since time.Duration) corev1.PodCondition {
	return corev1.PodCondition{Type: corev1.PodConditionType(t), Status: s, Reason: reason, Message: msg, LastTransitionTime: at(since)}
}

// pendingMessage is what the controller writes on a pending gate.
func pendingMessage() string {
	addr := netip.MustParseAddrPort("127.0.0.1:8080")
	tg := loadbalancer.TargetStatus{Target: loadbalancer.Target{Address: addr}, State: loadbalancer.StateInitial}
	return controller.PendingMessage(addr, []pool.NamedInstance{{Name: "i0"}, {Name: "i1"}},
		map[string]loadbalancer.BackendStatus{"i0": {Targets: []loadbalancer.TargetStatus{tg}}}, "")
}

func TestParseInstanceStates(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      []InstanceState
	}{
		{"pending gate", pendingMessage(), []InstanceState{{"i0", "Initial (health checks have not passed yet)"}, {"i1", "unreachable"}}},
		{"drain", "i0: Draining, 3 sessions; i1: Removed", []InstanceState{{"i0", "Draining, 3 sessions"}, {"i1", "Removed"}}},
		{"another shape", "every load-balancer instance reports the target healthy", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseInstanceStates(tc.msg)
			if len(got) != len(tc.want) {
				t.Fatalf("ParseInstanceStates(%q) = %v; want %v", tc.msg, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("ParseInstanceStates(%q)[%d] = %v; want %v", tc.msg, i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestBuild(t *testing.T) {
	gateType, drainType := v1alpha1.GateConditionType("web"), v1alpha1.DrainConditionType("web")
	d := func(x time.Duration) *metav1.Duration { return &metav1.Duration{Duration: x} }
	for _, tc := range []struct {
		name string
		b    v1alpha1.TargetBinding
		pod  corev1.Pod
		want *PodReport // nil: not listed
	}{
		{"pending gate: each instance's state, since, the check", binding(),
			gatedPod("a", cond(gateType, corev1.ConditionFalse, "TargetNotHealthy", pendingMessage(), -12*time.Second)),
			&PodReport{State: StateGatePending, Reason: "TargetNotHealthy", Since: ptr(at(-12 * time.Second)),
				Instances: []InstanceState{{"i0", "Initial (health checks have not passed yet)"}, {"i1", "unreachable"}},
				Check:     &HealthCheck{Interval: metav1.Duration{Duration: 100 * time.Millisecond}, HealthyThreshold: 2, UnhealthyThreshold: 3}}},
		{"gate without a condition yet: since the pod's creation", binding(), gatedPod("a"),
			&PodReport{State: StateGatePending, Since: ptr(at(-time.Minute)),
				Check: &HealthCheck{Interval: metav1.Duration{Duration: 100 * time.Millisecond}, HealthyThreshold: 2, UnhealthyThreshold: 3}}},
		{"in service: not listed", binding(), gatedPod("a", cond(gateType, corev1.ConditionTrue, "TargetHealthy", "", -time.Hour)), nil},
		{"gate off: not listed", binding(func(b *v1alpha1.TargetBinding) { f := false; b.Spec.ReadinessGate = &f }), gatedPod("a"), nil},
		{"another binding's pod: not listed", binding(func(b *v1alpha1.TargetBinding) { b.Name = "api" }), gatedPod("a"), nil},
		{"draining: sessions, grace and drain timeout left", binding(),
			terminating(gatedPod("a", cond(drainType, corev1.ConditionFalse, v1alpha1.ReasonDraining, "i0: Draining, 1 sessions; i1: Removed", -5*time.Second)), 25*time.Second),
			&PodReport{State: StateDraining, Reason: v1alpha1.ReasonDraining, Since: ptr(at(-5 * time.Second)),
				Instances:   []InstanceState{{"i0", "Draining, 1 sessions"}, {"i1", "Removed"}},
				GraceEndsIn: d(25 * time.Second), DrainTimeoutIn: d(15 * time.Second)}},
		{"drained: no timeout left to count", binding(),
			terminating(gatedPod("a", cond(drainType, corev1.ConditionTrue, v1alpha1.ReasonDrained, "i0: Removed", -time.Second)), -2*time.Second),
			&PodReport{State: StateDrained, Reason: v1alpha1.ReasonDrained, Since: ptr(at(-time.Second)),
				Instances: []InstanceState{{"i0", "Removed"}}, GraceEndsIn: d(-2 * time.Second)}},
		{"terminating, not reported yet", binding(), terminating(gatedPod("a"), 30*time.Second),
			&PodReport{State: StateTerminating, GraceEndsIn: d(30 * time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(Input{Bindings: []v1alpha1.TargetBinding{tc.b}, Pods: []corev1.Pod{tc.pod}}, now)
			if tc.want == nil {
				if len(r.Pods) != 0 {
					t.Fatalf("pods %+v; want none", r.Pods)
				}
				return
			}
			if len(r.Pods) != 1 {
				t.Fatalf("pods %+v; want one", r.Pods)
			}
			got := r.Pods[0]
			got.Message = "" // compared through Instances
			want := *tc.want
			want.Namespace, want.Name, want.Binding = "shop", "a", tc.b.Name
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) {
				t.Errorf("pod report\n got %s\nwant %s", gj, wj)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestBuild_loadBalancersAndFindings(t *testing.T) {
	b := binding(func(b *v1alpha1.TargetBinding) {
		b.Status.PodsMissingGate = []v1alpha1.PodReference{{Name: "old-1"}}
		b.Status.PodsMissingGateCount = 3
		b.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonNamespaceNotAllowed, Message: "no grant admits namespace shop", LastTransitionTime: at(-time.Minute)}}
	})
	other := binding(func(b *v1alpha1.TargetBinding) { b.Name, b.Spec.LoadBalancerRef = "api", "gone" })
	lb := v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "edge"}, Status: v1alpha1.LoadBalancerStatus{Provider: v1alpha1.ProviderHAProxy,
		Instances: []v1alpha1.InstanceStatus{{Name: "i0", Reachable: true}, {Name: "i1", Message: "dial unix /run/i1.sock: connect: no such file or directory"}},
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonInstanceUnreachable,
			Message: "unreachable: [i1]", LastTransitionTime: at(-40 * time.Second)}}}}
	r := Build(Input{Bindings: []v1alpha1.TargetBinding{b, other}, LoadBalancers: []v1alpha1.LoadBalancer{lb}}, now)
	if len(r.LoadBalancers) != 2 || r.LoadBalancers[0].Name != "edge" || !r.LoadBalancers[0].Found || r.LoadBalancers[1].Name != "gone" || r.LoadBalancers[1].Found {
		t.Fatalf("load balancers %+v; want edge (found) and gone (not found)", r.LoadBalancers)
	}
	if r.Bindings[0].Name != "api" || r.Bindings[1].PodsMissingGateCount != 3 || r.Bindings[1].Accepted.Reason != v1alpha1.ReasonNamespaceNotAllowed {
		t.Fatalf("bindings %+v", r.Bindings)
	}
	var out bytes.Buffer
	if err := Render(&out, r, FormatTable); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"i1        NO         40s    dial unix /run/i1.sock: connect: no such file or directory",
		"gone          -         -         -          -      not found",
		"shop/web: grant refused (NamespaceNotAllowed): no grant admits namespace shop",
		"shop/web: 3 pods missing the readiness gate (created before the binding or while the webhook was down; roll the workload): old-1 and 2 more",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRender(t *testing.T) {
	drainType := v1alpha1.DrainConditionType("web")
	r := Build(Input{Bindings: []v1alpha1.TargetBinding{binding()}, Pods: []corev1.Pod{
		terminating(gatedPod("a", cond(drainType, corev1.ConditionFalse, v1alpha1.ReasonDraining, "i0: Draining, 1 sessions; i1: Removed", -5*time.Second)), 25*time.Second),
	}}, now)
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, out []byte)
	}{
		{FormatTable, func(t *testing.T, out []byte) {
			for _, want := range []string{
				"shop/a  web      Draining  5s     i0        Draining, 1 sessions  grace ends in 25s, drain timeout in 15s",
				"                                  i1        Removed",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
		}},
		{FormatJSON, func(t *testing.T, out []byte) {
			var back Report
			if err := json.Unmarshal(out, &back); err != nil || back.APIVersion != APIVersion || back.Kind != Kind || back.Pods[0].DrainTimeoutIn.Duration != 15*time.Second {
				t.Errorf("JSON does not read back (%v): %s", err, out)
			}
		}},
		{FormatYAML, func(t *testing.T, out []byte) {
			var back Report
			if err := yaml.UnmarshalStrict(out, &back); err != nil || back.Pods[0].Instances[0].State != "Draining, 1 sessions" {
				t.Errorf("YAML does not read back (%v): %s", err, out)
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var out bytes.Buffer
			if err := Render(&out, r, tc.format); err != nil {
				t.Fatal(err)
			}
			tc.check(t, out.Bytes())
		})
	}
	if err := Render(&bytes.Buffer{}, r, "xml"); err == nil || !strings.Contains(err.Error(), "table, json, yaml") {
		t.Errorf("unknown format: err %v; want one naming the formats", err)
	}
}

func TestBuild_podScopeKeepsOnlyTheBindingsOfThePod(t *testing.T) {
	api := binding(func(b *v1alpha1.TargetBinding) { b.Name = "api" })
	reported := binding(func(b *v1alpha1.TargetBinding) {
		b.Name = "old"
		b.Status.PodsMissingGate = []v1alpha1.PodReference{{Name: "a"}}
	})
	in := Input{Scope: Scope{Namespace: "shop", Pod: "a"}, Bindings: []v1alpha1.TargetBinding{binding(), api, reported}, Pods: []corev1.Pod{gatedPod("a")}}
	r := Build(in, now)
	if len(r.Bindings) != 2 || r.Bindings[0].Name != "old" || r.Bindings[1].Name != "web" {
		t.Errorf("bindings %+v; want old (lists the pod) and web (gates it), not api", r.Bindings)
	}
	in.Bindings = []v1alpha1.TargetBinding{api}
	var out bytes.Buffer
	if err := Render(&out, Build(in, now), FormatTable); err != nil || !strings.Contains(out.String(), "Pod a: no TargetBinding gates, drains or reports it.") {
		t.Errorf("table for a pod no binding concerns (%v):\n%s", err, out.String())
	}
}
