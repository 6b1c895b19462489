package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// warningCollector keeps the admission warnings the API server returns.
type warningCollector struct {
	mu   sync.Mutex
	list []string
}

func (w *warningCollector) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings since the last take.
func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// warningClient returns a client whose admission warnings land in the
// returned collector.
func (e *env) warningClient() (client.Client, *warningCollector) {
	e.t.Helper()
	w := &warningCollector{}
	cfg := rest.CopyConfig(e.cfg)
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{Scheme: e.c.Scheme()})
	if err != nil {
		e.t.Fatal(err)
	}
	return c, w
}

func drainInjection(o *manager.Options) {
	o.Drain = webhook.DrainInjection{Image: "zerodrop:test", BinaryInImage: "/zerodrop", Endpoint: "https://127.0.0.1:1/v1/drained"}
}

// restrictedContainer returns a container that PodSecurity `restricted`
// and a ResourceQuota on requests and limits admit (with the pod-level
// settings of restrictedPod).
func restrictedContainer(name string, ports ...corev1.ContainerPort) corev1.Container {
	no := false
	return corev1.Container{
		Name: name, Image: "app:1", Ports: ports,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
	}
}

// restrictedPod returns a pod that passes PodSecurity `restricted` and the
// quota by itself, serving port http (8080) from its app container.
func restrictedPod(ns, name string, labels map[string]string) *corev1.Pod {
	yes := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{restrictedContainer("app", corev1.ContainerPort{Name: "http", ContainerPort: 8080})},
		},
	}
}

// restrictedNamespace creates a namespace labelled for injection, with
// PodSecurity `restricted` enforced and a ResourceQuota on CPU and memory
// requests and limits (and no LimitRange to fill them in). No quota
// controller runs here, so the quota's status is set the way it would.
func (e *env) restrictedNamespace(name string) {
	e.t.Helper()
	ctx := context.Background()
	mustCreate(e.t, e, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		v1alpha1.LabelInject:                 v1alpha1.LabelInjectEnabled,
		"pod-security.kubernetes.io/enforce": "restricted",
	}}})
	hard := corev1.ResourceList{
		corev1.ResourceRequestsCPU: resource.MustParse("4"), corev1.ResourceRequestsMemory: resource.MustParse("4Gi"),
		corev1.ResourceLimitsCPU: resource.MustParse("8"), corev1.ResourceLimitsMemory: resource.MustParse("8Gi"),
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "compute"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	mustCreate(e.t, e, q)
	q.Status.Hard = hard
	q.Status.Used = corev1.ResourceList{}
	for r := range hard {
		q.Status.Used[r] = resource.MustParse("0")
	}
	if err := e.c.Status().Update(ctx, q); err != nil {
		e.t.Fatalf("setting the quota's status: %v", err)
	}
}

func fmtGrace(g *int64) string {
	if g == nil {
		return "unset"
	}
	return fmt.Sprint(*g)
}

func preStopCmd(c *corev1.Container) []string {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		return nil
	}
	return c.Lifecycle.PreStop.Exec.Command
}

func waitsForDrain(c *corev1.Container) bool {
	cmd := preStopCmd(c)
	return len(cmd) > 1 && cmd[0] == webhook.BinPath && cmd[1] == "wait-drained"
}

