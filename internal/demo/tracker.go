package demo

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// trackPoll is how often the tracker reads a backend: the resolution of the
// measured drain times.
const trackPoll = 50 * time.Millisecond

// Tracker follows one HAProxy backend and records when each target was
// drained, as HAProxy itself reports: seen absent, or out of service
// (drained, maintenance) with no session open, after having been in service.
// The backend deletes a removed server only a few seconds after putting it
// in maintenance (see haproxy.Instance.Remove); from the clients' side it is
// gone at the first step.
type Tracker struct {
	lb      loadbalancer.Instance
	backend string

	mu      sync.Mutex
	present map[netip.AddrPort]bool
	removed map[netip.AddrPort][]time.Time
	onGone  func(netip.AddrPort, time.Time)
}

// NewTracker returns a tracker of backend on lb; onGone, if set, is called
// for every removal seen.
func NewTracker(lb loadbalancer.Instance, backend string, onGone func(netip.AddrPort, time.Time)) *Tracker {
	return &Tracker{lb: lb, backend: backend, present: map[netip.AddrPort]bool{}, removed: map[netip.AddrPort][]time.Time{}, onGone: onGone}
}

// Run polls until ctx is done.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(trackPoll)
	defer tick.Stop()
	for {
		st, err := t.lb.Status(ctx, t.backend)
		now := time.Now()
		if err == nil {
			t.observe(st.Targets, now)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *Tracker) observe(targets []loadbalancer.TargetStatus, now time.Time) {
	seen := map[netip.AddrPort]bool{}
	for _, ts := range targets {
		out := (ts.State == loadbalancer.StateDrained || ts.State == loadbalancer.StateMaintenance) && ts.Sessions == 0
		if !out {
			seen[ts.Address] = true
		}
	}
	var gone []netip.AddrPort
	t.mu.Lock()
	for a := range t.present {
		if !seen[a] {
			t.removed[a] = append(t.removed[a], now)
			gone = append(gone, a)
		}
	}
	t.present = seen
	t.mu.Unlock()
	if t.onGone != nil {
		for _, a := range gone {
			t.onGone(a, now)
		}
	}
}

// RemovedAfter returns the first time addr was seen gone at or after since.
func (t *Tracker) RemovedAfter(addr netip.AddrPort, since time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, at := range t.removed[addr] {
		if !at.Before(since) {
			return at, true
		}
	}
	return time.Time{}, false
}
