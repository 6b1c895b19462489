package elbv2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// elbAPI is the part of the ELBv2 API the provider calls; the SDK's
// *elasticloadbalancingv2.Client implements it.
type elbAPI interface {
	DescribeTargetGroups(ctx context.Context, in *elb.DescribeTargetGroupsInput, optFns ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(ctx context.Context, in *elb.DescribeTargetGroupAttributesInput, optFns ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error)
	DescribeTargetHealth(ctx context.Context, in *elb.DescribeTargetHealthInput, optFns ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error)
	RegisterTargets(ctx context.Context, in *elb.RegisterTargetsInput, optFns ...func(*elb.Options)) (*elb.RegisterTargetsOutput, error)
	DeregisterTargets(ctx context.Context, in *elb.DeregisterTargetsInput, optFns ...func(*elb.Options)) (*elb.DeregisterTargetsOutput, error)
}

// Limits and timings of the poller.
const (
	// MaxTargetsPerCall is the most targets one RegisterTargets or
	// DeregisterTargets call carries (as the AWS Load Balancer Controller).
	MaxTargetsPerCall = 200
	// pollWorkers bounds the describes in flight at once.
	pollWorkers = 4
	// notFoundTTL is how long a backend AWS does not know is answered
	// ErrNoBackend without asking again.
	notFoundTTL = 30 * time.Second
	// maxSleep bounds the poller's sleep between two plans.
	maxSleep = time.Second
	// unhealthyFactor: a registered target failing its checks is
	// described every unhealthyFactor poll intervals.
	unhealthyFactor = 5
	// registrationGrace: see schedule.registrationGrace.
	registrationGrace = 10 * time.Second
	// checksEvery is how often the background refresh of health-check
	// settings looks for groups that need one; checksRetry is how long a
	// group whose refresh failed waits for the next.
	checksEvery = time.Second
	checksRetry = time.Minute
)

// Attribute keys of DescribeTargetGroupAttributes.
const (
	attrDeregistrationDelay   = "deregistration_delay.timeout_seconds"
	attrConnectionTermination = "deregistration_delay.connection_termination.enabled"
)

// Poller keeps the latest view of the target groups its callers use in
// one region, describing them within the shared budget (see the package
// documentation). It is safe for concurrent use.
type Poller struct {
	region                                  string
	api                                     elbAPI
	metrics                                 *metrics
	resync, expectFor, infoTTL, forgetAfter time.Duration

	resolving singleflight.Group
	wake      chan struct{}

	mu       sync.Mutex
	interval time.Duration
	groups   map[string]*group // by ARN
	names    map[string]string // target group name → ARN
	notFound map[string]time.Time
	// unresolved holds Expects for backends not resolved yet.
	unresolved map[string][]netip.AddrPort
}

// pollerConfig configures a Poller.
type pollerConfig struct {
	region                                            string
	api                                               elbAPI
	metrics                                           *metrics
	interval, resync, expectFor, infoTTL, forgetAfter time.Duration
}

func newPoller(c pollerConfig) *Poller {
	return &Poller{
		region: c.region, api: c.api, metrics: c.metrics,
		resync: c.resync, expectFor: c.expectFor, infoTTL: c.infoTTL, forgetAfter: c.forgetAfter,
		wake:     make(chan struct{}, 1),
		interval: c.interval,
		groups:   map[string]*group{}, names: map[string]string{}, notFound: map[string]time.Time{},
		unresolved: map[string][]netip.AddrPort{},
	}
}

// schedule returns the current timings; p.mu must be held.
func (p *Poller) schedule() schedule {
	return schedule{
		interval: p.interval, unhealthyEvery: unhealthyFactor * p.interval,
		resync: p.resync, expectFor: p.expectFor, registrationGrace: registrationGrace,
	}
}

// setInterval changes the poll interval.
func (p *Poller) setInterval(d time.Duration) {
	p.mu.Lock()
	p.interval = d
	p.mu.Unlock()
	p.wakeUp()
}

func (p *Poller) wakeUp() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// errNotFound wraps ErrNoBackend for a target group AWS does not know.
func errNotFound(backend string) error {
	return fmt.Errorf("target group %q: %w", backend, loadbalancer.ErrNoBackend)
}

// isNotFound reports whether err is AWS's TargetGroupNotFound.
func isNotFound(err error) bool {
	var nf *types.TargetGroupNotFoundException
	return errors.As(err, &nf)
}

// resolve returns the group of backend (an ARN or a name), creating it;
// names are looked up once with DescribeTargetGroups.
func (p *Poller) resolve(ctx context.Context, backend string) (*group, error) {
	if err := ValidateBackend(p.region, backend); err != nil {
		return nil, err
	}
	now := time.Now()
	p.mu.Lock()
	if until, ok := p.notFound[backend]; ok {
		if now.Before(until) {
			p.mu.Unlock()
			return nil, errNotFound(backend)
		}
		delete(p.notFound, backend)
	}
	arn := backend
	if !isARN(backend) {
		arn = p.names[backend]
	}
	if arn != "" {
		g := p.groupLocked(arn, now)
		p.mu.Unlock()
		return g, nil
	}
	p.mu.Unlock()
	v, err, _ := p.resolving.Do(backend, func() (any, error) { return p.lookUp(ctx, backend) })
	if err != nil {
		return nil, err
	}
	return v.(*group), nil
}

// groupLocked returns the group of arn, creating it; p.mu must be held.
func (p *Poller) groupLocked(arn string, now time.Time) *group {
	g := p.groups[arn]
	if g == nil {
		g = newGroup(arn, now)
		p.groups[arn] = g
	}
	g.used = now
	return g
}

// lookUp resolves a target group name.
func (p *Poller) lookUp(ctx context.Context, name string) (*group, error) {
	out, err := p.api.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{name}})
	if err != nil || len(out.TargetGroups) == 0 {
		if err == nil || isNotFound(err) {
			p.mu.Lock()
			p.notFound[name] = time.Now().Add(notFoundTTL)
			p.mu.Unlock()
			return nil, errNotFound(name)
		}
		return nil, fmt.Errorf("elbv2: resolving target group name %q: %w", name, err)
	}
	tg := out.TargetGroups[0]
	arn := aws.ToString(tg.TargetGroupArn)
	if _, ok := ParseTargetGroupARN(arn); !ok {
		return nil, fmt.Errorf("elbv2: target group %q has an ARN %q this provider does not understand", name, arn)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names[name] = arn
	g := p.groupLocked(arn, time.Now())
	g.setChecks(tg, time.Now())
	return g, nil
}