// TestWebhook_InjectedPodsPassRestrictedAndQuota proves, on the real API
// server, in a namespace with PodSecurity `restricted` enforced and a
// ResourceQuota without LimitRange: the injected pod is admitted; an
// existing exec preStop is budgeted into the grace period; a native sidecar
// serving the bound port gets the wait, and so do the regular containers;
// and a pod copied from an injected one (already mutated) comes out of the
// webhook exactly as it went in.
func TestWebhook_InjectedPodsPassRestrictedAndQuota(t *testing.T) {
	e := startEnv(t, noLoadBalancer, drainInjection)
	ctx := context.Background()
	const ns = "restricted"
	e.restrictedNamespace(ns)
	mustCreate(t, e, service(ns, "web", map[string]string{"app": "web"}))
	mustCreate(t, e, binding(ns, "web", "web", "edge"))
	c, warnings := e.warningClient()
	web := map[string]string{"app": "web"}

	t.Run("the namespace enforces restricted and the quota (so that the rest is not vacuous)", func(t *testing.T) {
		privileged := restrictedPod(ns, "unsafe", map[string]string{"app": "other"})
		privileged.Spec.Containers[0].SecurityContext = nil
		if err := c.Create(ctx, privileged); err == nil || !strings.Contains(err.Error(), "restricted") {
			t.Errorf("a pod violating restricted: %v, want a PodSecurity denial", err)
		}
		unbounded := restrictedPod(ns, "unbounded", map[string]string{"app": "other"})
		unbounded.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		if err := c.Create(ctx, unbounded); err == nil || !strings.Contains(err.Error(), "must specify") {
			t.Errorf("a pod without requests and limits: %v, want a quota denial", err)
		}
		warnings.take()
	})

	var injected, budgeted, sidecar *corev1.Pod
	t.Run("the injected pod is admitted", func(t *testing.T) {
		p := restrictedPod(ns, "plain", web)
		if err := c.Create(ctx, p); err != nil {
			t.Fatalf("creating a restricted pod the webhook injects: %v", err)
		}
		injected = p
		if len(p.Spec.InitContainers) != 1 || p.Spec.InitContainers[0].Name != webhook.InitContainer {
			t.Fatalf("init containers = %+v", p.Spec.InitContainers)
		}
		ic := p.Spec.InitContainers[0]
		if ic.ImagePullPolicy != corev1.PullIfNotPresent || ic.Resources.Limits.Cpu().IsZero() || ic.Resources.Requests.Memory().IsZero() {
			t.Errorf("init container = %+v", ic)
		}
		if !waitsForDrain(&p.Spec.Containers[0]) || !hasGate(p, "web") {
			t.Errorf("app not injected: preStop %q, gates %v", preStopCmd(&p.Spec.Containers[0]), p.Spec.ReadinessGates)
		}
		if w := warnings.take(); !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "from 30 to 44") }) {
			t.Errorf("warnings = %q, want the grace period raise", w)
		}
	})

	t.Run("an existing exec preStop is budgeted: grace = wait + their hook + shutdown budget", func(t *testing.T) {
		p := restrictedPod(ns, "hooked", web)
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep 20"}}}}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		budgeted = p
		// 2s × 2 + 30s drain, 20s their sleep, 10s shutdown budget
		if g := p.Spec.TerminationGracePeriodSeconds; g == nil || *g != 64 {
			t.Errorf("grace = %s, want 64", fmtGrace(g))
		}
		cmd := preStopCmd(&p.Spec.Containers[0])
		// the wait leaves their hook and the shutdown budget: 64 - 20 - 10
		if !slices.Contains(cmd, "--max-wait=34s") || !slices.Equal(cmd[len(cmd)-4:], []string{"--", "sh", "-c", "sleep 20"}) {
			t.Errorf("preStop = %q, want the wait with --max-wait=34s, then theirs", cmd)
		}
		warnings.take()
	})

	t.Run("a native sidecar serving the bound port gets the wait, and so do the regular containers", func(t *testing.T) {
		p := restrictedPod(ns, "proxied", web)
		always := corev1.ContainerRestartPolicyAlways
		proxy := restrictedContainer("proxy", corev1.ContainerPort{Name: "http", ContainerPort: 8080})
		proxy.RestartPolicy = &always
		p.Spec.InitContainers = []corev1.Container{proxy}
		p.Spec.Containers[0].Ports = nil
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		sidecar = p
		names := []string{}
		for _, ic := range p.Spec.InitContainers {
			names = append(names, ic.Name)
		}
		if !slices.Equal(names, []string{webhook.InitContainer, "proxy"}) {
			t.Fatalf("init containers = %q, want ours first, then the sidecar", names)
		}
		if !waitsForDrain(&p.Spec.InitContainers[1]) || !waitsForDrain(&p.Spec.Containers[0]) {
			t.Errorf("preStop of sidecar %q, of app %q: want both to wait", preStopCmd(&p.Spec.InitContainers[1]), preStopCmd(&p.Spec.Containers[0]))
		}
		warnings.take()
	})

	t.Run("admitting an already-mutated pod changes nothing", func(t *testing.T) {
		for _, src := range []*corev1.Pod{injected, budgeted, sidecar} {
			if src == nil {
				t.Fatal("an earlier subtest failed")
			}
			cp := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: src.Name + "-copy", Labels: src.Labels, Annotations: src.Annotations},
				Spec:       *src.Spec.DeepCopy(),
			}
			if err := c.Create(ctx, cp); err != nil {
				t.Fatalf("copy of %s: %v", src.Name, err)
			}
			if !apiequality.Semantic.DeepEqual(cp.Spec, src.Spec) || !apiequality.Semantic.DeepEqual(cp.Annotations, src.Annotations) {
				t.Errorf("copy of %s changed:\nspec %+v\nwant %+v\nannotations %v, want %v", src.Name, cp.Spec, src.Spec, cp.Annotations, src.Annotations)
			}
			if w := warnings.take(); len(w) != 0 {
				t.Errorf("copy of %s: warnings %q, want none", src.Name, w)
			}
		}
	})
}

