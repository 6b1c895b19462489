// Package webhook holds zerodrop's pod mutating webhook. At creation it gives
// a pod that a TargetBinding selects the binding's readiness gate, so the pod
// becomes Ready only once every load-balancer instance sends it traffic, and
// a preStop wait (`zerodrop wait-drained`, copied in by an init container) so
// SIGTERM reaches the app only once every instance has drained it.
//
// The webhook never breaks a pod: it answers with a JSON patch of only what
// it adds, written against the raw admitted object (fields the compiled
// Kubernetes types do not know survive); it adds nothing a pod already has
// (copied and re-admitted pods come out unchanged); what it injects passes
// PodSecurity `restricted` and a ResourceQuota; and on any internal error it
// admits the pod unchanged, with an admission warning, an event and a
// metric, never a denial.
package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// EventAdmittedUnchanged is the reason of the Warning event recorded when
// an internal error made the webhook admit a pod unchanged.
const EventAdmittedUnchanged = "AdmittedUnchanged"

// EventRecorder knows how to record an event about an object (the
// events.k8s.io recorder of client-go and controller-runtime).
type EventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// PodMutator injects readiness gates and the drain wait into pods at
// creation.
type PodMutator struct {
	// Reader reads bindings, Services and Namespaces. Use an uncached
	// reader: a pod created right after its binding must still get the gate.
	Reader client.Reader
	// Cache, if set, is read instead when Reader has not answered within
	// LiveTimeout, or the API server timed out or shed the request: the
	// controller's informer cache, at worst a moment behind, where the
	// alternative is a pod admitted without its gate and drain wait (an
	// API server busy with a 1,500-pod rollout answered 122 admissions'
	// live reads too late).
	Cache client.Reader
	// LiveTimeout bounds Reader's reads when Cache is set (zero:
	// DefaultLiveTimeout).
	LiveTimeout time.Duration
	// Decoder decodes admission requests.
	Decoder admission.Decoder
	// Drain configures the injected preStop wait (off when Image is empty).
	Drain DrainInjection
	// Recorder records an event when a pod is admitted unchanged because of
	// an internal error (nil: none).
	Recorder EventRecorder
	// Metrics count those errors (nil: not counted).
	Metrics *Metrics
}

// Handle gives the pod the gate of every gate-enabled binding whose Service
// selects it, and the drain wait of every binding that drains it, in
// namespaces labelled for injection. It never denies: on any internal error
// (the pod does not decode, the bindings cannot be read, a bug) it admits
// the pod unchanged with an admission warning, an event and a count in
// MetricErrors; the binding's status then reports the pod as missing its
// gate or drain wait.
func (m *PodMutator) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		if r := recover(); r != nil {
			resp = m.admitUnchanged(ctx, req, nil, ReasonPanic, fmt.Errorf("panic: %v", r))
		}
	}()
	pod := &corev1.Pod{}
	if err := m.Decoder.Decode(req, pod); err != nil {
		return m.admitUnchanged(ctx, req, nil, ReasonDecode, fmt.Errorf("decoding pod: %w", err))
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	logger := log.FromContext(ctx).WithValues("namespace", ns, "pod", podName(&pod.ObjectMeta))
	gates, drains, err := m.bindingsFor(ctx, ns, pod)
	if err != nil {
		return m.admitUnchanged(ctx, req, pod, ReasonReadBindings, err)
	}
	drain := m.Drain
	if drain.CABundleFrom != nil {
		drain.CABundle = drain.CABundleFrom()
	}
	ops, warnings, err := mutate(req.Object.Raw, pod, gates, drains, drain)
	if err != nil {
		return m.admitUnchanged(ctx, req, pod, ReasonPatch, err)
	}
	if len(ops) == 0 {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return m.admitUnchanged(ctx, req, pod, ReasonPatch, fmt.Errorf("encoding the JSON patch: %w", err))
	}
	logger.V(1).Info("pod mutated", "gates", gates, "ops", len(ops))
	resp = admission.Allowed("").WithWarnings(warnings...)
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = raw, &pt
	return resp
}

