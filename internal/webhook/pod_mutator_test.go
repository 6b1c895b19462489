package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// recordedEvent is one event a fakeRecorder got.
type recordedEvent struct {
	regarding *corev1.ObjectReference
	reason    string
	note      string
}

// fakeRecorder keeps the events it is given.
type fakeRecorder struct{ events []recordedEvent }

func (r *fakeRecorder) Eventf(regarding, _ runtime.Object, _, reason, _, note string, args ...any) {
	ref, _ := regarding.(*corev1.ObjectReference)
	r.events = append(r.events, recordedEvent{regarding: ref, reason: reason, note: fmt.Sprintf(note, args...)})
}

// mutatorFixture is a labelled namespace "shop" with a Service "web"
// (port http → container port 8080) and a binding "web" on it.
func mutatorFixture(t *testing.T, funcs interceptor.Funcs) (*PodMutator, *fakeRecorder) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{v1alpha1.LabelInject: v1alpha1.LabelInjectEnabled}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		}},
		&v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: v1alpha1.TargetBindingSpec{
			ServiceRef: v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("http")}, LoadBalancerRef: "edge", Backend: "web",
		}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(funcs).Build()
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rec := &fakeRecorder{}
	return &PodMutator{Reader: c, Decoder: admission.NewDecoder(scheme), Drain: cfg, Recorder: rec, Metrics: metrics}, rec
}

func request(raw string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Namespace: "shop",
		Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Object: runtime.RawExtension{Raw: []byte(raw)},
	}}
}

// futurePod carries fields the compiled k8s.io/api types do not have, at
// the pod's spec, in a container, inside the preStop it wraps and in its
// readiness gates' neighbour: what a newer API server would send.
const futurePod = `{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "a", "namespace": "shop", "labels": {"app": "web"}},
  "spec": {
    "futureField": {"mode": "x"},
    "containers": [{
      "name": "app", "image": "app:1",
      "futureContainerField": [1, 2],
      "ports": [{"name": "http", "containerPort": 8080, "futurePortField": true}],
      "lifecycle": {"preStop": {"exec": {"command": ["/bin/flush"], "futureExecField": "y"}}}
    }]
  }
}`

// TestPodMutator_Handle_keepsFieldsTheCompiledTypesLack proves the patch is
// written against the raw object: with decode-and-re-marshal through the
// compiled types (the webhook before), the patch held a "remove" of every
// field below, and the API server would have dropped them.
func TestPodMutator_Handle_keepsFieldsTheCompiledTypesLack(t *testing.T) {
	m, _ := mutatorFixture(t, interceptor.Funcs{})
	resp := m.Handle(context.Background(), request(futurePod))
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("response = %+v", resp.AdmissionResponse)
	}
	var ops []Op
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", resp.Patch, err)
	}
	for _, op := range ops {
		if op.Op != "add" && op.Op != "replace" {
			t.Errorf("op %s %s: the webhook only adds", op.Op, op.Path)
		}
		if strings.Contains(op.Path, "future") || op.Path == "/spec" || op.Path == "/spec/containers/0" || op.Path == "/spec/containers/0/lifecycle/preStop" {
			t.Errorf("op %s %s rewrites what the pod has", op.Op, op.Path)
		}
	}
	var got map[string]any
	if err := json.Unmarshal(applyOps(t, []byte(futurePod), ops), &got); err != nil {
		t.Fatal(err)
	}
	spec := got["spec"].(map[string]any)
	app := spec["containers"].([]any)[0].(map[string]any)
	exec := app["lifecycle"].(map[string]any)["preStop"].(map[string]any)["exec"].(map[string]any)
	for what, v := range map[string]any{
		"spec.futureField":                  spec["futureField"],
		"container futureContainerField":    app["futureContainerField"],
		"port futurePortField":              app["ports"].([]any)[0].(map[string]any)["futurePortField"],
		"preStop exec futureExecField":      exec["futureExecField"],
		"readiness gate (injected)":         spec["readinessGates"],
		"init container (injected)":         spec["initContainers"],
		"terminationGracePeriod (injected)": spec["terminationGracePeriodSeconds"],
	} {
		if v == nil {
			t.Errorf("%s missing after the patch", what)
		}
	}
	cmd := exec["command"].([]any)
	if cmd[0] != BinPath || cmd[len(cmd)-1] != "/bin/flush" {
		t.Errorf("preStop command = %v, want the wait then theirs", cmd)
	}
}