// setChecks records what a target group's description says about its
// load balancer and health checks; p.mu must be held.
func (g *group) setChecks(tg types.TargetGroup, now time.Time) {
	g.lbType = lbTypeOf(tg.Protocol)
	interval := time.Duration(aws.ToInt32(tg.HealthCheckIntervalSeconds)) * time.Second
	g.healthyAfter = time.Duration(max(aws.ToInt32(tg.HealthyThresholdCount)-1, 0)) * interval
	g.checksAt = now
}

// lbTypeOf returns the kind of load balancer a target group protocol
// belongs to.
func lbTypeOf(p types.ProtocolEnum) string {
	switch p {
	case types.ProtocolEnumHttp, types.ProtocolEnumHttps:
		return "application"
	case types.ProtocolEnumGeneve:
		return "gateway"
	case "":
		return ""
	}
	return "network"
}

// forget drops a group AWS does not know and answers ErrNoBackend for it
// for a while.
func (p *Poller) forget(g *group, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g.gone = true
	g.err = err
	if p.groups[g.arn] == g {
		delete(p.groups, g.arn)
	}
	until := time.Now().Add(notFoundTTL)
	p.notFound[g.arn] = until
	for n, a := range p.names {
		if a == g.arn {
			delete(p.names, n)
			p.notFound[n] = until
		}
	}
}

// Status returns the latest view of backend, describing it first when
// there is none yet.
func (p *Poller) Status(ctx context.Context, backend string) (loadbalancer.BackendStatus, error) {
	g, err := p.resolve(ctx, backend)
	if err != nil {
		return loadbalancer.BackendStatus{}, err
	}
	for {
		p.mu.Lock()
		g.used = time.Now()
		switch {
		case g.gone:
			p.mu.Unlock()
			return loadbalancer.BackendStatus{}, errNotFound(backend)
		case g.err != nil:
			err := g.err
			p.mu.Unlock()
			return loadbalancer.BackendStatus{}, fmt.Errorf("elbv2: describing target group %s: %w", g.arn, err)
		case !g.described.IsZero():
			bs := g.status()
			p.mu.Unlock()
			return bs, nil
		case g.inflight != nil:
			done := g.inflight
			p.mu.Unlock()
			select {
			case <-done:
			case <-ctx.Done():
				return loadbalancer.BackendStatus{}, ctx.Err()
			}
		default:
			job := p.startLocked(g, poll{at: time.Now(), full: true})
			p.mu.Unlock()
			if err := p.describe(ctx, job, false); err != nil {
				return loadbalancer.BackendStatus{}, err
			}
		}
	}
}

