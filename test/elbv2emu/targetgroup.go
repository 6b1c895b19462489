package elbv2emu

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

// LBType is the kind of load balancer a target group belongs to.
type LBType string

// Load-balancer types, as the API spells them.
const (
	LBApplication LBType = "application"
	LBNetwork     LBType = "network"
)

// Defaults of TargetGroupSpec, AWS's own for an HTTP target group.
const (
	DefaultHealthCheckPath     = "/"
	DefaultHealthCheckInterval = 30 * time.Second
	DefaultHealthCheckTimeout  = 5 * time.Second
	DefaultHealthyThreshold    = 5
	DefaultUnhealthyThreshold  = 2
)

// HAProxy names inside each group's process.
const (
	frontendName = "lb"
	backendName  = "tg"
	serverPrefix = "t-"
)

// removeAfter is how long a server stays in maintenance, without sessions,
// before "del server": longer than the frontend's client keep-alive
// timeout, so no idle client stream still refers to it (HAProxy 2.6.12
// crashes deleting a server that has one; see docs/architecture.md).
const removeAfter = process.ClientKeepAliveTimeout + 500*time.Millisecond

// removeRetry is how often a server that still has sessions (an NLB target
// without connection termination) is tried again.
const removeRetry = 200 * time.Millisecond

// runtimeTimeout bounds one runtime API round trip.
const runtimeTimeout = 5 * time.Second

// TargetGroupSpec describes a target group (of ip targets, HTTP health
// checks) to create.
type TargetGroupSpec struct {
	// Name is the group's name: 1 to 32 letters, digits and hyphens, not
	// starting or ending with a hyphen, unique in the emulator.
	Name string
	// LBType is application (HTTP) or network (TCP); empty means
	// application.
	LBType LBType
	// Port is the default port of targets registered without one.
	Port int32
	// HealthCheckPath is the path HAProxy checks; empty means "/". A check
	// passes on status 200.
	HealthCheckPath string
	// HealthCheckInterval and HealthCheckTimeout are HAProxy's inter and
	// "timeout check"; zero means 30 s and 5 s. Unlike AWS (5-300 s) any
	// positive value is accepted, so tests can run with scaled-down
	// timings; the API reports them rounded up to whole seconds.
	HealthCheckInterval, HealthCheckTimeout time.Duration
	// HealthyThreshold and UnhealthyThreshold are HAProxy's rise and fall;
	// zero means 5 and 2.
	HealthyThreshold, UnhealthyThreshold int32
	// DeregistrationDelay is how long a deregistered target drains; zero
	// means none (AWS's default is 300 s, far too long for tests). The API
	// reports it rounded up to whole seconds.
	DeregistrationDelay time.Duration
	// ConnectionTermination (NLB) shuts a target's sessions at the end of
	// its deregistration delay; an ALB always does.
	ConnectionTermination bool
	// Attached tells whether the group is on a load balancer; when false
	// every target is unused/Target.NotInUse (HAProxy still checks them).
	Attached bool
	// Frontend is where client traffic for the group enters HAProxy: a
	// loopback address; the zero value picks a free port on 127.0.0.1. An
	// ALB's frontend is HTTP (every request is balanced on its own); an
	// NLB's is TCP (a client connection stays on one target for its life).
	Frontend netip.AddrPort
}

// withDefaults fills the zero fields.
func (s TargetGroupSpec) withDefaults() TargetGroupSpec {
	s.LBType = cmp.Or(s.LBType, LBApplication)
	s.HealthCheckPath = cmp.Or(s.HealthCheckPath, DefaultHealthCheckPath)
	s.HealthCheckInterval = cmp.Or(s.HealthCheckInterval, DefaultHealthCheckInterval)
	s.HealthCheckTimeout = cmp.Or(s.HealthCheckTimeout, DefaultHealthCheckTimeout)
	s.HealthyThreshold = cmp.Or(s.HealthyThreshold, DefaultHealthyThreshold)
	s.UnhealthyThreshold = cmp.Or(s.UnhealthyThreshold, DefaultUnhealthyThreshold)
	if !s.Frontend.IsValid() {
		s.Frontend = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
	}
	return s
}