// TestPodMutator_Handle_neverDenies proves every internal error admits the
// pod unchanged, with a warning, an event and a count.
func TestPodMutator_Handle_neverDenies(t *testing.T) {
	failList := interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
		return errors.New("etcd is on fire")
	}}
	failService := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if _, ok := obj.(*corev1.Service); ok {
			return errors.New("connection refused")
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	panicking := interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
		panic("a bug")
	}}
	tests := []struct {
		name       string
		funcs      interceptor.Funcs
		raw        string
		wantReason string
		want       *corev1.ObjectReference
	}{
		{name: "the object does not decode as a pod", raw: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":"not an object"}`,
			wantReason: ReasonDecode, want: &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "a"}},
		{name: "the object is not JSON", raw: `{"apiVersion":`,
			wantReason: ReasonDecode, want: &corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: "shop"}},
		{name: "bindings cannot be listed", funcs: failList, raw: futurePod,
			wantReason: ReasonReadBindings, want: &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "a"}},
		{name: "a binding's Service cannot be read", funcs: failService, raw: futurePod,
			wantReason: ReasonReadBindings, want: &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "a"}},
		{name: "the handler panics", funcs: panicking, raw: futurePod,
			wantReason: ReasonPanic, want: &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := mutatorFixture(t, tt.funcs)
			resp := m.Handle(context.Background(), request(tt.raw))
			if !resp.Allowed || resp.Result != nil && resp.Result.Code >= 400 {
				t.Fatalf("denied: %+v", resp.AdmissionResponse)
			}
			if len(resp.Patch) != 0 || len(resp.Patches) != 0 {
				t.Errorf("pod changed: %s", resp.Patch)
			}
			if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "unchanged") {
				t.Errorf("warnings = %q", resp.Warnings)
			}
			if got := testutil.ToFloat64(m.Metrics.Errors.WithLabelValues(tt.wantReason)); got != 1 {
				t.Errorf("%s{reason=%q} = %v, want 1", MetricErrors, tt.wantReason, got)
			}
			if len(rec.events) != 1 || rec.events[0].reason != EventAdmittedUnchanged || !reflect.DeepEqual(rec.events[0].regarding, tt.want) {
				t.Fatalf("events = %+v, want one %s on %+v", rec.events, EventAdmittedUnchanged, tt.want)
			}
		})
	}
}

func TestEventRegarding(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		meta metav1.ObjectMeta
		want *corev1.ObjectReference
	}{
		{"a controller's pod: the controller", metav1.ObjectMeta{GenerateName: "web-7d9f-", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "ConfigMap", Name: "not-the-controller", UID: "1"},
			{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f", UID: "2", Controller: &yes},
		}}, &corev1.ObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "shop", Name: "web-7d9f", UID: "2"}},
		{"a named pod without controller: the pod", metav1.ObjectMeta{Name: "a"},
			&corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "a"}},
		{"a generateName pod without controller: the namespace", metav1.ObjectMeta{GenerateName: "a-"},
			&corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: "shop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventRegarding("shop", tt.meta); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("eventRegarding = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := eventRegarding("", metav1.ObjectMeta{Name: "a"}); got != nil {
		t.Errorf("no namespace: %+v, want nil", got)
	}
}

// TestPodMutator_Handle_injectsTheCABundleInForce proves a pod gets the CA
// bundle CABundleFrom returns when it is admitted (the self-managed
// certificates rotate it), not the one the webhook started with.
func TestPodMutator_Handle_injectsTheCABundleInForce(t *testing.T) {
	m, _ := mutatorFixture(t, interceptor.Funcs{})
	bundle := "FIRST"
	m.Drain.CABundleFrom = func() string { return bundle }
	for _, want := range []string{"FIRST", "ROTATED"} {
		bundle = want
		resp := m.Handle(context.Background(), request(futurePod))
		if !resp.Allowed {
			t.Fatalf("response = %+v", resp.AdmissionResponse)
		}
		var ops []Op
		if err := json.Unmarshal(resp.Patch, &ops); err != nil {
			t.Fatalf("patch %s: %v", resp.Patch, err)
		}
		var got corev1.Pod
		if err := json.Unmarshal(applyOps(t, []byte(futurePod), ops), &got); err != nil {
			t.Fatal(err)
		}
		var env []string
		for _, e := range got.Spec.Containers[0].Env {
			if e.Name == CAEnv {
				env = append(env, e.Value)
			}
		}
		if len(env) != 1 || env[0] != want {
			t.Errorf("%s = %v, want [%s]", CAEnv, env, want)
		}
	}
}