// mutate returns the JSON patch that adds to the raw admitted pod what it
// lacks of the gates and the drain wait, and the admission warnings. pod is
// raw decoded, for reading only: the patch is written against raw.
func mutate(raw []byte, pod *corev1.Pod, gates []string, drains []drainTarget, cfg DrainInjection) ([]Op, []string, error) {
	if len(gates) == 0 && (cfg.Image == "" || len(drains) == 0) {
		return nil, nil, nil
	}
	p, err := newPatch(raw)
	if err != nil {
		return nil, nil, err
	}
	if err := addReadinessGates(p, pod, gates); err != nil {
		return nil, nil, err
	}
	warnings, err := injectDrainWait(p, pod, drains, cfg)
	if err != nil {
		return nil, nil, err
	}
	return p.ops, warnings, nil
}

// admitUnchanged answers "allowed, unchanged" after an internal error, and
// says so in the log, an admission warning, an event and MetricErrors.
// pod may be nil (it did not decode).
func (m *PodMutator) admitUnchanged(ctx context.Context, req admission.Request, pod *corev1.Pod, reason string, err error) admission.Response {
	meta := metaOf(req, pod)
	ns := req.Namespace
	if ns == "" {
		ns = meta.Namespace
	}
	log.FromContext(ctx).Error(err, "admitting pod unchanged", "namespace", ns, "pod", podName(&meta), "reason", reason)
	if m.Metrics != nil {
		m.Metrics.Errors.WithLabelValues(reason).Inc()
	}
	if ref := eventRegarding(ns, meta); m.Recorder != nil && ref != nil {
		m.Recorder.Eventf(ref, nil, corev1.EventTypeWarning, EventAdmittedUnchanged, "Admit",
			"zerodrop admitted pod %s unchanged, without readiness gate or drain wait (%s): %v", podName(&meta), reason, err)
	}
	return admission.Allowed("").WithWarnings(fmt.Sprintf(
		"zerodrop admitted this pod unchanged, without readiness gate or drain wait, after an internal error (%s): %v", reason, err))
}

// metaOf returns the pod's metadata: from the decoded pod, else from the
// raw object as far as it decodes, else from the request.
func metaOf(req admission.Request, pod *corev1.Pod) metav1.ObjectMeta {
	if pod != nil {
		return pod.ObjectMeta
	}
	var obj struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(req.Object.Raw, &obj) // best effort: the event needs a target, not the metadata
	if obj.Metadata.Name == "" {
		obj.Metadata.Name = req.Name
	}
	return obj.Metadata
}

// eventRegarding returns the object an event about the pod in namespace ns
// is recorded on. At admission the pod does not exist yet, and a pod a
// controller creates has only a generateName, so: the pod's controller (a
// ReplicaSet, StatefulSet, Job…) when it has one, which exists and shows
// the event in `kubectl describe`; else the pod by its name; else the
// namespace (Kubernetes records events on a cluster-scoped object in the
// default namespace). Nil when there is no namespace.
func eventRegarding(ns string, meta metav1.ObjectMeta) *corev1.ObjectReference {
	if ns == "" {
		return nil
	}
	if owner := metav1.GetControllerOfNoCopy(&meta); owner != nil {
		return &corev1.ObjectReference{APIVersion: owner.APIVersion, Kind: owner.Kind, Namespace: ns, Name: owner.Name, UID: owner.UID}
	}
	if meta.Name != "" {
		return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: meta.Name}
	}
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: ns}
}

// DefaultLiveTimeout is PodMutator's default LiveTimeout: under the
// webhook's 5 s timeout, with room left for the cached read.
const DefaultLiveTimeout = 2 * time.Second

