package elbv2

import (
	"hash/fnv"
	"net/netip"
	"slices"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// want is what a caller waits for a target to do.
type want int

// What callers wait for.
const (
	// wantIn: registered by this provider; settles Healthy or
	// Misconfigured (Unhealthy is described at the slow cadence).
	wantIn want = iota + 1
	// wantOut: deregistered by this provider; settles Absent.
	wantOut
	// wantAny: Expect; settles Healthy, Unhealthy, Misconfigured or Absent.
	wantAny
)

// settles reports whether a target in state s, described after the ask,
// has done what w waits for.
func (w want) settles(s loadbalancer.State) bool {
	switch w {
	case wantIn:
		return s == loadbalancer.StateHealthy || s == loadbalancer.StateMisconfigured
	case wantOut:
		return s == loadbalancer.StateAbsent
	case wantAny:
		return s == loadbalancer.StateHealthy || s == loadbalancer.StateUnhealthy ||
			s == loadbalancer.StateMisconfigured || s == loadbalancer.StateAbsent
	}
	return true
}

// pending is a target some caller waits on.
type pending struct {
	want want
	// since is when it was asked; only describes started after it settle
	// it, and it expires ExpectFor later.
	since time.Time
	// checked is when a describe that listed the target last started.
	checked time.Time
}

// observed is the latest known state of one target.
type observed struct {
	state  loadbalancer.State
	reason string
	// seen is when the describe that reported it started, or when this
	// provider's own call made it so (registered, deregistered).
	seen time.Time
	// drainFrom, for a Draining target, is the earliest its drain can have
	// started (zero when unknown): it is not described again before
	// drainFrom plus the deregistration delay.
	drainFrom time.Time
}

// group is what the poller knows of one target group. Its fields are
// guarded by the poller's mutex.
type group struct {
	arn string
	// lbType is "application", "network" or "gateway" when known.
	lbType string
	// delay is the deregistration delay, valid when infoAt is not zero.
	delay  time.Duration
	infoAt time.Time
	// healthyAfter is the least time a new target needs to pass its
	// checks, (healthy threshold - 1) × check interval, valid when
	// checksAt is not zero (from DescribeTargetGroups).
	healthyAfter time.Duration
	checksAt     time.Time
	// checksTried is when the background refresh last asked for them.
	checksTried time.Time

	view map[netip.AddrPort]observed
	// described is when the last successful describe started; full, the
	// last successful full describe (membership known as of then).
	described, full time.Time
	pending         map[netip.AddrPort]pending

	// err is the last describe's error (nil after a success), at errAt.
	err   error
	errAt time.Time
	// gone: AWS said the target group does not exist.
	gone bool

	// used is when a caller last asked about the group.
	used time.Time
	// inflight is closed when the running describe ends; nil when none
	// runs.
	inflight chan struct{}
}

func newGroup(arn string, now time.Time) *group {
	return &group{arn: arn, view: map[netip.AddrPort]observed{}, pending: map[netip.AddrPort]pending{}, used: now}
}

// schedule are the poller's timings.
type schedule struct {
	// interval between two describes of a moving target.
	interval time.Duration
	// unhealthyEvery is how often a target this provider registered that
	// fails its checks is described.
	unhealthyEvery time.Duration
	// resync is how often every target group is described in full.
	resync time.Duration
	// expectFor bounds how long a caller's wait keeps a target moving.
	expectFor time.Duration
	// registrationGrace is how long after RegisterTargets a target AWS
	// does not list yet is still reported Initial (the API is eventually
	// consistent).
	registrationGrace time.Duration
}

// poll is one planned DescribeTargetHealth of a group.
type poll struct {
	// at is when it is due.
	at time.Time
	// full describes every target; otherwise only addrs.
	full  bool
	addrs []netip.AddrPort
}

// phase is the group's offset in the resync period, from its ARN's hash,
// so that resyncs spread evenly over the period.
func phase(arn string, resync time.Duration) time.Duration {
	if resync <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(arn))
	return time.Duration(h.Sum64() % uint64(resync))
}

// resyncAt is the first slot of the group's phase after its last full
// describe.
func (g *group) resyncAt(resync time.Duration) time.Time {
	if resync <= 0 {
		return g.full
	}
	at := g.full.Truncate(resync).Add(phase(g.arn, resync))
	for !at.After(g.full) {
		at = at.Add(resync)
	}
	return at
}

