package charts

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// warnings collects the API server's warning headers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings collected since the last call.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// TestRender_serverSideDryRun creates every object of every values
// combination on a real kube-apiserver (the version hack/cluster pins, from
// bin/) with dryRun=All: the API server validates each against its own
// schemas (the chart's CRDs, installed first, included), runs admission
// (RBAC escalation checks, PodSecurity), and persists nothing. The release
// namespace enforces PodSecurity restricted, so the Deployment's pod
// template is also created as a Pod. cert-manager's and the Prometheus
// Operator's kinds are left out: their CRDs are not installed here (the
// operator's are decoded strictly into its Go types by objects instead).
func TestRender_serverSideDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(Name, "crds")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: filepath.Join("..", "bin"),
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting API server (run hack/build-cluster.sh): %v", err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Errorf("stopping API server: %v", err)
		}
	})
	w := &warnings{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testRelease.Namespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
	}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			created := 0
			for _, obj := range objects(t, render(t, tc.values)) {
				u := toUnstructured(t, obj)
				if strings.HasPrefix(u.GetAPIVersion(), "cert-manager.io/") || strings.HasPrefix(u.GetAPIVersion(), "monitoring.coreos.com/") ||
					u.GetKind() == "CustomResourceDefinition" {
					continue // cert-manager and the Prometheus Operator are not installed; CRDs are (envtest)
				}
				if u.GetNamespace() != "" && u.GetNamespace() != testRelease.Namespace {
					ensureNamespace(ctx, t, c, u.GetNamespace()) // the dashboard's own namespace
				}
				if err := c.Create(ctx, u, client.DryRunAll); err != nil {
					t.Errorf("dry-run create %s %s: %v", u.GetKind(), u.GetName(), err)
				}
				created++
				if d, ok := obj.(*appsv1.Deployment); ok {
					pod := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-pod", Namespace: d.Namespace, Labels: d.Spec.Template.Labels},
						Spec:       d.Spec.Template.Spec,
					}
					if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
						t.Errorf("dry-run create of the Deployment's pod in a restricted namespace: %v", err)
					}
				}
				for _, warn := range w.take() {
					t.Errorf("%s %s: API server warns: %s", u.GetKind(), u.GetName(), warn)
				}
			}
			if created < 10 {
				t.Errorf("only %d objects created", created)
			}
		})
	}
}

// ensureNamespace creates namespace name unless it exists.
func ensureNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetKind() == "" {
		t.Fatalf("object without kind: %v", obj)
	}
	return u
}
