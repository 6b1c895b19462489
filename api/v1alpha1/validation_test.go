package v1alpha1_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// TestValidation_APIServerRejectsBadObjects installs the generated CRDs into
// a real API server and checks that its OpenAPI and CEL rules reject bad
// objects with a message naming what is wrong, and apply the defaults.
func TestValidation_APIServerRejectsBadObjects(t *testing.T) {
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd")}, ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: filepath.Join("..", "..", "bin")}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest (KUBEBUILDER_ASSETS=bin): %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	lb := func(mut func(*v1alpha1.LoadBalancer)) *v1alpha1.LoadBalancer {
		o := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{GenerateName: "lb-"}, Spec: v1alpha1.LoadBalancerSpec{
			HAProxy: &v1alpha1.HAProxyLoadBalancer{Instances: []v1alpha1.HAProxyInstance{{Name: "a", Socket: "/run/haproxy.sock"}}}}}
		mut(o)
		return o
	}
	tb := func(mut func(*v1alpha1.TargetBinding)) *v1alpha1.TargetBinding {
		o := &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "tb-", Namespace: "default"}, Spec: v1alpha1.TargetBindingSpec{
			ServiceRef: v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}, LoadBalancerRef: "edge", Backend: "web"}}
		mut(o)
		return o
	}
	bad := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"instance with both socket and address", lb(func(o *v1alpha1.LoadBalancer) { o.Spec.HAProxy.Instances[0].Address = "127.0.0.1:9999" }), "set exactly one of socket and address"},
		{"instance with neither socket nor address", lb(func(o *v1alpha1.LoadBalancer) { o.Spec.HAProxy.Instances[0].Socket = "" }), "set exactly one of socket and address"},
		{"duplicate instance names", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.HAProxy.Instances = append(o.Spec.HAProxy.Instances, o.Spec.HAProxy.Instances[0])
		}), "instance names must be unique"},
		{"no provider", lb(func(o *v1alpha1.LoadBalancer) { o.Spec.HAProxy = nil }), "set exactly one provider: spec.haproxy or spec.elbv2"},
		{"two providers", lb(func(o *v1alpha1.LoadBalancer) { o.Spec.ELBv2 = &v1alpha1.ELBv2LoadBalancer{Region: "eu-west-1"} }), "set exactly one provider: spec.haproxy or spec.elbv2"},
		{"no instances", lb(func(o *v1alpha1.LoadBalancer) { o.Spec.HAProxy.Instances = nil }), "spec.haproxy.instances"},
		{"elbv2 region malformed", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.HAProxy, o.Spec.ELBv2 = nil, &v1alpha1.ELBv2LoadBalancer{Region: "Frankfurt"}
		}), "spec.elbv2.region"},
		{"elbv2 endpoint not a URL", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.HAProxy, o.Spec.ELBv2 = nil, &v1alpha1.ELBv2LoadBalancer{Region: "eu-west-1", Endpoint: "localhost:4566"}
		}), "spec.elbv2.endpoint"},
		{"elbv2 poll interval too short", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.HAProxy, o.Spec.ELBv2 = nil, &v1alpha1.ELBv2LoadBalancer{Region: "eu-west-1", PollInterval: &metav1.Duration{Duration: time.Millisecond}}
		}), "pollInterval must be between 100ms and 1m"},
		{"binding with an unknown mode", tb(func(o *v1alpha1.TargetBinding) { o.Spec.Mode = "Borrow" }), "spec.mode"},
		{"grant with a selector but from All", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.AllowedBindings = []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromAll, Selector: &metav1.LabelSelector{}}}}
		}), "set namespaces.selector exactly when namespaces.from is Selector"},
		{"grant from Selector without a selector", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.AllowedBindings = []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromSelector}}}
		}), "set namespaces.selector exactly when namespaces.from is Selector"},
		{"grant from Names without names", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.AllowedBindings = []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromNames}}}
		}), "set namespaces.names exactly when namespaces.from is Names"},
		{"grant with names but from Selector", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.AllowedBindings = []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromSelector,
				Selector: &metav1.LabelSelector{}, Names: []string{"shop"}}}}
		}), "set namespaces.names exactly when namespaces.from is Names"},
		{"grant from an unknown kind", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.AllowedBindings = []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: "Same"}}}
		}), "namespaces.from"},
		{"grant backend with a star inside", lb(func(o *v1alpha1.LoadBalancer) {
			o.Spec.AllowedBindings = []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromAll}, Backends: []string{"a*b"}}}
		}), "backends"},
		{"check timeout not below interval", tb(func(o *v1alpha1.TargetBinding) {
			o.Spec.HealthCheck.Interval = &metav1.Duration{Duration: time.Second}
			o.Spec.HealthCheck.Timeout = &metav1.Duration{Duration: 2 * time.Second}
		}), "healthCheck.timeout must be less than healthCheck.interval"},
		{"check interval below 100ms", tb(func(o *v1alpha1.TargetBinding) {
			o.Spec.HealthCheck.Interval = &metav1.Duration{Duration: 10 * time.Millisecond}
		}), "healthCheck.interval must be between 100ms and 5m"},
		{"backend name with a space", tb(func(o *v1alpha1.TargetBinding) { o.Spec.Backend = "my backend" }), "spec.backend"},
		{"healthy threshold zero", tb(func(o *v1alpha1.TargetBinding) { o.Spec.HealthCheck.HealthyThreshold = -1 }), "healthyThreshold"},
	}
	for _, tt := range bad {
		t.Run("rejects "+tt.name, func(t *testing.T) {
			err := c.Create(ctx, tt.obj)
			if err == nil {
				t.Fatalf("created %s; want an error mentioning %q", tt.name, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}

	t.Run("defaults apply to a minimal binding", func(t *testing.T) {
		o := tb(func(*v1alpha1.TargetBinding) {})
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		hc, d := o.Spec.HealthCheck, o.Spec.Drain
		if hc.Interval == nil || hc.Interval.Duration != 2*time.Second || hc.HealthyThreshold != 2 || hc.UnhealthyThreshold != 2 ||
			d.Timeout == nil || d.Timeout.Duration != 30*time.Second || !o.GateEnabled() || !o.DrainWaitEnabled() || o.Spec.ReadinessGate == nil {
			t.Errorf("defaults not applied: %+v %+v gate=%v", hc, d, o.Spec.ReadinessGate)
		}
	})
	t.Run("a load balancer without grants and one with each kind are accepted", func(t *testing.T) {
		for _, g := range [][]v1alpha1.BindingGrant{nil, {
			{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromAll}, Backends: []string{"*", "shop-*", "web"}},
			{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromSelector, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}},
			{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromNames, Names: []string{"shop", "pay"}}},
		}} {
			if err := c.Create(ctx, lb(func(o *v1alpha1.LoadBalancer) { o.Spec.AllowedBindings = g })); err != nil {
				t.Errorf("creating a load balancer with grants %+v: %v", g, err)
			}
		}
	})
	t.Run("loadBalancerRef is immutable", func(t *testing.T) {
		o := tb(func(*v1alpha1.TargetBinding) {})
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		o.Spec.LoadBalancerRef = "other"
		if err := c.Update(ctx, o); err == nil || !strings.Contains(err.Error(), "immutable") {
			t.Fatalf("update of loadBalancerRef: err = %v, want immutable", err)
		}
	})
}
