package demo

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/internal/controller"
)

// TestLoadBalancer_grantsEachModeItsOwnBackend: the demo's LoadBalancer
// admits every mode's binding (LoadBalancers admit nobody by default) and
// no mode's namespace may bind another mode's backend.
func TestLoadBalancer_grantsEachModeItsOwnBackend(t *testing.T) {
	s, err := DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	lb := loadBalancer("/run/haproxy.sock")
	for _, m := range Modes() {
		b := buildBinding(m, s)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.Namespace}}
		if ok, reason, msg := controller.Allowed(lb, ns, b.Spec.Backend); !ok {
			t.Errorf("mode %s: binding not admitted: %s: %s", m, reason, msg)
		}
		for _, other := range Modes() {
			if other == m {
				continue
			}
			if ok, _, _ := controller.Allowed(lb, ns, other.Backend()); ok {
				t.Errorf("namespace %s may bind mode %s's backend %s", ns.Name, other, other.Backend())
			}
		}
	}
}