// validate checks a spec with defaults filled in.
func (s TargetGroupSpec) validate() error {
	if err := validName(s.Name); err != nil {
		return err
	}
	switch {
	case s.LBType != LBApplication && s.LBType != LBNetwork:
		return errorf(CodeValidationError, "load balancer type %q is neither %q nor %q", s.LBType, LBApplication, LBNetwork)
	case s.Port < 1 || s.Port > 65535:
		return errorf(CodeValidationError, "port %d is not in 1..65535", s.Port)
	case !strings.HasPrefix(s.HealthCheckPath, "/") || strings.ContainsAny(s.HealthCheckPath, " \t\r\n#"):
		return errorf(CodeValidationError, "health check path %q must start with / and hold no spaces", s.HealthCheckPath)
	case s.HealthCheckInterval < 0 || s.HealthCheckTimeout < 0:
		return errorf(CodeValidationError, "health check interval %s and timeout %s must be positive", s.HealthCheckInterval, s.HealthCheckTimeout)
	case s.HealthCheckTimeout >= s.HealthCheckInterval:
		return errorf(CodeValidationError, "health check timeout %s must be smaller than the interval %s", s.HealthCheckTimeout, s.HealthCheckInterval)
	case s.HealthyThreshold < 2 || s.HealthyThreshold > 10 || s.UnhealthyThreshold < 2 || s.UnhealthyThreshold > 10:
		return errorf(CodeValidationError, "thresholds %d and %d must be in 2..10", s.HealthyThreshold, s.UnhealthyThreshold)
	case s.DeregistrationDelay < 0 || s.DeregistrationDelay > 3600*time.Second:
		return errorf(CodeValidationError, "deregistration delay %s is not in 0..3600s", s.DeregistrationDelay)
	case !s.Frontend.Addr().IsLoopback():
		return errorf(CodeValidationError, "frontend %s is not a loopback address", s.Frontend)
	}
	return nil
}

// validName checks a target group name as AWS does.
func validName(name string) error {
	if name == "" || len(name) > 32 || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
		return errorf(CodeValidationError, "target group name %q must be 1 to 32 characters and must not begin or end with a hyphen", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return errorf(CodeValidationError, "target group name %q can contain only alphanumeric characters and hyphens", name)
		}
	}
	return nil
}

// target is one registered target.
type target struct {
	key   targetKey
	zone  string
	phase phase
	// inHAProxy tells whether its server exists (it does not during the
	// registration lag).
	inHAProxy bool
	// baseDowns is the server's chkdown right after registration.
	baseDowns int64
	// timer ends the registration lag or the deregistration delay.
	timer *time.Timer
}

// targetGroup is one target group and its HAProxy process.
type targetGroup struct {
	arn, lbARN string
	seq        int
	spec       TargetGroupSpec
	proc       *process.Process

	mu       sync.Mutex
	attached bool
	targets  map[targetKey]*target
	// removing holds servers whose targets are gone but which are still in
	// HAProxy, waiting to be deleted.
	removing map[string]bool
	closed   bool
}

// serverName is the HAProxy server of a target: its address and port.
func serverName(k targetKey) string {
	return serverPrefix + k.Addr.String() + "_" + strconv.Itoa(int(k.Port))
}

// ref is "tg/<server>", a server reference for the runtime API.
func ref(server string) string { return backendName + "/" + server }

// arns returns the ARNs of group number seq named name and of its load
// balancer: a hex id derived from both, as long as AWS's.
func arns(region, account string, seq int, name string, lbType LBType) (tg, lb string) {
	sum := sha256.Sum256([]byte(strconv.Itoa(seq) + "/" + name))
	id := hex.EncodeToString(sum[:8])
	kind := "app"
	if lbType == LBNetwork {
		kind = "net"
	}
	prefix := "arn:aws:elasticloadbalancing:" + region + ":" + account + ":"
	return prefix + "targetgroup/" + name + "/" + id, prefix + "loadbalancer/" + kind + "/" + name + "-lb/" + id
}

