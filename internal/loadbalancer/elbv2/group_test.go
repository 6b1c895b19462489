package elbv2

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

const testARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/0123456789abcdef"

var (
	addrA = netip.MustParseAddrPort("10.0.0.1:8080")
	addrB = netip.MustParseAddrPort("10.0.0.2:8080")
	addrC = netip.MustParseAddrPort("10.0.0.3:8080")
)

// testSchedule are the timings of the scheduling tests.
func testSchedule() schedule {
	return schedule{interval: 2 * time.Second, unhealthyEvery: 10 * time.Second, resync: 10 * time.Minute,
		expectFor: 10 * time.Minute, registrationGrace: 10 * time.Second}
}

// settledGroup returns a group described in full at its resync slot t0
// (so its next resync is t0 + 10m), with a healthy target at addrA.
func settledGroup() (*group, time.Time) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	g := newGroup(testARN, base)
	g.full = base
	t0 := g.resyncAt(testSchedule().resync)
	g.full, g.described, g.used = t0, t0, t0
	g.view[addrA] = observed{state: loadbalancer.StateHealthy, seen: t0}
	return g, t0
}

func TestGroup_next(t *testing.T) {
	s := testSchedule()
	sec := func(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }
	cases := []struct {
		name  string
		setup func(g *group, t0 time.Time)
		// at is relative to t0; addrs nil with full means a full describe.
		at    time.Duration
		full  bool
		addrs []netip.AddrPort
	}{
		{"settled: only the resync slot", func(*group, time.Time) {}, 10 * time.Minute, true, nil},
		{"never described: at once, in full", func(g *group, t0 time.Time) {
			g.described, g.full, g.used = time.Time{}, time.Time{}, t0.Add(sec(1))
		}, sec(1), true, nil},
		{"registered: one interval after the call, only that target", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
		}, sec(7), false, []netip.AddrPort{addrB}},
		{"registered: not before it can have passed its checks", func(g *group, t0 time.Time) {
			g.healthyAfter, g.checksAt = 8*time.Second, t0
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
		}, sec(13), false, []netip.AddrPort{addrB}},
		{"registered, checks shorter than the interval: one interval", func(g *group, t0 time.Time) {
			g.healthyAfter, g.checksAt = sec(1), t0
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
		}, sec(7), false, []netip.AddrPort{addrB}},
		{"membership unknown: the moving target's describe is a full one", func(g *group, t0 time.Time) {
			g.full = time.Time{}
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
		}, sec(7), true, nil},
		{"our own deregistration: not before the delay has passed", func(g *group, t0 time.Time) {
			g.delay, g.infoAt = 30*time.Second, t0
			g.deregistered(t0.Add(sec(5)), []netip.AddrPort{addrA})
		}, sec(35), false, []netip.AddrPort{addrA}},
		{"delay unknown: draining is described every interval", func(g *group, t0 time.Time) {
			g.deregistered(t0.Add(sec(5)), []netip.AddrPort{addrA})
		}, sec(7), false, []netip.AddrPort{addrA}},
		{"drain start unknown: every interval", func(g *group, t0 time.Time) {
			g.delay, g.infoAt = 30*time.Second, t0
			g.view[addrB] = observed{state: loadbalancer.StateDraining, seen: t0.Add(sec(3))}
		}, sec(5), false, []netip.AddrPort{addrB}},
		{"registered but failing checks: the slow cadence", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
			g.view[addrB] = observed{state: loadbalancer.StateUnhealthy, seen: t0.Add(sec(8))}
		}, sec(18), false, []netip.AddrPort{addrB}},
		{"unhealthy and nobody waits: settled", func(g *group, t0 time.Time) {
			g.view[addrB] = observed{state: loadbalancer.StateUnhealthy, seen: t0.Add(sec(8))}
		}, 10 * time.Minute, true, nil},
		{"unavailable: every interval", func(g *group, t0 time.Time) {
			g.view[addrB] = observed{state: loadbalancer.StateUnknown, seen: t0.Add(sec(8))}
		}, sec(10), false, []netip.AddrPort{addrB}},
		{"expect on a target last seen long ago: at once", func(g *group, t0 time.Time) {
			g.expect(t0.Add(time.Minute), []netip.AddrPort{addrA})
		}, time.Minute, false, []netip.AddrPort{addrA}},
		{"expect on an unknown target: at once", func(g *group, t0 time.Time) {
			g.expect(t0.Add(time.Minute), []netip.AddrPort{addrC})
		}, time.Minute, false, []netip.AddrPort{addrC}},
		{"expect again after a describe listed it: one interval later", func(g *group, t0 time.Time) {
			g.pending[addrC] = pending{want: wantAny, since: t0.Add(time.Minute), checked: t0.Add(time.Minute + sec(1))}
		}, time.Minute + sec(3), false, []netip.AddrPort{addrC}},
		{"targets due within half an interval share a describe", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
			g.registered(t0.Add(sec(5.5)), []netip.AddrPort{addrC})
			g.delay, g.infoAt = 30*time.Second, t0
			g.deregistered(t0.Add(sec(5)), []netip.AddrPort{addrA})
		}, sec(7), false, []netip.AddrPort{addrB, addrC}},
		{"the resync slot comes first: a full describe", func(g *group, t0 time.Time) {
			g.delay, g.infoAt = time.Hour, t0
			g.deregistered(t0.Add(sec(5)), []netip.AddrPort{addrA})
		}, 10 * time.Minute, true, nil},
		{"after an error: one interval later, in full", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
			g.failed(t0.Add(sec(7)), errTest)
		}, sec(9), true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, t0 := settledGroup()
			c.setup(g, t0)
			got := g.next(s)
			if want := t0.Add(c.at); !got.at.Equal(want) || got.full != c.full || !slices.Equal(got.addrs, c.addrs) {
				t.Errorf("next = {at: t0%+v, full: %v, addrs: %v}, want {at: t0%+v, full: %v, addrs: %v}",
					got.at.Sub(t0), got.full, got.addrs, c.at, c.full, c.addrs)
			}
		})
	}
}

