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

// PlanInstance diffs the desired targets against what one instance reports
// (the binding's own targets only). New registrations are fresh with their
// address set: fresh carries the binding's owner tag and the tag of its
// current check settings. drainStarted holds when each draining target's
// drain began (as seen by this controller; a target found draining without
// an entry counts from now).
//
// A target at a desired address registered with other check settings than
// fresh's ("stale": the binding's healthCheck changed, or it predates
// settings tags) is replaced without a gap: a current one is registered
// beside it, and the stale one leaves (drained as usual) only once the
// current one is Healthy on this instance.
func PlanInstance(desired map[netip.AddrPort]bool, fresh loadbalancer.Target, observed []loadbalancer.TargetStatus,
	drainStarted map[netip.AddrPort]time.Time, now time.Time, policy DrainPolicy) Plan {
	var p Plan
	current := make(map[netip.AddrPort]loadbalancer.State, len(observed))
	var stale []loadbalancer.TargetStatus
	for _, ts := range observed {
		if desired[ts.Address] && ts.Settings == fresh.Settings {
			current[ts.Address] = ts.State
			if leavingState(ts.State) {
				p.Register = append(p.Register, ts.Target)
			}
		}
	}
	for _, ts := range observed {
		if desired[ts.Address] {
			if ts.Settings != fresh.Settings {
				stale = append(stale, ts)
			}
			continue
		}
		p.add(planLeave(ts, drainStarted, now, policy), ts.Target)
	}
	for addr, want := range desired {
		if _, ok := current[addr]; want && !ok {
			t := fresh
			t.Address = addr
			p.Register = append(p.Register, t)
		}
	}
	for _, ts := range stale {
		if (ts.State == loadbalancer.StateHealthy || ts.State == loadbalancer.StateUnhealthy) && current[ts.Address] != loadbalancer.StateHealthy {
			continue // keeps serving until its replacement does
		}
		p.add(planLeave(ts, drainStarted, now, policy), ts.Target)
	}
	for _, l := range [][]loadbalancer.Target{p.Register, p.Drain, p.Remove, p.TimedOut} {
		slices.SortFunc(l, func(a, b loadbalancer.Target) int { return a.Address.Compare(b.Address) })
	}
	return p
}

// add puts a leaving target into the plan's list for step.
func (p *Plan) add(step leaveStep, t loadbalancer.Target) {
	switch step {
	case leaveDrain:
		p.Drain = append(p.Drain, t)
	case leaveRemove:
		p.Remove = append(p.Remove, t)
	case leaveTimeout:
		p.Remove = append(p.Remove, t)
		p.TimedOut = append(p.TimedOut, t)
	}
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
	case loadbalancer.StateDrained, loadbalancer.StateMaintenance, loadbalancer.StateMisconfigured:
		// Misconfigured: the load balancer cannot send it traffic anyway.
		return leaveRemove
	case loadbalancer.StateDraining:
		if ts.Sessions == loadbalancer.SessionsUnknown {
			// The provider cannot count sessions (ELBv2): the load balancer
			// ends the drain itself, on its own delay; removing it early is
			// not ours to do, and there is nothing to time out.
			return leaveWait
		}
		if !policy.Wait || ts.Sessions == 0 {
			return leaveRemove
		}
		start, ok := drainStarted[ts.Address]
		if ok && now.Sub(start) >= policy.Timeout {
			return leaveTimeout
		}
		return leaveWait
	default: // Healthy, Unhealthy, Unknown: may have traffic.
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
