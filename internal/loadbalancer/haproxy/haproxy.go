package haproxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// DefaultTimeout bounds one call when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// DefaultRemoveDelay is how long Remove leaves a target in maintenance
// before deleting it: longer than the "timeout http-keep-alive" of the
// configurations zerodrop starts (1s), so no stream refers to it any more.
// With a longer client keep-alive, set Config.RemoveDelay above it.
const DefaultRemoveDelay = 5 * time.Second

// Retry bounds of Remove's deletion retries.
const (
	removeFirstBackoff = 10 * time.Millisecond
	removeMaxBackoff   = 200 * time.Millisecond
)

// Config says how to reach one HAProxy's Runtime API.
type Config struct {
	// SocketPath is the unix socket of the runtime API ("stats socket ...
	// level admin"). Exactly one of SocketPath and Address is set.
	SocketPath string
	// Address is host:port of a TCP runtime API ("stats socket
	// ipv4@127.0.0.1:9999 level admin").
	Address string
	// Timeout bounds each call (one connection, its commands and, for
	// Remove, its retries). Zero means DefaultTimeout.
	Timeout time.Duration
	// RemoveDelay is how long a removed target stays in maintenance before
	// it is deleted (see Remove); zero means DefaultRemoveDelay, negative
	// deletes at once.
	RemoveDelay time.Duration
	// Logger receives one line per call at V(1); the zero value discards.
	Logger logr.Logger
	// Sharing, when its Moving age is positive, answers Status calls of
	// every backend from one shared reading of all of them (see Sharing);
	// the zero value reads the asked backend in a round trip of its own per
	// call.
	Sharing Sharing
	// RoundTrips, if set, counts the Runtime API connections the Instance
	// opens (what RoundTrips returns), for a metric.
	RoundTrips prometheus.Counter
}

// Instance manages zerodrop's servers on one HAProxy through its Runtime
// API. It holds no connection between calls and is safe for concurrent use.
type Instance struct {
	network, address string
	timeout          time.Duration
	removeDelay      time.Duration
	log              logr.Logger
	dialer           net.Dialer

	sharing    Sharing
	roundTrips atomic.Uint64
	tripsSeen  prometheus.Counter

	mu sync.Mutex
	// parked holds when Remove put each "backend/address" in maintenance.
	parked map[string]time.Time
	shared sharedState
}

var _ loadbalancer.Instance = (*Instance)(nil)

// New returns an Instance for the runtime API cfg names. It does not
// connect; the first call does.
func New(cfg Config) (*Instance, error) {
	i := &Instance{timeout: cmp.Or(cfg.Timeout, DefaultTimeout), log: cfg.Logger,
		removeDelay: cmp.Or(cfg.RemoveDelay, DefaultRemoveDelay), parked: map[string]time.Time{},
		sharing: cfg.Sharing, shared: newSharedState(), tripsSeen: cfg.RoundTrips}
	if i.log.GetSink() == nil {
		i.log = logr.Discard()
	}
	switch {
	case cfg.SocketPath != "" && cfg.Address != "":
		return nil, errors.New("haproxy config: set either SocketPath or Address, not both")
	case cfg.SocketPath != "":
		i.network, i.address = "unix", cfg.SocketPath
	case cfg.Address != "":
		if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
			return nil, fmt.Errorf("haproxy config: Address %q: %w", cfg.Address, err)
		}
		i.network, i.address = "tcp", cfg.Address
	default:
		return nil, errors.New("haproxy config: set SocketPath or Address of the runtime API")
	}
	if i.timeout < 0 {
		return nil, fmt.Errorf("haproxy config: negative Timeout %s", cfg.Timeout)
	}
	if cfg.Sharing.Moving < 0 || cfg.Sharing.Settled < 0 {
		return nil, fmt.Errorf("haproxy config: negative Sharing ages %s, %s", cfg.Sharing.Moving, cfg.Sharing.Settled)
	}
	return i, nil
}

// Close releases nothing: Instance holds no connection between calls.
func (i *Instance) Close() error { return nil }

// Capabilities: HAProxy counts sessions, applies check settings per server,
// keeps the owner tag in the server name, and lists only zerodrop's servers
// (so it cannot observe servers someone else adds).
func (i *Instance) Capabilities() loadbalancer.Capabilities {
	return loadbalancer.Capabilities{Sessions: true, PerTargetChecks: true, OwnerTags: true}
}

