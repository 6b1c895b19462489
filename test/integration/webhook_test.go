package integration

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// noLoadBalancer fails every connection: for tests that need none.
func noLoadBalancer(v1alpha1.LoadBalancerSpec, string) (loadbalancer.Instance, error) {
	return nil, errors.New("no load balancer in this test")
}

func service(ns, name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

func binding(ns, name, svc, lb string, mut ...func(*v1alpha1.TargetBinding)) *v1alpha1.TargetBinding {
	b := &v1alpha1.TargetBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.TargetBindingSpec{
			ServiceRef:      v1alpha1.ServiceReference{Name: svc, Port: intstr.FromString("http")},
			LoadBalancerRef: lb,
			Backend:         "web",
		},
	}
	for _, m := range mut {
		m(b)
	}
	return b
}

func pod(ns, name string, labels map[string]string, port int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}},
		}}},
	}
}

func hasGate(p *corev1.Pod, binding string) bool {
	for _, g := range p.Spec.ReadinessGates {
		if string(g.ConditionType) == v1alpha1.GateConditionType(binding) {
			return true
		}
	}
	return false
}

// TestWebhook_InjectsGateOnlyWhereABindingSelectsThePod proves the webhook,
// called by the real API server, gives the gate to pods a gate-enabled
// binding selects in labelled namespaces, and to no other pod.
func TestWebhook_InjectsGateOnlyWhereABindingSelectsThePod(t *testing.T) {
	e := startEnv(t, noLoadBalancer)
	ctx := context.Background()
	e.namespace("on", true)
	e.namespace("off", false)
	for _, ns := range []string{"on", "off"} {
		mustCreate(t, e, service(ns, "web", map[string]string{"app": "web"}))
		mustCreate(t, e, binding(ns, "web", "web", "edge"))
		mustCreate(t, e, service(ns, "plain", map[string]string{"app": "plain"}))
		mustCreate(t, e, binding(ns, "plain", "plain", "edge", func(b *v1alpha1.TargetBinding) {
			off := false
			b.Spec.ReadinessGate = &off
		}))
	}
	cases := []struct {
		name, ns, pod string
		labels        map[string]string
		want          []string
	}{
		{"selected pod in a labelled namespace gets the gate", "on", "a", map[string]string{"app": "web"}, []string{"web"}},
		{"pod no binding selects gets no gate", "on", "b", map[string]string{"app": "other"}, nil},
		{"pod selected by a binding with the gate off gets no gate", "on", "c", map[string]string{"app": "plain"}, nil},
		{"selected pod in an unlabelled namespace gets no gate", "off", "d", map[string]string{"app": "web"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod(tc.ns, tc.pod, tc.labels, 8080)
			if err := e.c.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			if got := len(p.Spec.ReadinessGates); got != len(tc.want) {
				t.Fatalf("pod has %d gates %v, want %v", got, p.Spec.ReadinessGates, tc.want)
			}
			for _, b := range tc.want {
				if !hasGate(p, b) {
					t.Errorf("pod lacks gate of binding %s: %v", b, p.Spec.ReadinessGates)
				}
			}
		})
	}
}

func mustCreate(t testing.TB, e *env, o client.Object) {
	t.Helper()
	if err := e.c.Create(context.Background(), o); err != nil {
		t.Fatalf("creating %s: %v", o.GetName(), err)
	}
}

// TestWebhook_InjectsDrainWaitTheAPIServerAccepts proves the drain-wait
// injection produces a pod the real API server accepts: init container,
// projected token volume, preStop, raised grace period, and that the
// admission warning reaches the client.
func TestWebhook_InjectsDrainWaitTheAPIServerAccepts(t *testing.T) {
	e := startEnv(t, noLoadBalancer, func(o *manager.Options) {
		o.Drain = webhook.DrainInjection{Image: "zerodrop:test", BinaryInImage: "/zerodrop", Endpoint: "https://127.0.0.1:1/v1/drained"}
	})
	e.namespace("drainwait", true)
	mustCreate(t, e, service("drainwait", "web", map[string]string{"app": "web"}))
	mustCreate(t, e, binding("drainwait", "web", "web", "edge"))
	p := pod("drainwait", "a", map[string]string{"app": "web"}, 8080)
	if err := e.c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	pre := p.Spec.Containers[0].Lifecycle
	if pre == nil || pre.PreStop == nil || pre.PreStop.Exec == nil || pre.PreStop.Exec.Command[1] != "wait-drained" {
		t.Fatalf("preStop = %+v", pre)
	}
	if len(p.Spec.InitContainers) != 1 || p.Spec.InitContainers[0].Name != webhook.InitContainer {
		t.Errorf("init containers = %+v", p.Spec.InitContainers)
	}
	// 2s × 2 + 30s drain + 10s shutdown budget
	if g := p.Spec.TerminationGracePeriodSeconds; g == nil || *g != 44 {
		t.Errorf("grace = %v, want 44", g)
	}
	if p.Annotations[v1alpha1.AnnotationOriginalGracePeriod] != "30" {
		t.Errorf("annotations = %v", p.Annotations)
	}
}
