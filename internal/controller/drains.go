package controller

import (
	"net/netip"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Drain bookkeeping: when this controller started draining each target,
// for the drain timeout and the drain-duration metric.

// drainStarts returns the drain start times of one instance's targets.
func (r *TargetBindingReconciler) drainStarts(s *syncState, inst string) map[netip.AddrPort]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[netip.AddrPort]time.Time{}
	for k, t := range r.drains {
		if k.lb == s.lb.Name && k.instance == inst && k.backend == s.binding.Spec.Backend && k.owner == s.owner {
			out[k.addr] = t
		}
	}
	// A target found draining without a record (controller restarted)
	// counts from now.
	for _, ts := range s.observed[inst].Targets {
		if _, ok := out[ts.Address]; !ok && ts.State == loadbalancer.StateDraining {
			k := drainKey{s.lb.Name, inst, s.binding.Spec.Backend, s.owner, ts.Address}
			r.drains[k] = s.now
			out[ts.Address] = s.now
		}
	}
	return out
}

func (r *TargetBindingReconciler) startDrains(s *syncState, inst string, ts []loadbalancer.Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		k := drainKey{s.lb.Name, inst, s.binding.Spec.Backend, s.owner, t.Address}
		if _, ok := r.drains[k]; !ok {
			r.drains[k] = s.now
		}
	}
}

func (r *TargetBindingReconciler) forgetDrains(s *syncState, inst string, ts []loadbalancer.Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		delete(r.drains, drainKey{s.lb.Name, inst, s.binding.Spec.Backend, s.owner, t.Address})
	}
}

func (r *TargetBindingReconciler) finishDrains(s *syncState, inst string, ts []loadbalancer.Target, timedOut map[netip.AddrPort]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		k := drainKey{s.lb.Name, inst, s.binding.Spec.Backend, s.owner, t.Address}
		if start, ok := r.drains[k]; ok {
			outcome := DrainOutcomeDrained
			if timedOut[t.Address] {
				outcome = DrainOutcomeTimeout
			}
			r.Metrics.DrainDuration.WithLabelValues(outcome).Observe(s.now.Sub(start).Seconds())
			delete(r.drains, k)
		}
	}
}
