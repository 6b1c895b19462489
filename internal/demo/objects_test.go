package demo

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/controller"
)

// TestLoadBalancer_grantsEachModeItsOwnBackend: the demo's LoadBalancer
// admits every mode's binding (LoadBalancers admit nobody by default) and
// no mode's namespace may bind another mode's backend.
func TestLoadBalancer_grantsEachModeItsOwnBackend(t *testing.T) {
	for _, provider := range []string{ProviderHAProxy, ProviderELBv2} {
		s, err := DefaultScenarioFor(provider)
		if err != nil {
			t.Fatal(err)
		}
		spec := haproxyLoadBalancer("/run/haproxy.sock")
		if provider == ProviderELBv2 {
			spec = v1alpha1.LoadBalancerSpec{ELBv2: &v1alpha1.ELBv2LoadBalancer{Region: "us-east-1"}}
		}
		grantsEachModeItsOwnBackend(t, s, loadBalancer(spec, s.Modes()))
	}
}

func grantsEachModeItsOwnBackend(t *testing.T, s *Scenario, lb *v1alpha1.LoadBalancer) {
	for _, m := range s.Modes() {
		b := buildBinding(m, s)
		if err := lb.Spec.ValidateBackend(b.Spec.Backend); err != nil {
			t.Errorf("mode %s: %v", m, err)
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.Namespace}}
		if ok, reason, msg := controller.Allowed(lb, ns, b.Spec.Backend); !ok {
			t.Errorf("mode %s: binding not admitted: %s: %s", m, reason, msg)
		}
		for _, other := range s.Modes() {
			if other == m {
				continue
			}
			if ok, _, _ := controller.Allowed(lb, ns, other.Backend()); ok {
				t.Errorf("namespace %s may bind mode %s's backend %s", ns.Name, other, other.Backend())
			}
		}
	}
}
