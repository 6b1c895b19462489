package controller

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// PendingGates counts the pods whose gate is still due (carried, not True,
// pod not terminating), leaving out those in opened (set True in this
// pass), and returns the age since creation of the oldest of them at now
// (0 when none is pending).
func PendingGates(pods []*corev1.Pod, gate string, opened map[types.UID]bool, now time.Time) (int, time.Duration) {
	n, oldest := 0, time.Duration(0)
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || opened[pod.UID] || !targets.GateDue(pod, gate) {
			continue
		}
		n++
		oldest = max(oldest, now.Sub(pod.CreationTimestamp.Time))
	}
	return n, oldest
}

// HealthyEverywhere returns the targets that every instance reports
// healthy. An instance that did not answer (absent from observed) makes no
// target healthy: a pod is in service only when every instance sends it
// traffic.
func HealthyEverywhere(instances []pool.NamedInstance, observed map[string]loadbalancer.BackendStatus) map[netip.AddrPort]bool {
	if len(instances) == 0 {
		return nil
	}
	count := map[netip.AddrPort]int{}
	for _, inst := range instances {
		st, ok := observed[inst.Name]
		if !ok {
			return nil
		}
		seen := map[netip.AddrPort]bool{} // two owners' targets at one address count once
		for _, ts := range st.Targets {
			if ts.State == loadbalancer.StateHealthy && !seen[ts.Address] {
				seen[ts.Address] = true
				count[ts.Address]++
			}
		}
	}
	out := map[netip.AddrPort]bool{}
	for addr, n := range count {
		if n == len(instances) {
			out[addr] = true
		}
	}
	return out
}

// CountTargets counts a binding's targets by state across instances. A
// desired target is Healthy only if every instance says so, Unhealthy if
// any instance says so, otherwise Initial. Draining counts the targets that
// are not desired and still present on any instance.
func CountTargets(desired map[netip.AddrPort]*corev1.Pod, instances []pool.NamedInstance,
	observed map[string]loadbalancer.BackendStatus) v1alpha1.TargetCounts {
	healthy := HealthyEverywhere(instances, observed)
	unhealthy := map[netip.AddrPort]bool{}
	leaving := map[netip.AddrPort]bool{}
	for _, st := range observed {
		for _, ts := range st.Targets {
			_, want := desired[ts.Address]
			switch {
			case !want && ts.State != loadbalancer.StateAbsent:
				leaving[ts.Address] = true
			case want && ts.State == loadbalancer.StateUnhealthy:
				unhealthy[ts.Address] = true
			}
		}
	}
	c := v1alpha1.TargetCounts{Desired: int32(len(desired)), Draining: int32(len(leaving))}
	for addr := range desired {
		switch {
		case healthy[addr]:
			c.Healthy++
		case unhealthy[addr]:
			c.Unhealthy++
		default:
			c.Initial++
		}
	}
	return c
}