// job is one describe under way.
type job struct {
	g    *group
	plan poll
	done chan struct{}
}

// startLocked marks g's describe in flight; p.mu must be held.
func (p *Poller) startLocked(g *group, plan poll) job {
	j := job{g: g, plan: plan, done: make(chan struct{})}
	g.inflight = j.done
	return j
}

// describe runs one DescribeTargetHealth and merges its answer. A planned
// describe (planned true: the poller's) records its error in the group,
// where Status reports it until a later describe succeeds; a caller's own
// describe returns it to the caller only, so that one caller's deadline
// does not fail the others.
func (p *Poller) describe(ctx context.Context, j job, planned bool) error {
	defer p.finish(j)
	in := &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(j.g.arn)}
	if !j.plan.full {
		in.Targets = descriptions(j.plan.addrs)
	}
	start := time.Now()
	out, err := p.api.DescribeTargetHealth(ctx, in)
	end := time.Now()
	if planned {
		p.metrics.pollLag.WithLabelValues(p.region).Observe(max(end.Sub(j.plan.at), 0).Seconds())
	}
	switch {
	case err != nil && isNotFound(err):
		p.forget(j.g, errNotFound(j.g.arn))
		return errNotFound(j.g.arn)
	case err != nil && !planned:
		return fmt.Errorf("elbv2: describing target group %s: %w", j.g.arn, err)
	case err != nil:
		logr.FromContextOrDiscard(ctx).Info("describing target health failed", "targetGroup", j.g.arn, "error", err.Error())
		p.mu.Lock()
		j.g.failed(end, err)
		p.mu.Unlock()
		return err
	}
	p.mu.Lock()
	j.g.apply(start, p.schedule(), j.plan.full, j.plan.addrs, describedTargets(out.TargetHealthDescriptions))
	p.mu.Unlock()
	return nil
}

// finish ends j's flight.
func (p *Poller) finish(j job) {
	p.mu.Lock()
	if j.g.inflight == j.done {
		j.g.inflight = nil
	}
	p.mu.Unlock()
	close(j.done)
	p.wakeUp()
}

// descriptions returns the API's target descriptions of addrs.
func descriptions(addrs []netip.AddrPort) []types.TargetDescription {
	out := make([]types.TargetDescription, len(addrs))
	for i, a := range addrs {
		out[i] = types.TargetDescription{Id: aws.String(a.Addr().String()), Port: aws.Int32(int32(a.Port()))}
	}
	return out
}

// describedTargets converts the API's answer, skipping targets that are
// not IP addresses (instance and Lambda targets).
func describedTargets(ds []types.TargetHealthDescription) []describedTarget {
	out := make([]describedTarget, 0, len(ds))
	for _, d := range ds {
		if d.Target == nil || d.Target.Port == nil || d.TargetHealth == nil {
			continue
		}
		ip, err := netip.ParseAddr(aws.ToString(d.Target.Id))
		if err != nil {
			continue
		}
		out = append(out, describedTarget{
			addr:   netip.AddrPortFrom(ip, uint16(*d.Target.Port)),
			state:  StateOf(*d.TargetHealth),
			reason: ReasonOf(*d.TargetHealth),
		})
	}
	return out
}

// Register registers the targets in backend, at most MaxTargetsPerCall a
// call, and keeps them moving until they settle.
func (p *Poller) Register(ctx context.Context, backend string, targets []loadbalancer.Target) error {
	return p.mutate(ctx, backend, targets, true)
}

// Deregister deregisters the targets from backend, except those already
// draining or known absent, and keeps them moving until AWS no longer
// lists them.
func (p *Poller) Deregister(ctx context.Context, backend string, targets []loadbalancer.Target) error {
	return p.mutate(ctx, backend, targets, false)
}