// newTargetGroup starts the group's HAProxy.
func newTargetGroup(ctx context.Context, dir string, spec TargetGroupSpec, arn, lbARN string, seq int) (*targetGroup, error) {
	tcp := spec.LBType == LBNetwork
	p, err := process.Start(ctx, process.Config{
		Dir:       dir,
		Frontends: []process.Frontend{{Name: frontendName, Address: spec.Frontend, Backend: backendName, TCP: tcp}},
		Backends:  []process.Backend{{Name: backendName, HealthPath: spec.HealthCheckPath, CheckTimeout: spec.HealthCheckTimeout, TCP: tcp}},
	})
	if err != nil {
		return nil, fmt.Errorf("start HAProxy for target group %s: %w", spec.Name, err)
	}
	return &targetGroup{
		arn: arn, lbARN: lbARN, seq: seq, spec: spec, proc: p,
		attached: spec.Attached,
		targets:  map[targetKey]*target{},
		removing: map[string]bool{},
	}, nil
}

// run sends runtime API commands (joined with ";", one connection) and
// fails unless HAProxy answered each with nothing or a success message.
func (g *targetGroup) run(cmds ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), runtimeTimeout)
	defer cancel()
	out, err := g.proc.RuntimeCommand(ctx, strings.Join(cmds, ";"))
	if err != nil {
		return fmt.Errorf("HAProxy runtime API %q: %w", cmds, err)
	}
	rest := strings.ReplaceAll(out, "New server registered.", "")
	rest = strings.ReplaceAll(rest, "Server deleted.", "")
	if strings.TrimSpace(rest) != "" {
		return fmt.Errorf("HAProxy runtime API %q: %s", cmds, strings.TrimSpace(out))
	}
	return nil
}

// stats reads every server's stats.
func (g *targetGroup) stats() (map[string]serverStat, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runtimeTimeout)
	defer cancel()
	out, err := g.proc.RuntimeCommand(ctx, "show stat "+backendName+" 4 -1")
	if err != nil {
		return nil, fmt.Errorf("HAProxy runtime API show stat: %w", err)
	}
	return parseStat(out)
}

// checkOptions are the "add server" keywords of the group's checks.
func (g *targetGroup) checkOptions() string {
	ms := (g.spec.HealthCheckInterval + time.Millisecond - 1) / time.Millisecond
	return fmt.Sprintf(" check inter %dms rise %d fall %d", ms, g.spec.HealthyThreshold, g.spec.UnhealthyThreshold)
}

// register registers targets (already validated) at now with lag;
// registering a registered target does nothing, registering a draining one
// cancels its drain. g.mu must not be held.
func (g *targetGroup) register(keys []targetKey, zones []string, lag time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for i, k := range keys {
		t := g.targets[k]
		switch {
		case t == nil:
			t = &target{key: k, zone: zones[i], phase: phaseRegistering}
			g.targets[k] = t
			if lag <= 0 {
				errs = append(errs, g.addServer(t))
				continue
			}
			t.timer = time.AfterFunc(lag, func() { g.lagOver(t) })
		case t.phase == phaseDraining && t.inHAProxy:
			t.timer.Stop()
			t.phase = phaseInService
			errs = append(errs, g.run("set server "+ref(serverName(k))+" state ready"))
		case t.phase == phaseDraining:
			// Deregistered during its registration lag: register it anew.
			t.timer.Stop()
			t.phase = phaseRegistering
			if lag <= 0 {
				errs = append(errs, g.addServer(t))
				continue
			}
			t.timer = time.AfterFunc(lag, func() { g.lagOver(t) })
		}
	}
	return errors.Join(errs...)
}

// lagOver puts a target whose registration lag ended into HAProxy.
func (g *targetGroup) lagOver(t *target) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.targets[t.key] != t || t.phase != phaseRegistering {
		return
	}
	// An error leaves the target without a server: it reports
	// unavailable/Elb.InternalError, which is what AWS says when it cannot
	// check a target.
	_ = g.addServer(t)
}

