package elbv2

import (
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// StateOf maps AWS's health of one target to a loadbalancer.State:
//
//	initial                       → Initial
//	healthy                       → Healthy
//	unhealthy, unhealthy.draining → Unhealthy (the reason says why)
//	draining                      → Draining
//	unused/Target.NotRegistered   → Absent (the target is not in the group)
//	unused, any other reason      → Misconfigured (Target.NotInUse: the group
//	                                is on no load balancer or the target's
//	                                zone is not enabled; Target.InvalidState;
//	                                Target.IpUnusable)
//	unavailable, or a state this
//	version does not know         → Unknown
//
// Misconfigured and Unknown never grant readiness; Misconfigured targets
// receive no traffic.
func StateOf(h types.TargetHealth) loadbalancer.State {
	switch h.State {
	case types.TargetHealthStateEnumInitial:
		return loadbalancer.StateInitial
	case types.TargetHealthStateEnumHealthy:
		return loadbalancer.StateHealthy
	case types.TargetHealthStateEnumUnhealthy, types.TargetHealthStateEnumUnhealthyDraining:
		return loadbalancer.StateUnhealthy
	case types.TargetHealthStateEnumDraining:
		return loadbalancer.StateDraining
	case types.TargetHealthStateEnumUnused:
		if h.Reason == types.TargetHealthReasonEnumNotRegistered {
			return loadbalancer.StateAbsent
		}
		return loadbalancer.StateMisconfigured
	}
	return loadbalancer.StateUnknown
}

// ReasonOf renders AWS's reason and description of a target's health as
// TargetStatus.Reason, "<reason code>: <description>"; empty when AWS gives
// neither (healthy targets).
func ReasonOf(h types.TargetHealth) string {
	desc := ""
	if h.Description != nil {
		desc = *h.Description
	}
	switch {
	case h.Reason == "":
		return desc
	case desc == "":
		return string(h.Reason)
	}
	return string(h.Reason) + ": " + desc
}

// moving reports whether a state is on its way somewhere: the poller keeps
// describing targets in it.
func moving(s loadbalancer.State) bool {
	switch s {
	case loadbalancer.StateInitial, loadbalancer.StateDraining, loadbalancer.StateUnknown:
		return true
	}
	return false
}