func (p *Poller) mutate(ctx context.Context, backend string, targets []loadbalancer.Target, register bool) error {
	if len(targets) == 0 {
		return nil
	}
	g, err := p.resolve(ctx, backend)
	if err != nil {
		return err
	}
	addrs := make([]netip.AddrPort, 0, len(targets))
	for _, t := range targets {
		if !t.Address.IsValid() {
			return fmt.Errorf("elbv2: target %v has no valid address", t)
		}
		addrs = append(addrs, t.Address)
	}
	action := "RegisterTargets"
	if !register {
		action = "DeregisterTargets"
		if err := p.ensureInfo(ctx, g); err != nil {
			return err
		}
		p.mu.Lock()
		addrs = g.toDeregister(addrs)
		p.mu.Unlock()
	}
	log := logr.FromContextOrDiscard(ctx)
	for chunk := range chunks(addrs, MaxTargetsPerCall) {
		start := time.Now()
		var err error
		if register {
			_, err = p.api.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(g.arn), Targets: descriptions(chunk)})
		} else {
			_, err = p.api.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(g.arn), Targets: descriptions(chunk)})
		}
		if err != nil {
			if isNotFound(err) {
				p.forget(g, errNotFound(backend))
				return fmt.Errorf("elbv2: %s: %w", action, errNotFound(backend))
			}
			return fmt.Errorf("elbv2: %s in target group %s: %w", action, g.arn, err)
		}
		log.V(1).Info("targets sent", "action", action, "targetGroup", g.arn, "targets", len(chunk))
		p.mu.Lock()
		g.used = time.Now()
		if register {
			g.registered(start, chunk)
		} else {
			// AWS began draining before the call returned (after any wait
			// for the budget): its delay is over at the latest delay
			// after now, when the poller looks next.
			g.deregistered(g.used, chunk)
		}
		p.mu.Unlock()
	}
	p.wakeUp()
	return nil
}

// chunks yields s in pieces of at most n.
func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// checksBatch is the most target groups one background
// DescribeTargetGroups asks for.
const checksBatch = 20

