package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// What a pass reports beyond counts: pods missing their gate or drain wait,
// address conflicts, and the events that announce changes in them.

// reportMissingGates lists selected pods that lack the gate (recording an
// event when that list changes) and those the webhook could not give a
// drain wait.
func (r *TargetBindingReconciler) reportMissingGates(_ context.Context, s *syncState) error {
	b := s.binding
	var missing, noWait []string
	for _, pod := range s.selected {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if b.GateEnabled() && !targets.HasReadinessGate(pod, v1alpha1.GateConditionType(b.Name)) {
			missing = append(missing, pod.Name)
		}
		if r.DrainInjection && b.DrainWaitEnabled() && pod.Annotations[v1alpha1.AnnotationDrainWait] != v1alpha1.DrainWaitInjected {
			noWait = append(noWait, pod.Name)
		}
	}
	b.Status.PodsMissingGate, b.Status.PodsMissingGateCount = podList(missing)
	b.Status.PodsWithoutDrainWait, b.Status.PodsWithoutDrainWaitCount = podList(noWait)
	r.Metrics.PodsMissingGate.WithLabelValues(b.Namespace, b.Name).Set(float64(len(missing)))
	if r.changed(r.missing, b, fmt.Sprint(b.Status.PodsMissingGate, len(missing))) && len(missing) > 0 {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, EventPodsMissingGate, "Sync",
			"%d selected pods lack readiness gate %s (created before the binding or while the webhook was down); roll the workload to add it",
			len(missing), v1alpha1.GateConditionType(b.Name))
	}
	return nil
}

// AWSControllerGatePrefix begins the readiness gates the AWS Load Balancer
// Controller injects ("target-health.elbv2.k8s.aws/<TargetGroupBinding>").
const AWSControllerGatePrefix = "target-health.elbv2.k8s.aws/"

// reportForeignGates records an event when the binding's pods start
// carrying the AWS Load Balancer Controller's own readiness gate: beside a
// binding in mode Observe both gates hold the pod, each on its own reading
// of the same target health (docs/providers/elbv2.md); beside one in mode
// Manage the two controllers may fight over one target group, since the
// AWS controller deregisters targets it does not know.
func (r *TargetBindingReconciler) reportForeignGates(_ context.Context, s *syncState) error {
	var gates []string
	for _, pod := range s.selected {
		for _, g := range pod.Spec.ReadinessGates {
			if strings.HasPrefix(string(g.ConditionType), AWSControllerGatePrefix) {
				gates = append(gates, string(g.ConditionType))
			}
		}
	}
	slices.Sort(gates)
	gates = slices.Compact(gates)
	if !r.changed(r.foreignGates, s.binding, fmt.Sprint(gates)) || len(gates) == 0 {
		return nil
	}
	if s.binding.Observes() {
		r.Recorder.Eventf(s.binding, nil, corev1.EventTypeNormal, EventAWSControllerGate, "Sync",
			"pods also carry the AWS Load Balancer Controller's readiness gate %s: both gates must be True, and zerodrop adds the drain wait", strings.Join(gates, ", "))
		return nil
	}
	r.Recorder.Eventf(s.binding, nil, corev1.EventTypeWarning, EventAWSControllerGate, "Sync",
		"pods also carry the AWS Load Balancer Controller's readiness gate %s: if its TargetGroupBinding registers into backend %s, set spec.mode: Observe here (the AWS controller deregisters targets it does not know)",
		strings.Join(gates, ", "), s.binding.Spec.Backend)
	return nil
}

// podList returns the first MaxListedPods names, sorted, as references,
// and how many there are in all.
func podList(names []string) ([]v1alpha1.PodReference, int32) {
	slices.Sort(names)
	var out []v1alpha1.PodReference
	for _, n := range names[:min(len(names), v1alpha1.MaxListedPods)] {
		out = append(out, v1alpha1.PodReference{Name: n})
	}
	return out, int32(len(names))
}

// someOf joins the first few items and says how many more there are, for
// condition messages and events that must stay short.
func someOf(items []string) string {
	const most = 5
	if len(items) <= most {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:most], "; "), len(items)-most)
}

// reportConflicts records an event when the binding's address conflicts
// change; summarize writes them into the ConflictFree condition.
func (r *TargetBindingReconciler) reportConflicts(_ context.Context, s *syncState) error {
	if r.changed(r.conflicts, s.binding, fmt.Sprint(s.conflicts)) && len(s.conflicts) > 0 {
		r.Recorder.Eventf(s.binding, nil, corev1.EventTypeWarning, EventAddressConflict, "Sync",
			"%d target addresses are also wanted by another owner in backend %s: %s",
			len(s.conflicts), s.binding.Spec.Backend, someOf(s.conflicts))
	}
	return nil
}

// changed records v as the binding's last value in m and reports whether
// it differs from the one before.
func (r *TargetBindingReconciler) changed(m map[types.NamespacedName]string, b *v1alpha1.TargetBinding, v string) bool {
	key := types.NamespacedName{Namespace: b.Namespace, Name: b.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, seen := m[key]
	m[key] = v
	return !seen || old != v
}