// addServer adds t's server (or takes back one still waiting to be
// deleted) so that it starts DOWN with checks on, and gets traffic once
// rise checks pass: HAProxy 2.6 would put a server leaving maintenance
// straight into UP (see internal/loadbalancer/haproxy). g.mu must be held.
func (g *targetGroup) addServer(t *target) error {
	name := serverName(t.key)
	r := ref(name)
	var cmds []string
	if g.removing[name] {
		delete(g.removing, name)
	} else {
		cmds = append(cmds, "add server "+r+" "+t.key.String()+g.checkOptions())
	}
	cmds = append(cmds, "enable health "+r, "set server "+r+" state drain", "set server "+r+" health down", "set server "+r+" state ready")
	if err := g.run(cmds...); err != nil {
		return fmt.Errorf("register target %s: %w", t.key, err)
	}
	t.inHAProxy, t.phase = true, phaseInService
	stats, err := g.stats()
	if err != nil {
		return fmt.Errorf("register target %s: %w", t.key, err)
	}
	t.baseDowns = stats[name].Downs
	return nil
}

// deregister starts draining targets: no new requests from now on, and
// draining for the whole delay. Unknown targets are ignored, as in AWS.
func (g *targetGroup) deregister(keys []targetKey) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, k := range keys {
		t := g.targets[k]
		if t == nil || t.phase == phaseDraining {
			continue
		}
		if t.timer != nil {
			t.timer.Stop()
		}
		t.phase = phaseDraining
		if t.inHAProxy {
			errs = append(errs, g.run("set server "+ref(serverName(k))+" state drain"))
		}
		t.timer = time.AfterFunc(g.spec.DeregistrationDelay, func() { g.drainOver(t) })
	}
	return errors.Join(errs...)
}

// drainOver ends a target's deregistration delay: the target is gone from
// the API at once; its server goes to maintenance, has its sessions shut
// (ALB, or NLB with connection termination) and is deleted later.
func (g *targetGroup) drainOver(t *target) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.targets[t.key] != t || t.phase != phaseDraining {
		return
	}
	delete(g.targets, t.key)
	if !t.inHAProxy {
		return
	}
	name := serverName(t.key)
	cmds := []string{"set server " + ref(name) + " state maint"}
	if g.spec.LBType == LBApplication || g.spec.ConnectionTermination {
		cmds = append(cmds, "shutdown sessions server "+ref(name))
	}
	// A failure here leaves the server in HAProxy; removeLater tries the
	// deletion anyway.
	_ = g.run(cmds...)
	g.removing[name] = true
	time.AfterFunc(removeAfter, func() { g.removeLater(name) })
}

// removeLater deletes a server that is waiting for it, trying again while
// it still has sessions.
func (g *targetGroup) removeLater(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || !g.removing[name] {
		return
	}
	if err := g.run("del server " + ref(name)); err != nil {
		time.AfterFunc(removeRetry, func() { g.removeLater(name) })
		return
	}
	delete(g.removing, name)
}

// description is one target's health as DescribeTargetHealth reports it.
type description struct {
	Key    targetKey
	Zone   string
	Health health
}

// describe returns the health of the listed targets (unused/NotRegistered
// for those not registered), or of every registered target, in order of
// address and port, when keys is empty.
func (g *targetGroup) describe(keys []targetKey) ([]description, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var stats map[string]serverStat
	for _, t := range g.targets {
		if t.inHAProxy {
			var err error
			if stats, err = g.stats(); err != nil {
				return nil, err
			}
			break
		}
	}
	if len(keys) == 0 {
		for k := range g.targets {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b targetKey) int {
			return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
	}
	out := make([]description, 0, len(keys))
	for _, k := range keys {
		t := g.targets[k]
		if t == nil {
			out = append(out, description{Key: k, Health: healthNotRegistered})
			continue
		}
		st, ok := stats[serverName(k)]
		out = append(out, description{Key: k, Zone: t.zone, Health: healthOf(t.phase, g.attached, st, ok && t.inHAProxy, t.baseDowns)})
	}
	return out, nil
}

// setAttached puts the group on a load balancer or takes it off.
func (g *targetGroup) setAttached(attached bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.attached = attached
}

// isAttached tells whether the group is on a load balancer.
func (g *targetGroup) isAttached() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.attached
}

// close stops the timers and HAProxy.
func (g *targetGroup) close() error {
	g.mu.Lock()
	g.closed = true
	for _, t := range g.targets {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	g.mu.Unlock()
	return g.proc.Close()
}