// bindingsFor returns the gate condition types the pod should carry and
// what the bindings that drain it need of its preStop wait: read live, and
// from the cache when the live read fails or is late.
func (m *PodMutator) bindingsFor(ctx context.Context, ns string, pod *corev1.Pod) ([]string, []drainTarget, error) {
	if m.Cache == nil {
		return m.bindingsFrom(ctx, m.Reader, ns, pod)
	}
	liveCtx, cancel := context.WithTimeout(ctx, cmp.Or(m.LiveTimeout, DefaultLiveTimeout))
	gates, drains, err := m.bindingsFrom(liveCtx, m.Reader, ns, pod)
	late := liveCtx.Err() != nil || isLate(err)
	cancel()
	if err == nil || !late || ctx.Err() != nil {
		// Only lateness falls back: an API that answers with an error (a
		// CRD gone, a permission missing) is a fault the cache would hide.
		return gates, drains, err
	}
	log.FromContext(ctx).Info("reading bindings from the cache", "liveError", err.Error())
	if m.Metrics != nil {
		m.Metrics.CacheReads.Inc()
	}
	gates, drains, cacheErr := m.bindingsFrom(ctx, m.Cache, ns, pod)
	if cacheErr != nil {
		return nil, nil, fmt.Errorf("%w (and from the cache: %w)", err, cacheErr)
	}
	return gates, drains, nil
}

// isLate reports whether err says the API server did not answer in time:
// a deadline, its own timeout, or its load shedding (429).
func isLate(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
}

// bindingsFrom is bindingsFor with the reads made from r.
func (m *PodMutator) bindingsFrom(ctx context.Context, r client.Reader, ns string, pod *corev1.Pod) ([]string, []drainTarget, error) {
	nsObj := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: ns}, nsObj); err != nil {
		return nil, nil, fmt.Errorf("getting namespace %q: %w", ns, err)
	}
	if nsObj.Labels[v1alpha1.LabelInject] != v1alpha1.LabelInjectEnabled {
		return nil, nil, nil
	}
	var bindings v1alpha1.TargetBindingList
	if err := r.List(ctx, &bindings, client.InNamespace(ns)); err != nil {
		return nil, nil, fmt.Errorf("listing bindings: %w", err)
	}
	var relevant []*v1alpha1.TargetBinding
	for i := range bindings.Items {
		b := &bindings.Items[i]
		if b.DeletionTimestamp.IsZero() && (b.GateEnabled() || b.DrainWaitEnabled()) {
			relevant = append(relevant, b)
		}
	}
	services, err := servicesOf(ctx, r, ns, relevant)
	if err != nil {
		return nil, nil, err
	}
	var gates []string
	var drains []drainTarget
	for _, b := range relevant {
		svc := services[b.Spec.ServiceRef.Name]
		if svc == nil {
			continue // no Service yet: nothing selects the pod
		}
		sel, err := targets.Resolve(svc, b.Spec.ServiceRef)
		if err != nil || !sel.Selects(pod) {
			continue // the controller reports the binding's PortNotFound
		}
		if b.GateEnabled() {
			gates = append(gates, v1alpha1.GateConditionType(b.Name))
		}
		if b.DrainWaitEnabled() {
			drains = append(drains, drainTargetFor(b, sel.Port))
		}
	}
	return gates, drains, nil
}

// servicesOf returns, by name, the Services the bindings name that exist:
// one GET for one binding, else one LIST of the namespace's Services, so
// that a pod's admission costs the same few requests however many bindings
// its namespace holds (a GET per binding was 100 requests per pod in a
// namespace of 100 bindings, and pod creation waited on them).
func servicesOf(ctx context.Context, r client.Reader, ns string, bindings []*v1alpha1.TargetBinding) (map[string]*corev1.Service, error) {
	out := map[string]*corev1.Service{}
	switch len(bindings) {
	case 0:
		return out, nil
	case 1:
		name := bindings[0].Spec.ServiceRef.Name
		svc := &corev1.Service{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc); apierrors.IsNotFound(err) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("getting service %s/%s of binding %s: %w", ns, name, bindings[0].Name, err)
		}
		out[name] = svc
		return out, nil
	}
	var list corev1.ServiceList
	if err := r.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing the services of namespace %s: %w", ns, err)
	}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// addReadinessGates adds to p the gates the pod lacks.
func addReadinessGates(p *patch, pod *corev1.Pod, gates []string) error {
	for _, g := range gates {
		if targets.HasReadinessGate(pod, g) {
			continue
		}
		if err := p.appendTo([]string{"spec", "readinessGates"}, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType(g)}); err != nil {
			return err
		}
	}
	return nil
}

func podName(meta *metav1.ObjectMeta) string {
	if meta.Name != "" {
		return meta.Name
	}
	return meta.GenerateName + "*"
}
