package drain

import (
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Action is what the handler does to one of a terminating caller's own
// targets on one instance.
type Action string

// Actions.
const (
	// ActionNone: leave the target as it is.
	ActionNone Action = ""
	// ActionDrain: stop new requests; open sessions go on.
	ActionDrain Action = "drain"
	// ActionRemove: take it out of rotation for good (HAProxy: maintenance,
	// which persistent clients do not reach either, then deletion by the
	// leader's reconciler).
	ActionRemove Action = "remove"
)

// Next decides what to do with a terminating pod's target that one
// instance reports in state s with sessions open, and whether the target is
// out of rotation for good there. Only absence, or maintenance with no
// session, is out: a draining target with no session still takes requests
// of persistent (cookie, stick-table) clients, so it is removed first. A
// target with sessions open keeps them until they end or the leader's
// reconciler enforces the binding's drain timeout (with no leader, the
// pod's own max wait bounds it).
//
// A provider that cannot count sessions reports loadbalancer.SessionsUnknown:
// then only the load balancer itself ends a drain, by no longer listing the
// target (Absent) or reporting it Drained.
func Next(s loadbalancer.State, sessions int64) (Action, bool) {
	unknown := sessions == loadbalancer.SessionsUnknown
	switch s {
	case loadbalancer.StateAbsent:
		return ActionNone, true
	case loadbalancer.StateMisconfigured:
		// The load balancer cannot send it traffic (ELBv2: target group on
		// no load balancer): nothing to drain; take it out.
		return ActionRemove, true
	case loadbalancer.StateDraining, loadbalancer.StateMaintenance:
		if unknown {
			return ActionNone, false
		}
		if s == loadbalancer.StateMaintenance {
			return ActionNone, sessions == 0
		}
		if sessions == 0 {
			return ActionRemove, false
		}
		return ActionNone, false
	case loadbalancer.StateDrained:
		return ActionRemove, false
	case loadbalancer.StateInitial:
		// Never passed its checks: no client traffic to drain.
		if sessions == 0 {
			return ActionRemove, false
		}
		return ActionDrain, false
	default: // Healthy, Unhealthy, Unknown: may have traffic.
		return ActionDrain, false
	}
}

// Verdict decides from the pod's targets whether it is drained: every
// target is out of rotation for good (see Next) on every instance. An
// instance that did not answer means not drained.
func Verdict(ts []TargetState) (bool, string) {
	if len(ts) == 0 {
		return true, ReasonNoBinding
	}
	for _, t := range ts {
		if t.Error != "" {
			return false, ReasonInstanceUnreachable
		}
	}
	for _, t := range ts {
		if _, out := Next(loadbalancer.State(t.State), t.Sessions); !out {
			return false, ReasonDraining
		}
	}
	return true, ReasonDrained
}