// prune drops the waits that expired at now.
func (g *group) prune(now time.Time, s schedule) {
	for a, p := range g.pending {
		if now.Sub(p.since) >= s.expectFor {
			delete(g.pending, a)
		}
	}
}

// moving reports whether the group has targets on the move.
func (g *group) moving() bool {
	if len(g.pending) > 0 {
		return true
	}
	for _, o := range g.view {
		if moving(o.state) {
			return true
		}
	}
	return false
}

// targetDue is when a moving target is next worth describing.
func (g *group) targetDue(s schedule, o observed, inView bool, p pending, isPending bool) time.Time {
	last := o.seen
	if !inView {
		last = p.checked
		if last.IsZero() {
			return p.since
		}
	}
	if isPending && last.Before(p.since) {
		// Asked after the last describe: look soon, but not more often
		// than the interval.
		return maxTime(p.since, last.Add(s.interval))
	}
	switch {
	case inView && o.state == loadbalancer.StateDraining && !o.drainFrom.IsZero() && !g.infoAt.IsZero():
		return maxTime(last.Add(s.interval), o.drainFrom.Add(g.delay))
	case inView && isPending && p.want == wantIn && o.state == loadbalancer.StateUnhealthy:
		return last.Add(s.unhealthyEvery)
	case inView && isPending && p.want == wantIn && o.state == loadbalancer.StateInitial && !g.checksAt.IsZero():
		// It cannot pass its checks sooner (AWS's defaults: 4 × 30 s).
		return maxTime(last.Add(s.interval), p.since.Add(g.healthyAfter))
	}
	return last.Add(s.interval)
}

