package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
)

// Reporting a terminating pod's drain on the pod itself (condition
// v1alpha1.DrainConditionType), so `zerodrop status` and `kubectl describe
// pod` can say which instance still holds it without reaching the load
// balancer.

// MinDrainReportInterval is how often at most a pod's drain condition is
// patched when only its session counts change, so a long drain of many
// pods does not flood the API server.
const MinDrainReportInterval = time.Second

// Words of the drain condition's message for what an instance reports.
const (
	drainWordRemoved     = "Removed"
	drainWordUnreachable = "unreachable"
)

// DrainProgress says where the drain of the target at addr stands on each
// instance: drained is true when every instance has it out of rotation for
// good (drain.Next), and message names each instance's state with its
// session count where the provider counts them: "i0: Draining, 3
// sessions; i1: Removed". An instance missing from observed did not answer
// and is not drained.
func DrainProgress(addr netip.AddrPort, instances []pool.NamedInstance, observed map[string]loadbalancer.BackendStatus) (drained bool, message string) {
	drained = true
	parts := make([]string, 0, len(instances))
	for _, inst := range instances {
		st, ok := observed[inst.Name]
		if !ok {
			drained = false
			parts = append(parts, inst.Name+": "+drainWordUnreachable)
			continue
		}
		word, out := drainWordRemoved, true
		for _, ts := range st.Targets {
			if ts.Address != addr || ts.State == loadbalancer.StateAbsent {
				continue
			}
			_, tsOut := drain.Next(ts.State, ts.Sessions)
			if !out && tsOut {
				continue // report the target still holding on
			}
			word, out = string(ts.State), tsOut
			if ts.Sessions != loadbalancer.SessionsUnknown {
				word += fmt.Sprintf(", %d sessions", ts.Sessions)
			}
		}
		if !out {
			drained = false
		}
		parts = append(parts, inst.Name+": "+word)
	}
	return drained, strings.Join(parts, "; ")
}

// sessionCounts matches the session counts of a drain message.
var sessionCounts = regexp.MustCompile(`, [0-9]+ sessions`)

// DrainReportDue decides whether a pod's drain condition, now existing
// (nil when absent), is patched to status and message at now: when
// anything but the session counts changed, at once; when only the counts
// changed, at most once per MinDrainReportInterval (measured from the
// condition's lastProbeTime, the time of its last write).
func DrainReportDue(existing *corev1.PodCondition, status corev1.ConditionStatus, message string, now time.Time) bool {
	switch {
	case existing == nil || existing.Status != status:
		return true
	case existing.Message == message:
		return false
	case sessionCounts.ReplaceAllString(existing.Message, "") != sessionCounts.ReplaceAllString(message, ""):
		return true
	}
	return now.Sub(existing.LastProbeTime.Time) >= MinDrainReportInterval
}

// reportDrains writes the drain condition on each selected pod that is
// terminating (see DrainProgress and DrainReportDue). A failed patch is
// logged and the pass goes on: the report never holds up the drain.
func (r *TargetBindingReconciler) reportDrains(ctx context.Context, s *syncState) error {
	if s.managesNothing() {
		return nil // the targets are someone else's; the drain endpoint answers the pod
	}
	typ := corev1.PodConditionType(v1alpha1.DrainConditionType(s.binding.Name))
	for _, pod := range s.selected {
		if pod.DeletionTimestamp == nil {
			continue
		}
		addr, ok := s.sel.Address(pod)
		if !ok {
			continue
		}
		drained, msg := DrainProgress(addr, s.instances, s.observed)
		var existing *corev1.PodCondition
		for i := range pod.Status.Conditions {
			if pod.Status.Conditions[i].Type == typ {
				existing = &pod.Status.Conditions[i]
			}
		}
		cond := corev1.PodCondition{Type: typ, Status: corev1.ConditionFalse, Reason: v1alpha1.ReasonDraining, Message: msg,
			LastProbeTime: metav1.NewTime(s.now)}
		if drained {
			cond.Status, cond.Reason = corev1.ConditionTrue, v1alpha1.ReasonDrained
		}
		if !DrainReportDue(existing, cond.Status, msg, s.now) {
			continue
		}
		switch {
		case existing != nil && existing.Status == cond.Status:
			cond.LastTransitionTime = existing.LastTransitionTime
		case drained:
			cond.LastTransitionTime = metav1.NewTime(s.now)
		default:
			cond.LastTransitionTime = metav1.NewTime(r.drainStart(s, addr))
		}
		if err := patchPodCondition(ctx, r.Client, pod, cond); err != nil {
			log.FromContext(ctx).Error(err, "drain condition not written", "pod", pod.Name)
		}
	}
	return nil
}

// drainStart returns when this controller started draining the target at
// addr, the earliest over the instances, or the pass's time when it has
// no record (the drain endpoint started it, or this pass does).
func (r *TargetBindingReconciler) drainStart(s *syncState, addr netip.AddrPort) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := s.now
	for k, t := range r.drains {
		if k.lb == s.lb.Name && k.backend == s.binding.Spec.Backend && k.owner == s.owner && k.addr == addr && t.Before(start) {
			start = t
		}
	}
	return start
}

// patchPodCondition writes one condition of pod with a strategic merge
// patch on the status subresource, so the kubelet's own conditions are
// never overwritten. The patch carries the pod's UID, which the API server
// checks (ErrPodReplaced); a pod that is gone is not an error.
func patchPodCondition(ctx context.Context, c client.Client, pod *corev1.Pod, cond corev1.PodCondition) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   map[string]any{"conditions": []corev1.PodCondition{cond}},
	})
	if err != nil {
		return fmt.Errorf("encoding condition %s: %w", cond.Type, err)
	}
	err = c.Status().Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, body))
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err) || apierrors.IsInvalid(err):
		return fmt.Errorf("%w: pod %s is not the one read (UID %s)", ErrPodReplaced, pod.Name, pod.UID)
	default:
		return fmt.Errorf("setting condition %s on pod %s: %w", cond.Type, pod.Name, err)
	}
}
