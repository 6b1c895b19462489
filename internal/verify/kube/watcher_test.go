package kube_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/verify/kube"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// recorder collects events for the test.
type recorder struct {
	mu     sync.Mutex
	events []report.Event
}

func (r *recorder) Record(e report.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) has(kind, subject string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == kind && e.Subject == subject {
			return true
		}
	}
	return false
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "\n  %s %-24s %-28s %s", e.Time.Format("15:04:05.000"), e.Kind, e.Subject, e.Message)
	}
	return b.String()
}

// waitFor polls until the event was recorded, with a generous deadline.
func (r *recorder) waitFor(t *testing.T, kind, subject string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !r.has(kind, subject) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for %s; recorded:%s", kind, subject, r.dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startAPIServer(t *testing.T) *envtest.Environment {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: point it at the control-plane binaries (bin/)")
		}
		t.Skip("KUBEBUILDER_ASSETS is not set: run with KUBEBUILDER_ASSETS=$PWD/bin to test against a real API server")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "..", "config", "crd")},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	return env
}

func TestWatcher_Start_recordsPodAndBindingLifecycle(t *testing.T) {
	env := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	const ns = "shop"
	gate := v1alpha1.GateConditionType("web")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(err)
	labels := map[string]string{"app": "web"}
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:v1"}}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec},
		},
	}
	_, err = cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	must(err)

	// A pod that is Ready before the watch starts.
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-old", Namespace: ns, Labels: labels}, Spec: podSpec}
	old, err = cs.CoreV1().Pods(ns).Create(ctx, old, metav1.CreateOptions{})
	must(err)
	old.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, old, metav1.UpdateOptions{})
	must(err)

	tb := &v1alpha1.TargetBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "TargetBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec:       v1alpha1.TargetBindingSpec{ServiceRef: v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}, LoadBalancerRef: "edge", Backend: "web"},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tb)
	must(err)
	tbClient := dyn.Resource(v1alpha1.GroupVersion.WithResource("targetbindings")).Namespace(ns)
	_, err = tbClient.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	must(err)

	rec := &recorder{}
	w := &kube.Watcher{Config: env.Config, Namespace: ns, Deployment: "web"}
	must(w.Start(ctx, rec))
	rec.waitFor(t, report.KindPodObserved, "pod/web-old")
	rec.waitFor(t, report.KindPodReady, "pod/web-old")
	rec.waitFor(t, report.KindBindingObserved, "targetbinding/web")

	// A new pod with the gate, held by a finalizer so that its deletion
	// shows as terminating first.
	pn := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-new", Namespace: ns, Labels: labels, Finalizers: []string{"test.zerodrop.dev/hold"}}, Spec: podSpec}
	pn.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate)}}
	pn, err = cs.CoreV1().Pods(ns).Create(ctx, pn, metav1.CreateOptions{})
	must(err)
	// A pod of another app must not show up.
	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns, Labels: map[string]string{"app": "other"}}, Spec: podSpec}, metav1.CreateOptions{})
	must(err)
	rec.waitFor(t, report.KindPodCreated, "pod/web-new")

	setConditions := func(conds ...corev1.PodCondition) {
		t.Helper()
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-new", metav1.GetOptions{})
		must(err)
		p.Status.Conditions = conds
		_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		must(err)
	}
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	setConditions(scheduled)
	rec.waitFor(t, report.KindPodScheduled, "pod/web-new")
	gateTrue := corev1.PodCondition{Type: corev1.PodConditionType(gate), Status: corev1.ConditionTrue}
	setConditions(scheduled, gateTrue)
	rec.waitFor(t, report.KindPodGateTrue, "pod/web-new")
	setConditions(scheduled, gateTrue, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	rec.waitFor(t, report.KindPodReady, "pod/web-new")

	// The binding's controller would report the targets; here the test does.
	u, err := tbClient.Get(ctx, "web", metav1.GetOptions{})
	must(err)
	must(unstructured.SetNestedMap(u.Object, map[string]any{"desired": int64(2), "healthy": int64(1), "initial": int64(1), "unhealthy": int64(0), "draining": int64(0)}, "status", "targets"))
	must(unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": "False", "reason": "TargetsPending", "message": "1 of 2 healthy", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}, "status", "conditions"))
	_, err = tbClient.UpdateStatus(ctx, u, metav1.UpdateOptions{})
	must(err)
	rec.waitFor(t, report.KindBindingTargets, "targetbinding/web")
	rec.waitFor(t, report.KindBindingNotReady, "targetbinding/web")

	// The rollout: template change, old pod goes.
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	must(err)
	d.Spec.Template.Annotations = map[string]string{"restartedAt": "now"}
	_, err = cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
	must(err)
	rec.waitFor(t, report.KindDeploymentUpdated, "deployment/web")
	must(cs.CoreV1().Pods(ns).Delete(ctx, "web-old", metav1.DeleteOptions{}))
	rec.waitFor(t, report.KindPodDeleted, "pod/web-old")

	must(cs.CoreV1().Pods(ns).Delete(ctx, "web-new", metav1.DeleteOptions{}))
	rec.waitFor(t, report.KindPodTerminating, "pod/web-new")
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-new", metav1.GetOptions{})
	must(err)
	p.Finalizers = nil
	_, err = cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
	must(err)
	rec.waitFor(t, report.KindPodDeleted, "pod/web-new")
	_ = pn

	if rec.has(report.KindPodCreated, "pod/other") {
		t.Errorf("a pod outside the deployment's selector was recorded:%s", rec.dump())
	}
	// Order on the timeline for the new pod.
	order := []string{report.KindPodCreated, report.KindPodScheduled, report.KindPodGateTrue, report.KindPodReady, report.KindPodTerminating, report.KindPodDeleted}
	rec.mu.Lock()
	i := 0
	for _, e := range rec.events {
		if e.Subject == "pod/web-new" && i < len(order) && e.Kind == order[i] {
			i++
		}
	}
	rec.mu.Unlock()
	if i != len(order) {
		t.Errorf("pod/web-new events not in lifecycle order %v:%s", order, rec.dump())
	}
	t.Logf("timeline:%s", rec.dump())
}

func TestWatcher_Start_failsClearlyForAMissingDeployment(t *testing.T) {
	env := startAPIServer(t)
	w := &kube.Watcher{Config: env.Config, Namespace: "default", Deployment: "nope"}
	err := w.Start(context.Background(), &recorder{})
	if err == nil || !strings.Contains(err.Error(), "default/nope") {
		t.Fatalf("Start = %v, want an error naming default/nope", err)
	}
}