type testError struct{}

func (testError) Error() string { return "test error" }

var errTest error = testError{}

func TestGroup_prune(t *testing.T) {
	s := testSchedule()
	g, t0 := settledGroup()
	g.expect(t0, []netip.AddrPort{addrB})
	g.registered(t0.Add(time.Minute), []netip.AddrPort{addrC})
	g.prune(t0.Add(s.expectFor), s)
	if _, ok := g.pending[addrB]; ok {
		t.Error("an expect older than expectFor is still pending")
	}
	if _, ok := g.pending[addrC]; !ok {
		t.Error("a registration younger than expectFor is no longer pending")
	}
}

func TestGroup_apply(t *testing.T) {
	s := testSchedule()
	sec := func(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }
	type want struct {
		state     loadbalancer.State // StateAbsent: not in the view
		pending   bool
		drainFrom time.Duration // relative to t0; -1: zero
	}
	healthy := func(a netip.AddrPort) describedTarget {
		return describedTarget{addr: a, state: loadbalancer.StateHealthy}
	}
	cases := []struct {
		name    string
		setup   func(g *group, t0 time.Time)
		started time.Duration
		full    bool
		listed  []netip.AddrPort
		got     []describedTarget
		want    map[netip.AddrPort]want
	}{
		{"full describe: targets it does not list are gone", func(*group, time.Time) {},
			sec(10), true, nil, []describedTarget{healthy(addrB)},
			map[netip.AddrPort]want{addrA: {state: loadbalancer.StateAbsent}, addrB: {state: loadbalancer.StateHealthy, drainFrom: -1}}},
		{"partial describe: NotRegistered and unlisted targets are gone, others stay", func(g *group, t0 time.Time) {
			g.view[addrB] = observed{state: loadbalancer.StateInitial, seen: t0}
			g.view[addrC] = observed{state: loadbalancer.StateInitial, seen: t0}
		}, sec(10), false, []netip.AddrPort{addrB, addrC}, []describedTarget{{addr: addrB, state: loadbalancer.StateAbsent}},
			map[netip.AddrPort]want{addrA: {state: loadbalancer.StateHealthy, drainFrom: -1}, addrB: {state: loadbalancer.StateAbsent}, addrC: {state: loadbalancer.StateAbsent}}},
		{"registered and healthy: settled", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(1)), []netip.AddrPort{addrB})
		}, sec(10), false, []netip.AddrPort{addrB}, []describedTarget{healthy(addrB)},
			map[netip.AddrPort]want{addrB: {state: loadbalancer.StateHealthy, drainFrom: -1}}},
		{"registered and not listed yet, within the grace: still initial", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(1)), []netip.AddrPort{addrB})
		}, sec(2), false, []netip.AddrPort{addrB}, nil,
			map[netip.AddrPort]want{addrB: {state: loadbalancer.StateInitial, pending: true, drainFrom: -1}}},
		{"registered and not listed after the grace: absent, still waited on", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(1)), []netip.AddrPort{addrB})
		}, sec(20), false, []netip.AddrPort{addrB}, nil,
			map[netip.AddrPort]want{addrB: {state: loadbalancer.StateAbsent, pending: true}}},
		{"a describe that began before our own call changes nothing", func(g *group, t0 time.Time) {
			g.registered(t0.Add(sec(5)), []netip.AddrPort{addrB})
		}, sec(4), true, nil, []describedTarget{healthy(addrA)},
			map[netip.AddrPort]want{addrB: {state: loadbalancer.StateInitial, pending: true, drainFrom: -1}}},
		{"our deregistration: draining keeps its start and waits", func(g *group, t0 time.Time) {
			g.deregistered(t0.Add(sec(5)), []netip.AddrPort{addrA})
		}, sec(8), false, []netip.AddrPort{addrA}, []describedTarget{{addr: addrA, state: loadbalancer.StateDraining}},
			map[netip.AddrPort]want{addrA: {state: loadbalancer.StateDraining, pending: true, drainFrom: sec(5)}}},
		{"our deregistration, then gone: settled", func(g *group, t0 time.Time) {
			g.deregistered(t0.Add(sec(5)), []netip.AddrPort{addrA})
		}, sec(40), false, []netip.AddrPort{addrA}, []describedTarget{{addr: addrA, state: loadbalancer.StateAbsent}},
			map[netip.AddrPort]want{addrA: {state: loadbalancer.StateAbsent}}},
		{"someone else's drain: it began after the target was last seen healthy", func(g *group, t0 time.Time) {
			g.view[addrA] = observed{state: loadbalancer.StateHealthy, seen: t0.Add(sec(3))}
		}, sec(10), true, nil, []describedTarget{{addr: addrA, state: loadbalancer.StateDraining}},
			map[netip.AddrPort]want{addrA: {state: loadbalancer.StateDraining, drainFrom: sec(3)}}},
		{"a new target already draining: it began after the last full describe", func(*group, time.Time) {},
			sec(10), true, nil, []describedTarget{healthy(addrA), {addr: addrB, state: loadbalancer.StateDraining}},
			map[netip.AddrPort]want{addrB: {state: loadbalancer.StateDraining, drainFrom: 0}}},
		{"expect settles on unhealthy", func(g *group, t0 time.Time) {
			g.expect(t0.Add(sec(1)), []netip.AddrPort{addrB})
		}, sec(2), false, []netip.AddrPort{addrB}, []describedTarget{{addr: addrB, state: loadbalancer.StateUnhealthy}},
			map[netip.AddrPort]want{addrB: {state: loadbalancer.StateUnhealthy, drainFrom: -1}}},
		{"expect does not settle on initial", func(g *group, t0 time.Time) {
			g.expect(t0.Add(sec(1)), []netip.AddrPort{addrB})
		}, sec(2), false, []netip.AddrPort{addrB}, []describedTarget{{addr: addrB, state: loadbalancer.StateInitial}},
			map[netip.AddrPort]want{addrB: {state: loadbalancer.StateInitial, pending: true, drainFrom: -1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, t0 := settledGroup()
			c.setup(g, t0)
			g.apply(t0.Add(c.started), s, c.full, c.listed, c.got)
			for a, w := range c.want {
				o, ok := g.view[a]
				_, isPending := g.pending[a]
				switch {
				case w.state == loadbalancer.StateAbsent && ok:
					t.Errorf("%s: in the view as %s, want absent", a, o.state)
				case w.state != loadbalancer.StateAbsent && (!ok || o.state != w.state):
					t.Errorf("%s: state %q (in view %v), want %s", a, o.state, ok, w.state)
				}
				if isPending != w.pending {
					t.Errorf("%s: pending %v, want %v", a, isPending, w.pending)
				}
				if ok && w.state == loadbalancer.StateDraining {
					if wantFrom := t0.Add(w.drainFrom); !o.drainFrom.Equal(wantFrom) {
						t.Errorf("%s: drainFrom t0%+v, want t0%+v", a, o.drainFrom.Sub(t0), w.drainFrom)
					}
				}
			}
			if !g.described.Equal(t0.Add(c.started)) && !c.full {
				t.Errorf("described = t0%+v, want t0%+v", g.described.Sub(t0), c.started)
			}
		})
	}
}