// TestWebhook_InternalErrorAdmitsThePodUnchangedWithWarningAndEvent proves
// that when the webhook cannot do its job (here: the TargetBinding API is
// gone, so bindings cannot be listed) the real API server still creates the
// pod, unchanged, and the user sees why: an admission warning, a Warning
// event on the pod and zerodrop_webhook_errors_total.
func TestWebhook_InternalErrorAdmitsThePodUnchangedWithWarningAndEvent(t *testing.T) {
	e := startEnv(t, noLoadBalancer, drainInjection)
	ctx := context.Background()
	const ns = "broken"
	e.restrictedNamespace(ns)
	mustCreate(t, e, service(ns, "web", map[string]string{"app": "web"}))
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	crd.SetName("targetbindings.zerodrop.dev")
	if err := e.c.Delete(ctx, crd); err != nil {
		t.Fatalf("deleting the TargetBinding CRD: %v", err)
	}
	// Put the CRD back before the controller stops: its informers wait for
	// the TargetBinding API and would hold the manager's shutdown.
	t.Cleanup(func() {
		e.eventually("TargetBinding CRD deleted", 30*time.Second, func() error {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(crd), crd.DeepCopy()); !apierrors.IsNotFound(err) {
				return fmt.Errorf("CRD still there: %v", err)
			}
			return nil
		})
		if _, err := envtest.InstallCRDs(e.cfg, envtest.CRDInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "crd", "zerodrop.dev_targetbindings.yaml")}, ErrorIfPathMissing: true,
		}); err != nil {
			t.Errorf("restoring the TargetBinding CRD: %v", err)
		}
	})
	e.eventually("TargetBinding API gone", 30*time.Second, func() error {
		if err := e.c.List(ctx, &v1alpha1.TargetBindingList{}, client.InNamespace(ns)); err == nil {
			return fmt.Errorf("bindings still listed")
		}
		return nil
	})

	c, warnings := e.warningClient()
	p := restrictedPod(ns, "a", map[string]string{"app": "web"})
	if err := c.Create(ctx, p); err != nil {
		t.Fatalf("the pod was not admitted: %v", err)
	}
	if len(p.Spec.InitContainers) != 0 || len(p.Spec.ReadinessGates) != 0 || p.Annotations[v1alpha1.AnnotationDrainWait] != "" {
		t.Errorf("pod changed: init %v, gates %v, annotations %v", p.Spec.InitContainers, p.Spec.ReadinessGates, p.Annotations)
	}
	if w := warnings.take(); !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "zerodrop admitted this pod unchanged") }) {
		t.Errorf("warnings = %q, want zerodrop's", w)
	}
	e.eventually("AdmittedUnchanged event on the pod", 30*time.Second, func() error {
		var evs eventsv1.EventList
		if err := e.c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Reason == webhook.EventAdmittedUnchanged && ev.Regarding.Kind == "Pod" && ev.Regarding.Name == "a" && ev.Type == corev1.EventTypeWarning {
				return nil
			}
		}
		return fmt.Errorf("%d events, none %s on pod a", len(evs.Items), webhook.EventAdmittedUnchanged)
	})
	if got := webhookErrors(t, e, webhook.ReasonReadBindings); got < 1 {
		t.Errorf("%s{reason=%s} = %v, want ≥ 1", webhook.MetricErrors, webhook.ReasonReadBindings, got)
	}
}

// webhookErrors returns zerodrop_webhook_errors_total{reason} from the
// controller's registry.
func webhookErrors(t *testing.T, e *env, reason string) float64 {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != webhook.MetricErrors {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
