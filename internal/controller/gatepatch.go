package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
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
	return patchGate(ctx, c, pod, gate, corev1.ConditionTrue, reason, "every load-balancer instance reports the target healthy", now)
}

// patchGate writes the pod's gate condition (see PatchGateTrue); since is
// its lastTransitionTime.
func patchGate(ctx context.Context, c client.Client, pod *corev1.Pod, gate string, status corev1.ConditionStatus, reason, message string, since time.Time) error {
	return patchPodCondition(ctx, c, pod, corev1.PodCondition{Type: corev1.PodConditionType(gate), Status: status, Reason: reason,
		Message: message, LastTransitionTime: metav1.NewTime(since)})
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
	if err := r.List(ctx, &pods, client.InNamespace(key.Namespace), client.MatchingFields{IndexPodGate: key.Name}); err != nil {
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
	for _, g := range []*prometheus.GaugeVec{r.Metrics.PodsMissingGate, r.Metrics.GatesPending, r.Metrics.PendingOldest, r.Metrics.CheckInterval} {
		g.DeleteLabelValues(key.Namespace, key.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.missing, key)
	delete(r.conflicts, key)
	delete(r.foreignGates, key)
}

// explainPending writes, on each gated pod whose target is not yet healthy
// everywhere, why: its gate condition False with reason TargetNotHealthy
// and each instance's state in the message (PendingMessage), so `kubectl
// describe pod` shows which instance holds it back and since when. A pod is
// patched only when the message changes.
func (r *TargetBindingReconciler) explainPending(ctx context.Context, s *syncState, gate string) error {
	for addr, pod := range s.desired {
		if s.healthy[addr] || !targets.GateDue(pod, gate) {
			continue
		}
		msg := PendingMessage(addr, s.instances, s.view, s.yield[addr])
		since := r.now()
		for _, c := range pod.Status.Conditions {
			if string(c.Type) != gate {
				continue
			}
			if c.Status == corev1.ConditionFalse && c.Reason == ReasonTargetNotHealthy && c.Message == msg {
				msg = "" // already says so
			} else if c.Status == corev1.ConditionFalse {
				since = c.LastTransitionTime.Time
			}
		}
		if msg == "" {
			continue
		}
		if err := patchGate(ctx, r.Client, pod, gate, corev1.ConditionFalse, ReasonTargetNotHealthy, msg, since); err != nil && !errors.Is(err, ErrPodReplaced) {
			return err
		}
	}
	return nil
}

// ReasonTargetNotHealthy is the reason of a pending gate condition.
const ReasonTargetNotHealthy = "TargetNotHealthy"

// PendingMessage says, instance by instance, where the target at addr
// stands: "i0: Healthy; i1: Initial (health checks have not passed yet)".
// An instance missing from view did not answer. yieldedTo, when set, names
// the other owner whose target at addr the gate follows.
func PendingMessage(addr netip.AddrPort, instances []pool.NamedInstance, view map[string]loadbalancer.BackendStatus, yieldedTo string) string {
	parts := make([]string, 0, len(instances))
	for _, inst := range instances {
		st, ok := view[inst.Name]
		if !ok {
			parts = append(parts, inst.Name+": unreachable")
			continue
		}
		state, reason := loadbalancer.StateAbsent, ""
		for _, ts := range st.Targets {
			if ts.Address == addr && (state != loadbalancer.StateHealthy) {
				state, reason = ts.State, ts.Reason
			}
		}
		hint := pendingHint(state)
		if reason != "" {
			hint = " (" + reason + ")" // the provider's own words
		}
		parts = append(parts, inst.Name+": "+string(state)+hint)
	}
	msg := "target " + addr.String() + " not healthy on every instance: " + strings.Join(parts, "; ")
	if yieldedTo != "" {
		msg += " (the address is registered by " + yieldedTo + ")"
	}
	return msg
}

func pendingHint(s loadbalancer.State) string {
	switch s {
	case loadbalancer.StateInitial:
		return " (health checks have not passed yet)"
	case loadbalancer.StateUnhealthy:
		return " (failing its health checks)"
	case loadbalancer.StateAbsent:
		return " (not registered yet)"
	case loadbalancer.StateMisconfigured:
		return " (the load balancer cannot send it traffic: check its configuration)"
	}
	return ""
}