func TestGroup_toDeregister(t *testing.T) {
	g, t0 := settledGroup()
	g.view[addrB] = observed{state: loadbalancer.StateDraining, seen: t0}
	all := []netip.AddrPort{addrA, addrB, addrC}
	if got, want := g.toDeregister(all), []netip.AddrPort{addrA}; !slices.Equal(got, want) {
		t.Errorf("membership known: toDeregister = %v, want %v (not the draining one, not the unknown one)", got, want)
	}
	g.full = time.Time{}
	if got, want := g.toDeregister(all), []netip.AddrPort{addrA, addrC}; !slices.Equal(got, want) {
		t.Errorf("membership unknown: toDeregister = %v, want %v", got, want)
	}
}

func TestGroup_resyncAt(t *testing.T) {
	const resync = 10 * time.Minute
	g, t0 := settledGroup()
	if got := g.resyncAt(resync); !got.Equal(t0.Add(resync)) {
		t.Errorf("resyncAt = t0%+v, want t0+10m", got.Sub(t0))
	}
	// 1000 groups spread over the period: no tenth of it holds more than
	// twice its share.
	buckets := make([]int, 10)
	for i := range 1000 {
		arn := testARN[:len(testARN)-4] + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('0'+i/676)) + "f"
		buckets[phase(arn, resync)*10/resync]++
	}
	for i, n := range buckets {
		if n > 200 {
			t.Errorf("tenth %d of the resync period holds %d of 1000 groups", i, n)
		}
	}
}

func TestKindOf(t *testing.T) {
	cases := map[string]string{
		"DescribeTargetHealth": KindDescribe, "DescribeTargetGroups": KindDescribe, "DescribeTargetGroupAttributes": KindDescribe,
		"RegisterTargets": KindRegister, "DeregisterTargets": KindRegister, "ModifyTargetGroup": "",
	}
	for action, want := range cases {
		if got := kindOf(action); got != want {
			t.Errorf("kindOf(%s) = %q, want %q", action, got, want)
		}
	}
}
