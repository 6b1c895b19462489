package targets

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

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

func TestWanted(t *testing.T) {
	now := metav1.Now()
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	gateType := v1alpha1.GateConditionType("web")
	gateTrue := []corev1.PodCondition{{Type: corev1.PodConditionType(gateType), Status: corev1.ConditionTrue}}
	notReady := []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}}
	containersReady := []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}
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
		{"gated pod whose containers are not ready yet stays pre-registered", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1", Conditions: notReady}}, true, true},
		{"pod in service whose containers turn not ready leaves the load balancer", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1", Conditions: append(gateTrue, notReady...)}}, true, false},
		{"pod in service whose containers are ready again is wanted again", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1", Conditions: append(gateTrue, containersReady...)}}, true, true},
		{"pod in service with no ContainersReady condition stays", corev1.Pod{Status: corev1.PodStatus{PodIP: "127.1.0.1", Conditions: gateTrue}}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Wanted(&tt.pod, tt.gate, gateType); got != tt.want {
				t.Errorf("Wanted = %v, want %v", got, tt.want)
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

func TestPodTargetPort_nativeSidecar(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "setup", Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 1}}},
			{Name: "envoy", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001}}},
		},
		Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
	}}
	got, ok := PodTargetPort(pod, &corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("proxy")})
	if !ok || got != 15001 {
		t.Errorf("PodTargetPort = %d, %v; want the native sidecar's 15001 (not the plain init container's)", got, ok)
	}
}

func TestSelection_Selects(t *testing.T) {
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}}
	tests := []struct {
		name string
		svc  corev1.Service
		want bool
	}{
		{"matching selector selects", corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}, true},
		{"other selector does not", corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"}}}, false},
		{"a Service without selector selects nothing", corev1.Service{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.svc.Spec.Ports = []corev1.ServicePort{{Port: 80}}
			sel, err := Resolve(&tt.svc, v1alpha1.ServiceReference{Port: intstr.FromInt32(80)})
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Selects(web); got != tt.want {
				t.Errorf("Selects = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := Resolve(&corev1.Service{}, v1alpha1.ServiceReference{Port: intstr.FromString("http")}); err == nil {
		t.Error("Resolve of a missing port: no error")
	}
	if (Selection{}).Selects(web) {
		t.Error("the zero Selection selects a pod")
	}
}

func TestOwner(t *testing.T) {
	a, b := Owner("cluster-a", "uid-1"), Owner("cluster-b", "uid-1")
	if a == b || a != Owner("cluster-a", "uid-1") {
		t.Errorf("Owner is not a stable function of cluster and binding: %q %q", a, b)
	}
	if !ValidOwner(a) || ValidOwner("xyz") || ValidOwner("0123456789A") {
		t.Errorf("ValidOwner disagrees with Owner's shape (%q)", a)
	}
}
