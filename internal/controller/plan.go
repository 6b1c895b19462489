package controller

import (
	"net/netip"
	"slices"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Plan is what one instance must be told so that its targets match the
// desired set: plan first, from the API's desired targets and the instance's
// own report, then apply. Because the plan is recomputed from both sides on
// every pass, a restarted controller or load balancer converges by itself.
type Plan struct {
	// Register puts targets in service (adds absent ones, re-enables ones
	// that are draining or in maintenance).
	Register []loadbalancer.Target
	// Drain stops new requests to targets that leave service.
	Drain []loadbalancer.Target
	// Remove takes targets out of the backend.
	Remove []loadbalancer.Target
	// TimedOut lists the removed targets whose drain hit the timeout with
	// sessions still open.
	TimedOut []loadbalancer.Target
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Register) == 0 && len(p.Drain) == 0 && len(p.Remove) == 0
}

// DrainPolicy says how targets leave service.
type DrainPolicy struct {
	// Wait drains a leaving target before removing it; without it the
	// target is removed at once (a plain endpoint sync).
	Wait bool
	// Timeout bounds how long a draining target may keep sessions open.
	Timeout time.Duration
}

// PlanInstance diffs the desired targets against what one instance reports.
// drainStarted holds when each draining target's drain began (as seen by this
// controller; a target found draining without an entry counts from now).
func PlanInstance(desired map[netip.AddrPort]bool, observed []loadbalancer.TargetStatus,
	drainStarted map[netip.AddrPort]time.Time, now time.Time, policy DrainPolicy) Plan {
	var p Plan
	seen := make(map[netip.AddrPort]bool, len(observed))
	for _, ts := range observed {
		seen[ts.Address] = true
		if desired[ts.Address] {
			if leavingState(ts.State) {
				p.Register = append(p.Register, ts.Target)
			}
			continue
		}
		switch leave := planLeave(ts, drainStarted, now, policy); leave {
		case leaveDrain:
			p.Drain = append(p.Drain, ts.Target)
		case leaveRemove:
			p.Remove = append(p.Remove, ts.Target)
		case leaveTimeout:
			p.Remove = append(p.Remove, ts.Target)
			p.TimedOut = append(p.TimedOut, ts.Target)
		}
	}
	for addr, want := range desired {
		if want && !seen[addr] {
			p.Register = append(p.Register, loadbalancer.Target{Address: addr})
		}
	}
	for _, l := range [][]loadbalancer.Target{p.Register, p.Drain, p.Remove, p.TimedOut} {
		slices.SortFunc(l, func(a, b loadbalancer.Target) int { return a.Address.Compare(b.Address) })
	}
	return p
}

// leaveStep is the next step of a target that is no longer desired.
type leaveStep int

const (
	leaveWait leaveStep = iota
	leaveDrain
	leaveRemove
	leaveTimeout
)

// planLeave decides the next step of one target that is no longer desired.
func planLeave(ts loadbalancer.TargetStatus, drainStarted map[netip.AddrPort]time.Time,
	now time.Time, policy DrainPolicy) leaveStep {
	switch ts.State {
	case loadbalancer.StateAbsent:
		return leaveWait
	case loadbalancer.StateInitial:
		// Never passed its checks, so never had client traffic to drain.
		return leaveRemove
	case loadbalancer.StateDrained, loadbalancer.StateMaintenance:
		return leaveRemove
	case loadbalancer.StateDraining:
		if !policy.Wait || ts.Sessions == 0 {
			return leaveRemove
		}
		start, ok := drainStarted[ts.Address]
		if ok && now.Sub(start) >= policy.Timeout {
			return leaveTimeout
		}
		return leaveWait
	default: // Healthy, Unhealthy: may have traffic.
		if !policy.Wait {
			return leaveRemove
		}
		return leaveDrain
	}
}

// leavingState reports whether a target in state s is on its way out of
// service and must be registered again if it is desired.
func leavingState(s loadbalancer.State) bool {
	return s == loadbalancer.StateDraining || s == loadbalancer.StateDrained || s == loadbalancer.StateMaintenance
}