// Status reports zerodrop's servers in backend: from a shared reading of
// every backend with Config.Sharing, else in one round trip of its own.
func (i *Instance) Status(ctx context.Context, backend string) (loadbalancer.BackendStatus, error) {
	if err := validBackend(backend); err != nil {
		return loadbalancer.BackendStatus{}, err
	}
	if i.sharing.Moving > 0 {
		return i.sharedStatus(ctx, backend)
	}
	return i.statusOf(ctx, backend)
}

// statusOf reads one backend in one round trip.
func (i *Instance) statusOf(ctx context.Context, backend string) (loadbalancer.BackendStatus, error) {
	s, err := i.dial(ctx)
	if err != nil {
		return loadbalancer.BackendStatus{}, err
	}
	defer s.close()
	resps, err := s.exchange(ctx, []string{
		"show info",
		"show servers state " + backend,
		"show stat " + backend + " 4 -1",
	})
	if err != nil {
		return loadbalancer.BackendStatus{}, err
	}
	return parseStatus(backend, resps[0], resps[1], resps[2])
}

// parseStatus builds a BackendStatus from the responses to show info, show
// servers state and show stat.
func parseStatus(backend, info, state, stat string) (loadbalancer.BackendStatus, error) {
	if isNoBackend(state) || isNoBackend(stat) {
		return loadbalancer.BackendStatus{}, fmt.Errorf("backend %q: %w", backend, loadbalancer.ErrNoBackend)
	}
	inf, err := ParseInfo(info)
	if err != nil {
		return loadbalancer.BackendStatus{}, err
	}
	states, err := ParseServersState(state)
	if err != nil {
		return loadbalancer.BackendStatus{}, fmt.Errorf("backend %q: %w", backend, err)
	}
	stats, err := ParseStat(stat)
	if err != nil {
		return loadbalancer.BackendStatus{}, fmt.Errorf("backend %q: %w", backend, err)
	}
	byName := make(map[string]Stat, len(stats))
	for _, st := range stats {
		byName[st.Name] = st
	}
	bs := loadbalancer.BackendStatus{Generation: inf.Generation()}
	for _, ss := range states {
		t, ok := ParseServerName(ss.Name)
		if !ok {
			continue
		}
		st := byName[ss.Name]
		bs.Targets = append(bs.Targets, loadbalancer.TargetStatus{Target: t, State: StateOf(ss, st), Sessions: st.Sessions})
	}
	slices.SortFunc(bs.Targets, func(a, b loadbalancer.TargetStatus) int { return a.Address.Compare(b.Address) })
	return bs, nil
}

