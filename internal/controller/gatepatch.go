package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// Setting gates True, and releasing gates nobody else will set.

// setGateTrue patches one pod's gate condition True (see PatchGateTrue).
func (r *TargetBindingReconciler) setGateTrue(ctx context.Context, pod *corev1.Pod, gate, reason string) error {
	if err := PatchGateTrue(ctx, r.Client, pod, gate, reason, r.now()); err != nil {
		return err
	}
	log.FromContext(ctx).V(1).Info("gate set", "pod", pod.Name, "reason", reason)
	return nil
}

// PatchGateTrue sets the readiness-gate condition gate of pod True. A
// strategic merge patch on the status subresource touches only this
// condition, so the kubelet's own conditions are never overwritten. The
// patch carries the pod's UID, which the API server checks: a pod deleted
// and created again under the same name (a StatefulSet's) is never given
// the gate meant for its predecessor. A pod that is gone, or is another
// pod by now, is not an error.
func PatchGateTrue(ctx context.Context, c client.Client, pod *corev1.Pod, gate, reason string, now time.Time) error {
	patch := fmt.Sprintf(`{"metadata":{"uid":%q},"status":{"conditions":[{"type":%q,"status":"True","reason":%q,"lastTransitionTime":%q}]}}`,
		pod.UID, gate, reason, now.UTC().Format(time.RFC3339))
	err := c.Status().Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, []byte(patch)))
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err) || apierrors.IsInvalid(err):
		return fmt.Errorf("%w: pod %s is not the one read (UID %s)", ErrPodReplaced, pod.Name, pod.UID)
	default:
		return fmt.Errorf("setting gate on pod %s: %w", pod.Name, err)
	}
}

// ErrPodReplaced says a pod was deleted and created again under the same
// name between reading it and patching it.
var ErrPodReplaced = errors.New("pod was replaced")

// releaseOrphanedGates sets True the gate of binding key on every pod that
// carries it while the binding does not exist (its finalizer was stripped,
// or the pod was admitted while the binding was being deleted), so no pod
// is held back by a gate nobody will set; each release is an event on the
// pod. It also forgets the binding's metric series and bookkeeping.
func (r *TargetBindingReconciler) releaseOrphanedGates(ctx context.Context, key types.NamespacedName) error {
	r.forget(key)
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(key.Namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	gate := v1alpha1.GateConditionType(key.Name)
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !targets.GateDue(pod, gate) {
			continue
		}
		if err := r.setGateTrue(ctx, pod, gate, "BindingNotFound"); err != nil && !errors.Is(err, ErrPodReplaced) {
			return err
		}
		r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, EventGateReleased, "ReleaseGate",
			"TargetBinding %s does not exist; readiness gate %s set True so the pod is not held back", key.Name, gate)
	}
	return nil
}

// forget drops what the controller keeps about a binding that is gone: its
// metric series and its last reported sets.
func (r *TargetBindingReconciler) forget(key types.NamespacedName) {
	r.Metrics.Targets.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "binding": key.Name})
	r.Metrics.PodsMissingGate.DeleteLabelValues(key.Namespace, key.Name)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.missing, key)
	delete(r.conflicts, key)
}
