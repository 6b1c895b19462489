package controller

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

var (
	addrA = netip.MustParseAddrPort("127.1.0.1:8080")
	addrB = netip.MustParseAddrPort("127.1.0.2:8080")
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func ts(a netip.AddrPort, s loadbalancer.State, sessions int64) loadbalancer.TargetStatus {
	return loadbalancer.TargetStatus{Target: loadbalancer.Target{Address: a}, State: s, Sessions: sessions}
}

func addrs(ts []loadbalancer.Target) []netip.AddrPort {
	out := []netip.AddrPort{}
	for _, t := range ts {
		out = append(out, t.Address)
	}
	return out
}

func TestPlanInstance(t *testing.T) {
	wait := DrainPolicy{Wait: true, Timeout: 30 * time.Second}
	noWait := DrainPolicy{Wait: false, Timeout: 30 * time.Second}
	none := []netip.AddrPort{}
	tests := []struct {
		name                    string
		desired                 []netip.AddrPort
		observed                []loadbalancer.TargetStatus
		drainStarted            map[netip.AddrPort]time.Time
		now                     time.Time
		policy                  DrainPolicy
		register, drain, remove []netip.AddrPort
		timedOut                []netip.AddrPort
	}{
		{name: "absent desired target is registered", desired: []netip.AddrPort{addrA}, policy: wait,
			register: []netip.AddrPort{addrA}, drain: none, remove: none, timedOut: none},
		{name: "present desired targets are left alone in every serving state", desired: []netip.AddrPort{addrA, addrB},
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateInitial, 0), ts(addrB, loadbalancer.StateUnhealthy, 0)}, policy: wait,
			register: none, drain: none, remove: none, timedOut: none},
		{name: "desired target found draining is put back in service", desired: []netip.AddrPort{addrA},
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateDraining, 3)}, policy: wait,
			register: []netip.AddrPort{addrA}, drain: none, remove: none, timedOut: none},
		{name: "healthy leaving target is drained when drain wait is on",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 2)}, policy: wait,
			register: none, drain: []netip.AddrPort{addrA}, remove: none, timedOut: none},
		{name: "healthy leaving target is removed at once when drain wait is off",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 2)}, policy: noWait,
			register: none, drain: none, remove: []netip.AddrPort{addrA}, timedOut: none},
		{name: "leaving target that never passed its checks is removed without draining",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateInitial, 0)}, policy: wait,
			register: none, drain: none, remove: []netip.AddrPort{addrA}, timedOut: none},
		{name: "draining target with sessions waits within the timeout",
			observed:     []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateDraining, 1)},
			drainStarted: map[netip.AddrPort]time.Time{addrA: t0}, now: t0.Add(29 * time.Second), policy: wait,
			register: none, drain: none, remove: none, timedOut: none},
		{name: "draining target with sessions is removed at the timeout and reported",
			observed:     []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateDraining, 1)},
			drainStarted: map[netip.AddrPort]time.Time{addrA: t0}, now: t0.Add(30 * time.Second), policy: wait,
			register: none, drain: none, remove: []netip.AddrPort{addrA}, timedOut: []netip.AddrPort{addrA}},
		{name: "drained target is removed",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateDrained, 0)}, policy: wait,
			register: none, drain: none, remove: []netip.AddrPort{addrA}, timedOut: none},
		{name: "draining target whose sessions reached zero is removed",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateDraining, 0)}, policy: wait,
			register: none, drain: none, remove: []netip.AddrPort{addrA}, timedOut: none},
		{name: "target in maintenance that is not desired is removed",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateMaintenance, 0)}, policy: wait,
			register: none, drain: none, remove: []netip.AddrPort{addrA}, timedOut: none},
		{name: "after a load-balancer restart every desired target is registered again",
			desired: []netip.AddrPort{addrB, addrA}, policy: wait,
			register: []netip.AddrPort{addrA, addrB}, drain: none, remove: none, timedOut: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := map[netip.AddrPort]bool{}
			for _, a := range tt.desired {
				desired[a] = true
			}
			p := PlanInstance(desired, tt.observed, tt.drainStarted, tt.now, tt.policy)
			for _, c := range []struct {
				what      string
				got, want []netip.AddrPort
			}{{"register", addrs(p.Register), tt.register}, {"drain", addrs(p.Drain), tt.drain},
				{"remove", addrs(p.Remove), tt.remove}, {"timedOut", addrs(p.TimedOut), tt.timedOut}} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}