// refreshChecks reads, in the background and in batches of checksBatch
// ARNs per DescribeTargetGroups, the health-check settings of the groups
// that have none or old ones (moving groups first), so that the poller
// does not describe a new target before it can have passed its checks.
// Without them a new target is described every interval. A failed batch
// is tried again after a while; a batch naming a group AWS does not know
// fails as a whole, and its groups surface ErrNoBackend through their own
// describes.
func (p *Poller) refreshChecks(ctx context.Context) {
	now := time.Now()
	p.mu.Lock()
	var moving, settled []*group
	for _, g := range p.groups {
		if g.gone || (!g.checksAt.IsZero() && now.Sub(g.checksAt) < p.infoTTL) || now.Sub(g.checksTried) < checksRetry {
			continue
		}
		if g.moving() {
			moving = append(moving, g)
		} else {
			settled = append(settled, g)
		}
	}
	batch := append(moving, settled...)
	batch = batch[:min(len(batch), checksBatch)]
	arns := make([]string, len(batch))
	for i, g := range batch {
		g.checksTried = now
		arns[i] = g.arn
	}
	p.mu.Unlock()
	if len(arns) == 0 {
		return
	}
	out, err := p.api.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: arns})
	if err != nil {
		if !isNotFound(err) && ctx.Err() == nil {
			logr.FromContextOrDiscard(ctx).Info("describing target groups failed", "targetGroups", len(arns), "error", err.Error())
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tg := range out.TargetGroups {
		if g := p.groups[aws.ToString(tg.TargetGroupArn)]; g != nil {
			g.setChecks(tg, time.Now())
		}
	}
}

// runChecks refreshes health-check settings every checksEvery until ctx
// ends.
func (p *Poller) runChecks(ctx context.Context) {
	t := time.NewTicker(checksEvery)
	defer t.Stop()
	for {
		p.refreshChecks(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ensureInfo reads the group's deregistration delay when it has none, or
// an old one. An NLB target group without connection termination is
// logged: its connections may outlive the drain.
func (p *Poller) ensureInfo(ctx context.Context, g *group) error {
	p.mu.Lock()
	fresh := !g.infoAt.IsZero() && time.Since(g.infoAt) < p.infoTTL
	p.mu.Unlock()
	if fresh {
		return nil
	}
	out, err := p.api.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(g.arn)})
	if err != nil {
		if isNotFound(err) {
			p.forget(g, errNotFound(g.arn))
			return errNotFound(g.arn)
		}
		// Not fatal: without the delay, draining targets are polled at
		// the interval.
		logr.FromContextOrDiscard(ctx).Info("reading target group attributes failed", "targetGroup", g.arn, "error", err.Error())
		return nil
	}
	var delay time.Duration
	termination := ""
	for _, a := range out.Attributes {
		switch aws.ToString(a.Key) {
		case attrDeregistrationDelay:
			if n, err := strconv.Atoi(aws.ToString(a.Value)); err == nil {
				delay = time.Duration(n) * time.Second
			}
		case attrConnectionTermination:
			termination = aws.ToString(a.Value)
		}
	}
	p.mu.Lock()
	first := g.infoAt.IsZero()
	g.delay, g.infoAt = delay, time.Now()
	if termination != "" && g.lbType == "" {
		g.lbType = "network" // only NLB target groups have the attribute
	}
	p.mu.Unlock()
	if first && termination == "false" {
		logr.FromContextOrDiscard(ctx).Info("NLB target group without connection termination: connections may outlive the deregistration delay",
			"targetGroup", g.arn, "deregistrationDelay", delay.String())
	}
	return nil
}

// Expect keeps addrs of backend moving until they settle or ExpectFor
// passes. A backend not resolved yet is resolved by the poller.
func (p *Poller) Expect(backend string, addrs ...netip.AddrPort) {
	if len(addrs) == 0 || ValidateBackend(p.region, backend) != nil {
		return
	}
	now := time.Now()
	p.mu.Lock()
	arn := backend
	if !isARN(backend) {
		arn = p.names[backend]
	}
	if arn == "" {
		p.unresolved[backend] = append(p.unresolved[backend], addrs...)
	} else {
		g := p.groupLocked(arn, now)
		g.expect(now, addrs)
	}
	p.mu.Unlock()
	p.wakeUp()
}

// run plans and runs describes until ctx ends.
func (p *Poller) run(ctx context.Context) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range pollWorkers {
		wg.Go(func() {
			for j := range jobs {
				_ = p.describe(ctx, j, true)
			}
		})
	}
	wg.Go(func() { p.runChecks(ctx) })
	defer wg.Wait()
	defer close(jobs)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		p.resolvePending(ctx)
		due, next := p.plan(time.Now())
		for k, j := range due {
			select {
			case jobs <- j:
			case <-ctx.Done():
				for _, j := range due[k:] {
					p.finish(j)
				}
				return
			}
		}
		sleep := min(max(time.Until(next), time.Millisecond), maxSleep)
		timer.Reset(sleep)
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// resolvePending resolves the backends of Expects made before their names
// were known.
func (p *Poller) resolvePending(ctx context.Context) {
	p.mu.Lock()
	todo := p.unresolved
	p.unresolved = map[string][]netip.AddrPort{}
	p.mu.Unlock()
	for backend, addrs := range todo {
		g, err := p.resolve(ctx, backend)
		if err != nil {
			continue
		}
		p.mu.Lock()
		g.expect(time.Now(), addrs)
		p.mu.Unlock()
	}
}

// plan returns the describes due at now (marked in flight) and when the
// next one is due; it forgets groups nobody asked about for forgetAfter.
func (p *Poller) plan(now time.Time) ([]job, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.schedule()
	next := now.Add(maxSleep)
	var due []job
	movingGroups := 0
	for arn, g := range p.groups {
		g.prune(now, s)
		isMoving := g.moving()
		if isMoving {
			movingGroups++
		}
		if !isMoving && now.Sub(g.used) >= p.forgetAfter && g.inflight == nil {
			delete(p.groups, arn)
			continue
		}
		if g.inflight != nil {
			continue
		}
		pl := g.next(s)
		if pl.at.After(now) {
			if pl.at.Before(next) {
				next = pl.at
			}
			continue
		}
		due = append(due, p.startLocked(g, pl))
	}
	p.metrics.moving.WithLabelValues(p.region).Set(float64(movingGroups))
	slices.SortFunc(due, func(a, b job) int { return a.plan.at.Compare(b.plan.at) })
	return due, next
}
