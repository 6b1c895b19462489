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
		{name: "draining target of a provider that cannot count sessions waits, even past the timeout",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateDraining, loadbalancer.SessionsUnknown)}, policy: wait,
			drainStarted: map[netip.AddrPort]time.Time{addrA: t0}, now: t0.Add(time.Hour),
			register: none, drain: none, remove: none, timedOut: none},
		{name: "misconfigured leaving target is removed (it gets no traffic)",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateMisconfigured, loadbalancer.SessionsUnknown)}, policy: wait,
			register: none, drain: none, remove: []netip.AddrPort{addrA}, timedOut: none},
		{name: "leaving target in an unknown state is drained",
			observed: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateUnknown, loadbalancer.SessionsUnknown)}, policy: wait,
			register: none, drain: []netip.AddrPort{addrA}, remove: none, timedOut: none},
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
			p := PlanInstance(desired, loadbalancer.Target{}, tt.observed, tt.drainStarted, tt.now, tt.policy)
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

func TestPlanInstance_staleSettingsAreReplacedWithoutAGap(t *testing.T) {
	wait := DrainPolicy{Wait: true, Timeout: 30 * time.Second}
	fresh := loadbalancer.Target{Owner: "aaaaaaaaaa", Settings: "222222"}
	old := func(s loadbalancer.State) loadbalancer.TargetStatus {
		st := ts(addrA, s, 0)
		st.Owner, st.Settings = "aaaaaaaaaa", "111111"
		return st
	}
	cur := func(s loadbalancer.State) loadbalancer.TargetStatus {
		st := ts(addrA, s, 0)
		st.Target = loadbalancer.Target{Address: addrA, Owner: "aaaaaaaaaa", Settings: "222222"}
		return st
	}
	desired := map[netip.AddrPort]bool{addrA: true}
	tests := []struct {
		name                    string
		observed                []loadbalancer.TargetStatus
		register, drain, remove int
	}{
		{"a current target is registered beside the stale healthy one, which keeps serving",
			[]loadbalancer.TargetStatus{old(loadbalancer.StateHealthy)}, 1, 0, 0},
		{"the stale one keeps serving while its replacement is not healthy yet",
			[]loadbalancer.TargetStatus{old(loadbalancer.StateHealthy), cur(loadbalancer.StateInitial)}, 0, 0, 0},
		{"the stale one is drained once its replacement is healthy",
			[]loadbalancer.TargetStatus{old(loadbalancer.StateHealthy), cur(loadbalancer.StateHealthy)}, 0, 1, 0},
		{"a stale target that never passed is removed at once",
			[]loadbalancer.TargetStatus{old(loadbalancer.StateInitial)}, 1, 0, 1},
		{"a drained stale target is removed",
			[]loadbalancer.TargetStatus{old(loadbalancer.StateDrained), cur(loadbalancer.StateHealthy)}, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanInstance(desired, fresh, tt.observed, nil, t0, wait)
			if len(p.Register) != tt.register || len(p.Drain) != tt.drain || len(p.Remove) != tt.remove {
				t.Fatalf("plan %+v; want %d register, %d drain, %d remove", p, tt.register, tt.drain, tt.remove)
			}
			for _, r := range p.Register {
				if r != (loadbalancer.Target{Address: addrA, Owner: "aaaaaaaaaa", Settings: "222222"}) {
					t.Errorf("registers %+v; want the fresh owner and settings", r)
				}
			}
			for _, l := range append(p.Drain, p.Remove...) {
				if l.Settings != "111111" {
					t.Errorf("plan lets %+v leave; only the stale target may", l)
				}
			}
		})
	}
}

func TestCheckSettings_Tag(t *testing.T) {
	a := loadbalancer.CheckSettings{Interval: time.Second, Rise: 2, Fall: 2}
	same, b := a, a
	b.Rise = 3
	if a.Tag() != same.Tag() || a.Tag() == b.Tag() || len(a.Tag()) != loadbalancer.SettingsTagLen {
		t.Errorf("Tag: %q %q", a.Tag(), b.Tag())
	}
}
