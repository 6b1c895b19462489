// Package webhook holds zerodrop's pod mutating webhook. At creation it gives
// a pod that a TargetBinding selects the binding's readiness gate, so the pod
// becomes Ready only once every load-balancer instance sends it traffic, and
// a preStop wait (`zerodrop wait-drained`, copied in by an init container) so
// SIGTERM reaches the app only once every instance has drained it.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// PodMutator injects readiness gates into pods at creation.
type PodMutator struct {
	// Reader reads bindings, Services and Namespaces. Use an uncached
	// reader: a pod created right after its binding must still get the gate.
	Reader client.Reader
	// Decoder decodes admission requests.
	Decoder admission.Decoder
	// Drain configures the injected preStop wait (off when Image is empty).
	Drain DrainInjection
}

// Handle gives the pod the gate of every gate-enabled binding whose Service
// selects it, in namespaces labelled for injection. It never denies: a
// problem is logged and the pod is admitted unchanged (the binding's status
// then reports it as missing its gate).
func (m *PodMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := m.Decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding pod: %w", err))
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	logger := log.FromContext(ctx).WithValues("namespace", ns, "pod", podName(pod))
	gates, drains, err := m.bindingsFor(ctx, ns, pod)
	if err != nil {
		logger.Error(err, "finding bindings for pod; admitting it unchanged")
		return admission.Allowed("zerodrop could not read bindings")
	}
	added := AddReadinessGates(pod, gates)
	warnings := InjectDrainWait(pod, drains, m.Drain)
	if !added && pod.Annotations[v1alpha1.AnnotationDrainWait] == "" {
		return admission.Allowed("no zerodrop binding selects this pod")
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding pod: %w", err))
	}
	logger.V(1).Info("pod mutated", "gates", gates, "drainWait", pod.Annotations[v1alpha1.AnnotationDrainWait])
	resp := admission.PatchResponseFromRaw(req.Object.Raw, raw)
	resp.Warnings = warnings
	return resp
}

// bindingsFor returns the gate condition types the pod should carry and
// what the bindings that drain it need of its preStop wait.
func (m *PodMutator) bindingsFor(ctx context.Context, ns string, pod *corev1.Pod) ([]string, []drainTarget, error) {
	nsObj := &corev1.Namespace{}
	if err := m.Reader.Get(ctx, types.NamespacedName{Name: ns}, nsObj); err != nil {
		return nil, nil, fmt.Errorf("getting namespace %q: %w", ns, err)
	}
	if nsObj.Labels[v1alpha1.LabelInject] != v1alpha1.LabelInjectEnabled {
		return nil, nil, nil
	}
	var bindings v1alpha1.TargetBindingList
	if err := m.Reader.List(ctx, &bindings, client.InNamespace(ns)); err != nil {
		return nil, nil, fmt.Errorf("listing bindings: %w", err)
	}
	var gates []string
	var drains []drainTarget
	for i := range bindings.Items {
		b := &bindings.Items[i]
		if !b.DeletionTimestamp.IsZero() || (!b.GateEnabled() && !b.DrainWaitEnabled()) {
			continue
		}
		svc := &corev1.Service{}
		if err := m.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: b.Spec.ServiceRef.Name}, svc); err != nil {
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

// AddReadinessGates adds the gates the pod lacks and reports whether it
// added any.
func AddReadinessGates(pod *corev1.Pod, gates []string) bool {
	added := false
	for _, g := range gates {
		have := false
		for _, rg := range pod.Spec.ReadinessGates {
			if string(rg.ConditionType) == g {
				have = true
				break
			}
		}
		if !have {
			pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType(g)})
			added = true
		}
	}
	return added
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}
