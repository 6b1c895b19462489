package controller

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

func twoInstances() []NamedInstance { return []NamedInstance{{Name: "a"}, {Name: "b"}} }

func TestHealthyEverywhere(t *testing.T) {
	tests := []struct {
		name     string
		observed map[string]loadbalancer.BackendStatus
		want     map[netip.AddrPort]bool
	}{
		{name: "healthy on both instances counts",
			observed: map[string]loadbalancer.BackendStatus{
				"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}},
				"b": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}}},
			want: map[netip.AddrPort]bool{addrA: true}},
		{name: "healthy on one instance only does not count",
			observed: map[string]loadbalancer.BackendStatus{
				"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}},
				"b": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateInitial, 0)}}},
			want: map[netip.AddrPort]bool{}},
		{name: "an instance that did not answer makes nothing healthy",
			observed: map[string]loadbalancer.BackendStatus{
				"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}}},
			want: map[netip.AddrPort]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HealthyEverywhere(twoInstances(), tt.observed)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for a := range tt.want {
				if !got[a] {
					t.Errorf("missing %v in %v", a, got)
				}
			}
		})
	}
}

func TestCountTargets(t *testing.T) {
	addrC := netip.MustParseAddrPort("127.1.0.3:8080")
	desired := map[netip.AddrPort]*corev1.Pod{addrA: {}, addrB: {}}
	observed := map[string]loadbalancer.BackendStatus{
		"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0), ts(addrB, loadbalancer.StateUnhealthy, 0), ts(addrC, loadbalancer.StateDraining, 1)}},
		"b": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0), ts(addrB, loadbalancer.StateHealthy, 0)}},
	}
	got := CountTargets(desired, twoInstances(), observed)
	want := v1alpha1.TargetCounts{Desired: 2, Healthy: 1, Unhealthy: 1, Draining: 1}
	if got != want {
		t.Errorf("CountTargets = %+v, want %+v", got, want)
	}
}

func TestGateDue(t *testing.T) {
	gate := v1alpha1.GateConditionType("web")
	withGate := corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate)}}}
	tests := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"pod without the gate is never due", corev1.Pod{}, false},
		{"pod with the gate and no condition is due", corev1.Pod{Spec: withGate}, true},
		{"pod whose gate is already True is not due", corev1.Pod{Spec: withGate, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodConditionType(gate), Status: corev1.ConditionTrue}}}}, false},
		{"pod whose gate is False is due", corev1.Pod{Spec: withGate, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodConditionType(gate), Status: corev1.ConditionFalse}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GateDue(&tt.pod, gate); got != tt.want {
				t.Errorf("GateDue = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWantsTarget(t *testing.T) {
	now := metav1.Now()
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	tests := []struct {
		name string
		pod  corev1.Pod
		gate bool
		want bool
	}{
		{"gated pod with an IP is pre-registered before it is Ready", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1"}}, true, true},
		{"pod without an IP is not a target", corev1.Pod{}, true, false},
		{"terminating pod is not a target", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{PodIP: "127.1.0.1"}}, true, false},
		{"finished pod is not a target", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1", Phase: corev1.PodSucceeded}}, true, false},
		{"plain sync waits for Ready", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1"}}, false, false},
		{"plain sync registers a Ready pod", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1", Conditions: ready}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WantsTarget(&tt.pod, tt.gate); got != tt.want {
				t.Errorf("WantsTarget = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPodAddress(t *testing.T) {
	pod := &corev1.Pod{
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{PodIP: "127.1.0.9"},
	}
	tests := []struct {
		name   string
		sp     corev1.ServicePort
		want   string
		wantOK bool
	}{
		{"named target port resolves through the container ports", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, "127.1.0.9:8080", true},
		{"numeric target port is used as it is", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090)}, "127.1.0.9:9090", true},
		{"unset target port means the service port", corev1.ServicePort{Port: 80}, "127.1.0.9:80", true},
		{"unknown port name does not resolve", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("grpc")}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PodAddress(pod, &tt.sp)
			if ok != tt.wantOK || (ok && got.String() != tt.want) {
				t.Errorf("PodAddress = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