// TestPodMutator_Handle_readsServicesOncePerPod proves a pod's admission
// reads its namespace's Services in one LIST when several bindings are
// there, however many: the gates of the bindings whose Service selects the
// pod, none for a binding without a Service or selecting other pods.
func TestPodMutator_Handle_readsServicesOncePerPod(t *testing.T) {
	calls := map[string]int{}
	count := interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			calls[fmt.Sprintf("get %T", obj)]++
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			calls[fmt.Sprintf("list %T", list)]++
			return c.List(ctx, list, opts...)
		},
	}
	m, _ := mutatorFixture(t, count)
	c := m.Reader.(client.Client)
	ctx := context.Background()
	for i := range 20 {
		name := fmt.Sprintf("web-%d", i)
		app := "web"
		if i%2 == 1 {
			app = "other" // selects other pods
		}
		if i != 19 { // binding web-19 has no Service
			if err := c.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": app},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Create(ctx, &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: v1alpha1.TargetBindingSpec{
			ServiceRef: v1alpha1.ServiceReference{Name: name, Port: intstr.FromString("http")}, LoadBalancerRef: "edge", Backend: name,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	clear(calls)
	resp := m.Handle(ctx, request(futurePod))
	if !resp.Allowed {
		t.Fatalf("response = %+v", resp.AdmissionResponse)
	}
	want := map[string]int{"get *v1.Namespace": 1, "list *v1alpha1.TargetBindingList": 1, "list *v1.ServiceList": 1}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("reads = %v, want %v", calls, want)
	}
	var ops []Op
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", resp.Patch, err)
	}
	var gates []string
	for _, op := range ops {
		if strings.HasPrefix(op.Path, "/spec/readinessGates") {
			raw, _ := json.Marshal(op.Value)
			gates = append(gates, string(raw))
		}
	}
	joined := strings.Join(gates, " ")
	for i := range 20 {
		gate := `"` + v1alpha1.GateConditionType(fmt.Sprintf("web-%d", i)) + `"`
		if got, wantGate := strings.Contains(joined, gate), i%2 == 0 && i != 19; got != wantGate {
			t.Errorf("gate of binding web-%d injected %v, want %v (patch %s)", i, got, wantGate, resp.Patch)
		}
	}
}

// TestPodMutator_Handle_readsTheCacheWhenTheAPIServerIsLate covers the
// fallback: the live reads fail (here at once; in the cluster-scale
// benchmark they timed out), the cache holds the binding, and the pod gets
// its gate, counted in MetricCacheReads and not as an error. With the cache
// failing too, or a live error that is not lateness, the pod is admitted
// unchanged, as before.
func TestPodMutator_Handle_readsTheCacheWhenTheAPIServerIsLate(t *testing.T) {
	late := interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return context.DeadlineExceeded
		},
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return context.DeadlineExceeded
		},
	}
	for _, tc := range []struct {
		name          string
		liveErr       error
		cacheFails    bool
		wantGate      bool
		wantCacheRead float64
		wantErrors    float64
	}{
		{name: "cache answers", wantGate: true, wantCacheRead: 1},
		{name: "cache fails too", cacheFails: true, wantCacheRead: 1, wantErrors: 1},
		{name: "an API error is not lateness", liveErr: errors.New("the server could not find the requested resource"), wantErrors: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := late
			if tc.liveErr != nil {
				fail := func() error { return tc.liveErr }
				live = interceptor.Funcs{
					Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
						return fail()
					},
					List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
						return fail()
					},
				}
			}
			m, _ := mutatorFixture(t, live)
			var cacheFuncs interceptor.Funcs
			if tc.cacheFails {
				cacheFuncs = late
			}
			cached, _ := mutatorFixture(t, cacheFuncs)
			m.Cache = cached.Reader
			resp := m.Handle(context.Background(), request(futurePod))
			if !resp.Allowed {
				t.Fatalf("response = %+v", resp.AdmissionResponse)
			}
			gate := v1alpha1.GateConditionType("web")
			if got := strings.Contains(string(resp.Patch), string(gate)); got != tc.wantGate {
				t.Errorf("gate injected %v, want %v (patch %s)", got, tc.wantGate, resp.Patch)
			}
			if got := testutil.ToFloat64(m.Metrics.CacheReads); got != tc.wantCacheRead {
				t.Errorf("%s = %v, want %v", MetricCacheReads, got, tc.wantCacheRead)
			}
			if got := testutil.ToFloat64(m.Metrics.Errors.WithLabelValues(ReasonReadBindings)); got != tc.wantErrors {
				t.Errorf("%s{reason=%s} = %v, want %v", MetricErrors, ReasonReadBindings, got, tc.wantErrors)
			}
		})
	}
}