// Register adds the targets that are absent and puts every target in
// service, on one connection: one round trip to learn which servers exist,
// one for all the commands.
func (i *Instance) Register(ctx context.Context, backend string, check loadbalancer.CheckSettings, targets ...loadbalancer.Target) error {
	if err := validBackend(backend); err != nil {
		return err
	}
	if len(targets) == 0 {
		return nil
	}
	defer i.wrote(backend)
	i.unpark(backend, targets) // back in service: a later Remove starts over
	s, err := i.dial(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	resps, err := s.exchange(ctx, []string{"show servers state " + backend})
	if err != nil {
		return err
	}
	if isNoBackend(resps[0]) {
		return fmt.Errorf("register in backend %q: %w", backend, loadbalancer.ErrNoBackend)
	}
	states, err := ParseServersState(resps[0])
	if err != nil {
		return fmt.Errorf("register in backend %q: %w", backend, err)
	}
	cmds, err := RegisterCommands(backend, check, targets, states)
	if err != nil {
		return fmt.Errorf("register in backend %q: %w", backend, err)
	}
	i.log.V(1).Info("registerTargets", "backend", backend, "targets", len(targets), "commands", len(cmds))
	return i.run(ctx, s, backend, cmds, false)
}

// Drain puts the targets in drain in one round trip; absent targets are
// skipped.
func (i *Instance) Drain(ctx context.Context, backend string, targets ...loadbalancer.Target) error {
	if err := validBackend(backend); err != nil {
		return err
	}
	cmds, err := perServer(backend, targets, "set server %s state drain")
	if err != nil {
		return fmt.Errorf("drain in backend %q: %w", backend, err)
	}
	defer i.wrote(backend)
	s, err := i.dial(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	i.log.V(1).Info("drainTargets", "backend", backend, "targets", len(targets))
	return i.run(ctx, s, backend, cmds, true)
}

// Remove takes the targets out of backend in two steps, because HAProxy
// 2.6 can crash when "del server" frees a server that a stream still refers
// to (a client keep-alive connection whose last request went there; fixed
// upstream by "BUG/MEDIUM: server/cli: don't delete a dynamic server that
// has streams", not in Debian's 2.6.12). The first call puts a target in
// maintenance and shuts its sessions; a call at least RemoveDelay later
// deletes it (the reconciler calls Remove again on every pass while the
// target shows as Maintenance). With a negative RemoveDelay both happen at
// once.
func (i *Instance) Remove(ctx context.Context, backend string, targets ...loadbalancer.Target) error {
	if err := validBackend(backend); err != nil {
		return err
	}
	if i.removeDelay < 0 {
		defer i.wrote(backend)
		return i.removeNow(ctx, backend, targets)
	}
	now := time.Now()
	var park, del []loadbalancer.Target
	i.mu.Lock()
	for _, t := range targets {
		at, ok := i.parked[backend+"/"+t.String()]
		switch {
		case !ok:
			i.parked[backend+"/"+t.String()] = now
			park = append(park, t)
		case now.Sub(at) >= i.removeDelay:
			del = append(del, t)
		}
	}
	i.mu.Unlock()
	if len(park) == 0 && len(del) == 0 {
		return nil // parked, not yet due for deletion: nothing sent
	}
	defer i.wrote(backend)
	if len(park) > 0 {
		if err := i.park(ctx, backend, park); err != nil {
			i.unpark(backend, park)
			return err
		}
	}
	if len(del) == 0 {
		return nil
	}
	if err := i.removeNow(ctx, backend, del); err != nil {
		return err
	}
	i.unpark(backend, del)
	return nil
}

// park puts targets in maintenance and shuts their sessions.
func (i *Instance) park(ctx context.Context, backend string, targets []loadbalancer.Target) error {
	cmds, err := perServer(backend, targets, "set server %s state maint", "shutdown sessions server %s")
	if err != nil {
		return fmt.Errorf("remove from backend %q: %w", backend, err)
	}
	ctx, cancel := context.WithTimeout(ctx, i.timeout)
	defer cancel()
	s, err := i.dial(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	i.log.V(1).Info("parkTargets", "backend", backend, "commands", len(cmds))
	return i.run(ctx, s, backend, cmds, true)
}

// unpark forgets when targets were parked.
func (i *Instance) unpark(backend string, targets []loadbalancer.Target) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, t := range targets {
		delete(i.parked, backend+"/"+t.String())
	}
}

// removeNow puts targets in maintenance, shuts their sessions and deletes
// them, retrying deletions HAProxy refuses for a moment.
func (i *Instance) removeNow(ctx context.Context, backend string, targets []loadbalancer.Target) error {
	cmds, err := perServer(backend, targets,
		"set server %s state maint",
		"shutdown sessions server %s",
		"del server %s")
	if err != nil {
		return fmt.Errorf("remove from backend %q: %w", backend, err)
	}
	ctx, cancel := context.WithTimeout(ctx, i.timeout)
	defer cancel()
	backoff := removeFirstBackoff
	for attempt := 1; ; attempt++ {
		s, err := i.dial(ctx)
		if err != nil {
			return err
		}
		i.log.V(1).Info("removeTargets", "backend", backend, "commands", len(cmds), "attempt", attempt)
		err = i.run(ctx, s, backend, cmds, true)
		s.close()
		var cerr *CommandErrors
		if err == nil || !errors.As(err, &cerr) || !cerr.only("del server ") {
			return err
		}
		// Retry the targets whose deletion failed, from maintenance on.
		failed := map[string]bool{}
		for _, f := range cerr.Failed {
			failed[f.Server] = true
		}
		cmds = slices.DeleteFunc(cmds, func(c command) bool { return !failed[c.Server] })
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove from backend %q gave up after %d attempts: %w", backend, attempt, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, removeMaxBackoff)
	}
}

// run sends "show servers state backend" (to tell a missing backend from a
// missing server) and cmds in one round trip and checks every response.
// With absentOK, "No such server." is not an error.
func (i *Instance) run(ctx context.Context, s *session, backend string, cmds []command, absentOK bool) error {
	lines := []string{"show servers state " + backend}
	for _, c := range cmds {
		lines = append(lines, c.Line)
	}
	resps, err := s.exchange(ctx, lines)
	if err != nil {
		return err
	}
	if isNoBackend(resps[0]) {
		return fmt.Errorf("backend %q: %w", backend, loadbalancer.ErrNoBackend)
	}
	return checkResponses(cmds, resps[1:], absentOK)
}
