package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/charts"
	"github.com/zerodrop/zerodrop/internal/certs"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/manager"
)

// TestChart_RBACSufficesForTheController installs the chart's RBAC, its
// ServiceAccount and its webhook configuration (default values) on a real
// API server and runs the controller as that ServiceAccount (impersonated,
// no more rights than the chart grants) with the chart's certificate
// settings: it elects a leader in the release namespace, issues its
// certificate into the Secret and the CA bundle into the webhook
// configuration, and reconciles and finalizes a binding. A rule missing
// from the chart fails one of these; a rule too many is for review.
func TestChart_RBACSufficesForTheController(t *testing.T) {
	e := startAPIServer(t)
	cfg, admin := e.cfg, e.c
	ctx := context.Background()
	const ns = "zerodrop-system"
	e.namespace(ns, false)
	e.namespace("shop", false)

	ch, err := charts.Load(filepath.Join("..", "..", "charts", charts.Name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := charts.Render(ch, charts.Release{Name: "zerodrop", Namespace: ns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, m := range r.Manifests {
		rd := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(m.Content), 4096)
		u := &unstructured.Unstructured{}
		if err := rd.Decode(&u.Object); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		switch u.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "MutatingWebhookConfiguration":
			if err := admin.Create(ctx, u); err != nil {
				t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		case "Deployment":
			c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			args, _, _ = unstructured.NestedStringSlice(c[0].(map[string]any), "args")
		}
	}
	flag := func(name string) string {
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v
			}
		}
		t.Fatalf("the Deployment has no --%s", name)
		return ""
	}

	sa := rest.CopyConfig(cfg)
	sa.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":zerodrop-controller",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	webhookPort, drainPort := freePort(t), freePort(t)
	mctx, cancel := context.WithCancel(ctx)
	mgr, err := manager.New(mctx, sa, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0",
		LeaderElection: flag("leader-elect") == "true", LeaderElectionNamespace: flag("leader-election-namespace"),
		WebhookHost: "127.0.0.1", WebhookPort: webhookPort, WebhookCertDir: t.TempDir(),
		DrainAddr: fmt.Sprintf("127.0.0.1:%d", drainPort),
		Instances: provider.New, Registerer: prometheus.NewRegistry(), SkipNameValidation: true,
		PollInterval: 50 * time.Millisecond, ResyncInterval: 500 * time.Millisecond,
		Certs: &certs.Options{
			Secret:               types.NamespacedName{Namespace: flag("cert-secret-namespace"), Name: flag("cert-secret")},
			DNSNames:             strings.Split(flag("cert-dns-names"), ","),
			WebhookConfiguration: flag("webhook-configuration"),
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("starting the controller as its ServiceAccount: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("controller manager did not stop within 30s")
		}
	}()

	e.eventually("the webhook configuration holds the CA bundle of the certificate Secret", 30*time.Second, func() error {
		s := &corev1.Secret{}
		if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: flag("cert-secret")}, s); err != nil {
			return err
		}
		wh := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := admin.Get(ctx, client.ObjectKey{Name: flag("webhook-configuration")}, wh); err != nil {
			return err
		}
		if len(wh.Webhooks[0].ClientConfig.CABundle) == 0 || string(wh.Webhooks[0].ClientConfig.CABundle) != string(s.Data[certs.KeyCABundle]) {
			return fmt.Errorf("caBundle not patched")
		}
		return nil
	})
	e.eventually("a leader elected in the release namespace", 60*time.Second, func() error {
		l := &coordinationv1.Lease{}
		if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: manager.LeaderElectionID}, l); err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return fmt.Errorf("lease has no holder")
		}
		return nil
	})
	e.eventually("the leader's LeaderElection event recorded", 30*time.Second, func() error {
		evs := &corev1.EventList{}
		if err := admin.List(ctx, evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Reason == "LeaderElection" {
				return nil
			}
		}
		return fmt.Errorf("no LeaderElection event among %d", len(evs.Items))
	})
	b := &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: v1alpha1.TargetBindingSpec{
		ServiceRef: v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("http")}, LoadBalancerRef: "edge", Backend: "web",
	}}
	if err := admin.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	e.eventually("the binding finalized and its status written", 30*time.Second, func() error {
		got := &v1alpha1.TargetBinding{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(b), got); err != nil {
			return err
		}
		if len(got.Finalizers) == 0 || len(got.Status.Conditions) == 0 {
			return fmt.Errorf("finalizers %v, conditions %v", got.Finalizers, got.Status.Conditions)
		}
		return nil
	})
	if err := admin.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	e.eventually("the deleted binding released by the controller", 30*time.Second, func() error {
		err := admin.Get(ctx, client.ObjectKeyFromObject(b), &v1alpha1.TargetBinding{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}