// next plans the group's next describe: the earliest due moving target
// (with every moving target due within half an interval of it), or the
// group's resync slot, whichever comes first. A group never described, or
// whose membership is unknown, is described in full.
func (g *group) next(s schedule) poll {
	if g.described.IsZero() && g.err == nil {
		return poll{at: g.used, full: true}
	}
	if g.err != nil {
		// Status reports the error until a describe succeeds: try again
		// after an interval, in full.
		return poll{at: g.errAt.Add(s.interval), full: true}
	}
	resync := poll{at: g.resyncAt(s.resync), full: true}
	type cand struct {
		addr netip.AddrPort
		at   time.Time
	}
	var cands []cand
	for a, p := range g.pending {
		o, ok := g.view[a]
		cands = append(cands, cand{a, g.targetDue(s, o, ok, p, true)})
	}
	for a, o := range g.view {
		if _, ok := g.pending[a]; ok || !moving(o.state) {
			continue
		}
		cands = append(cands, cand{a, g.targetDue(s, o, true, pending{}, false)})
	}
	if len(cands) == 0 {
		return resync
	}
	membershipKnown := !g.full.IsZero()
	first := cands[0].at
	for _, c := range cands[1:] {
		if c.at.Before(first) {
			first = c.at
		}
	}
	if !membershipKnown {
		return poll{at: first, full: true}
	}
	if !resync.at.After(first) {
		return resync
	}
	out := poll{at: first}
	for _, c := range cands {
		if !c.at.After(first.Add(s.interval / 2)) {
			out.addrs = append(out.addrs, c.addr)
		}
	}
	slices.SortFunc(out.addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// described is one target of a DescribeTargetHealth answer.
type describedTarget struct {
	addr   netip.AddrPort
	state  loadbalancer.State
	reason string
}

// Reasons the provider reports for states it knows before AWS says so.
const (
	reasonRegistering   = "Elb.RegistrationInProgress: Target registration is in progress"
	reasonDeregistering = "Target.DeregistrationInProgress: Target deregistration is in progress"
)

// apply merges a successful describe that started at started: of every
// target (full) or of the listed ones.
func (g *group) apply(started time.Time, s schedule, full bool, listed []netip.AddrPort, got []describedTarget) {
	prevFull := g.full
	seen := make(map[netip.AddrPort]bool, len(got))
	for _, d := range got {
		seen[d.addr] = true
		g.observe(started, s, prevFull, d)
	}
	absent := func(a netip.AddrPort) {
		if !seen[a] {
			g.observe(started, s, prevFull, describedTarget{addr: a, state: loadbalancer.StateAbsent})
		}
	}
	if full {
		for a := range g.view {
			absent(a)
		}
		for a := range g.pending {
			absent(a)
		}
		g.full = started
	} else {
		for _, a := range listed {
			absent(a)
		}
	}
	g.described, g.err, g.errAt = started, nil, time.Time{}
}

// observe merges what one describe said about one target.
func (g *group) observe(started time.Time, s schedule, prevFull time.Time, d describedTarget) {
	old, had := g.view[d.addr]
	p, isPending := g.pending[d.addr]
	if isPending && !p.since.After(started) {
		if p.want.settles(d.state) {
			delete(g.pending, d.addr)
			isPending = false
		} else {
			p.checked = started
			g.pending[d.addr] = p
		}
	}
	if had && old.seen.After(started) {
		// This provider's own call changed it after the describe began.
		return
	}
	if d.state == loadbalancer.StateAbsent {
		if isPending && p.want == wantIn && started.Sub(p.since) < s.registrationGrace {
			g.view[d.addr] = observed{state: loadbalancer.StateInitial, reason: reasonRegistering, seen: started}
			return
		}
		delete(g.view, d.addr)
		return
	}
	o := observed{state: d.state, reason: d.reason, seen: started}
	if d.state == loadbalancer.StateDraining {
		switch {
		case had && old.state == loadbalancer.StateDraining:
			o.drainFrom = old.drainFrom
		case had:
			// Not draining when last seen: the drain began after that.
			o.drainFrom = old.seen
		case !prevFull.IsZero():
			// Not registered at the last full describe.
			o.drainFrom = prevFull
		}
	}
	g.view[d.addr] = o
}

// failed records a describe's error.
func (g *group) failed(at time.Time, err error) { g.err, g.errAt = err, at }

// registered records a successful RegisterTargets of addrs started at t.
func (g *group) registered(t time.Time, addrs []netip.AddrPort) {
	for _, a := range addrs {
		if o, ok := g.view[a]; !ok || o.state != loadbalancer.StateHealthy {
			g.view[a] = observed{state: loadbalancer.StateInitial, reason: reasonRegistering, seen: t}
		}
		g.pending[a] = pending{want: wantIn, since: t}
	}
}

// deregistered records a successful DeregisterTargets of addrs started at
// t: the targets AWS listed are draining from t.
func (g *group) deregistered(t time.Time, addrs []netip.AddrPort) {
	for _, a := range addrs {
		if _, ok := g.view[a]; ok {
			g.view[a] = observed{state: loadbalancer.StateDraining, reason: reasonDeregistering, seen: t, drainFrom: t}
		}
		g.pending[a] = pending{want: wantOut, since: t}
	}
}

// expect records a caller's wait for addrs at t; a wait already pending
// keeps its start.
func (g *group) expect(t time.Time, addrs []netip.AddrPort) {
	for _, a := range addrs {
		if _, ok := g.pending[a]; !ok {
			g.pending[a] = pending{want: wantAny, since: t}
		}
	}
}

// toDeregister returns the targets a deregistration still has to send:
// not those already draining, nor, when the group's membership is known,
// those it does not list.
func (g *group) toDeregister(addrs []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range addrs {
		o, ok := g.view[a]
		switch {
		case ok && o.state == loadbalancer.StateDraining:
		case !ok && !g.full.IsZero():
		default:
			out = append(out, a)
		}
	}
	return out
}

// status renders the view as a BackendStatus, sorted by address.
func (g *group) status() loadbalancer.BackendStatus {
	bs := loadbalancer.BackendStatus{Targets: make([]loadbalancer.TargetStatus, 0, len(g.view))}
	for a, o := range g.view {
		bs.Targets = append(bs.Targets, loadbalancer.TargetStatus{
			Target: loadbalancer.Target{Address: a}, State: o.state, Sessions: loadbalancer.SessionsUnknown, Reason: o.reason,
		})
	}
	slices.SortFunc(bs.Targets, func(a, b loadbalancer.TargetStatus) int { return a.Address.Compare(b.Address) })
	return bs
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
