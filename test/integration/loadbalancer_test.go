package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"k8s.io/client-go/util/retry"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

// TestLoadBalancer_removeDelayIsConfigurable proves that spec.removeDelay
// reaches the HAProxy instances: with 10m a removed target stays in
// maintenance (no traffic, not deleted), and changing it to 0s makes the
// controller delete it.
func TestLoadBalancer_removeDelayIsConfigurable(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "delay", "/healthz")
	setRemoveDelay(t, e, f.lbName, 10*time.Minute)
	old, next := startTarget(t, "127.44.30.1"), startTarget(t, "127.44.30.2")
	old.SetHealthy(true)
	next.SetHealthy(true)
	po := f.startPod(t, old)
	f.waitGate(t, po.Name)
	pn := f.startPod(t, next)
	f.waitGate(t, pn.Name)
	if err := e.c.Delete(context.Background(), po); err != nil {
		t.Fatal(err)
	}
	f.waitState(t, 0, old, loadbalancer.StateMaintenance)
	time.Sleep(2 * time.Second) // many passes: with a 10m delay it stays parked
	if st := f.state(t, 0, old).State; st != loadbalancer.StateMaintenance {
		t.Fatalf("with removeDelay 10m the removed target is %s; want Maintenance", st)
	}
	setRemoveDelay(t, e, f.lbName, 0)
	f.waitState(t, 0, old, loadbalancer.StateAbsent)
}

func setRemoveDelay(t *testing.T, e *env, lbName string, d time.Duration) {
	t.Helper()
	// The controller writes the LoadBalancer too (its finalizer): read
	// and write again on a conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lb := &v1alpha1.LoadBalancer{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Name: lbName}, lb); err != nil {
			return err
		}
		lb.Spec.HAProxy.RemoveDelay = &metav1.Duration{Duration: d}
		return e.c.Update(context.Background(), lb)
	})
	if err != nil {
		t.Fatalf("setting removeDelay %s: %v", d, err)
	}
}

// TestLoadBalancer_warnsAboutARuntimeAPIOnTCP proves that an instance
// managed over TCP (admin level, no authentication) is named in the
// LoadBalancer's RuntimeAPIPrivate=False condition, and a unix socket
// instance is not.
func TestLoadBalancer_warnsAboutARuntimeAPIOnTCP(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	p, err := process.Start(context.Background(), process.Config{
		Frontends:  []process.Frontend{{Name: "fe", Address: netip.MustParseAddrPort("127.0.0.1:0"), Backend: "web"}},
		Backends:   []process.Backend{{Name: "web"}},
		RuntimeTCP: netip.MustParseAddrPort("127.0.0.1:0"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	mustCreate(t, e, &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "tcp"}, Spec: v1alpha1.LoadBalancerSpec{
		HAProxy: &v1alpha1.HAProxyLoadBalancer{Instances: []v1alpha1.HAProxyInstance{
			{Name: "over-tcp", Address: p.RuntimeAddress().String()},
			{Name: "on-socket", Socket: p.RuntimeSocket()},
		}}}})
	e.eventually("RuntimeAPIPrivate=False naming the TCP instance", 30*time.Second, func() error {
		lb := &v1alpha1.LoadBalancer{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Name: "tcp"}, lb); err != nil {
			return err
		}
		c := meta.FindStatusCondition(lb.Status.Conditions, v1alpha1.ConditionRuntimeAPIPrivate)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonRuntimeAPIOverTCP ||
			!strings.Contains(c.Message, "over-tcp") || strings.Contains(c.Message, "on-socket") {
			return fmt.Errorf("RuntimeAPIPrivate = %+v", c)
		}
		return nil
	})
}
