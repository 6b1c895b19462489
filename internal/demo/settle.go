package demo

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// settlePoll is how often settledness is checked.
const settlePoll = 100 * time.Millisecond

// Settled decides whether a mode is at rest: the Deployment's rollout is
// complete, no pod is left over or terminating, and the backend holds
// exactly the pods' addresses, every one healthy (a server out of service
// with no session, waiting for its deletion, does not count). It returns
// why not.
func Settled(d *appsv1.Deployment, pods []corev1.Pod, backend []loadbalancer.TargetStatus) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, "deployment change not observed yet"
	case st.UpdatedReplicas != want || st.AvailableReplicas != want || st.Replicas != want:
		return false, fmt.Sprintf("deployment %d updated, %d available, %d total, want %d", st.UpdatedReplicas, st.AvailableReplicas, st.Replicas, want)
	case int32(len(pods)) != want:
		return false, fmt.Sprintf("%d pods, want %d", len(pods), want)
	}
	var addrs []netip.AddrPort
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			return false, "pod " + p.Name + " terminating"
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			return false, "pod " + p.Name + " has no IP"
		}
		addrs = append(addrs, netip.AddrPortFrom(ip, ContainerPort))
	}
	var have []netip.AddrPort
	for _, t := range backend {
		if (t.State == loadbalancer.StateMaintenance || t.State == loadbalancer.StateDrained) && t.Sessions == 0 {
			continue // out of service and idle: gone for clients, deleted a little later
		}
		if t.State != loadbalancer.StateHealthy {
			return false, fmt.Sprintf("target %s is %s", t.Address, t.State)
		}
		have = append(have, t.Address)
	}
	slices.SortFunc(addrs, netip.AddrPort.Compare)
	slices.SortFunc(have, netip.AddrPort.Compare)
	if !slices.Equal(addrs, have) {
		return false, fmt.Sprintf("backend has %v, pods are %v", have, addrs)
	}
	return true, ""
}

// settled reads mode m's state and applies Settled.
func (e *Environment) settled(ctx context.Context, m Mode) (bool, string, error) {
	d := &appsv1.Deployment{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace(), Name: AppName}, d); err != nil {
		return false, "", fmt.Errorf("reading deployment: %w", err)
	}
	pods := &corev1.PodList{}
	if err := e.Client.List(ctx, pods, client.InNamespace(m.Namespace()), client.MatchingLabels{labelApp: AppName}); err != nil {
		return false, "", fmt.Errorf("listing pods: %w", err)
	}
	st, err := e.lb.Status(ctx, m.Backend())
	if err != nil {
		return false, "", fmt.Errorf("reading HAProxy backend %s: %w", m.Backend(), err)
	}
	ok, why := Settled(d, pods.Items, st.Targets)
	return ok, why, nil
}

// waitSettled polls until mode m is settled or timeout passes.
func (e *Environment) waitSettled(ctx context.Context, m Mode, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, settlePoll, timeout, true, func(ctx context.Context) (bool, error) {
		ok, why, err := e.settled(ctx, m)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = why
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("mode %s not settled within %s (last: %s): %w", m, timeout, last, err)
	}
	return nil
}
