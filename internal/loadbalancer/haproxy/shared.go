package haproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Shared status: one reading of every backend, shared by the Status calls of
// all backends (all bindings of the instance), so that the instance answers
// O(1) round trips per poll whatever the number of bindings.

// Sharing says how fresh a shared reading must be to answer a Status call:
// Moving while any of zerodrop's targets on the instance is on its way in or
// out (not Healthy, or written since its last reading), Settled otherwise.
// A backend written through this Instance (Register, Drain, Remove) since
// its last reading is read on its own at the next Status, so a caller
// always sees its own writes.
type Sharing struct {
	// Moving is the longest age of a reading that answers Status while
	// something moves on the instance (the controller's poll interval).
	Moving time.Duration
	// Settled is the longest age while nothing moves (the controller's
	// resync interval). Zero means Moving.
	Settled time.Duration
}

// reading is what one round trip learnt of one backend.
type reading struct {
	status loadbalancer.BackendStatus
	// err is a missing backend's error (ErrNoBackend), remembered like a
	// status; transport errors are never remembered.
	err error
	at  time.Time
	// writes is the backend's write count when the round trip started: a
	// reading older than the backend's last write is stale at any age.
	writes uint64
}

// fullRead is one round trip reading every backend, which concurrent
// Status calls wait for together.
type fullRead struct {
	done chan struct{}
	err  error
}

// sharedState is the Instance's shared-status bookkeeping, guarded by
// Instance.mu.
type sharedState struct {
	readings map[string]reading
	writes   map[string]uint64
	inFlight *fullRead
	// moving: the last readings showed a target on its way, or a target was
	// written since.
	moving bool
}

// sharedStatus answers Status from a shared reading (see Sharing).
func (i *Instance) sharedStatus(ctx context.Context, backend string) (loadbalancer.BackendStatus, error) {
	i.mu.Lock()
	r, ok := i.shared.readings[backend]
	written := i.shared.writes[backend]
	maxAge := i.sharing.Moving
	if !i.shared.moving && i.sharing.Settled > 0 {
		maxAge = i.sharing.Settled
	}
	switch {
	case ok && r.writes == written && time.Since(r.at) < maxAge:
		i.mu.Unlock()
		return r.status, r.err
	case written > 0 && (!ok || r.writes != written):
		// Written since its last reading: read it alone, now.
		i.mu.Unlock()
		return i.readOne(ctx, backend)
	}
	f := i.shared.inFlight
	if f == nil {
		f = &fullRead{done: make(chan struct{})}
		i.shared.inFlight = f
		go i.readAll(ctx, f)
	}
	i.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return loadbalancer.BackendStatus{}, fmt.Errorf("HAProxy runtime API: wait for the shared reading: %w", ctx.Err())
	}
	if f.err != nil {
		return loadbalancer.BackendStatus{}, f.err
	}
	i.mu.Lock()
	r, ok = i.shared.readings[backend]
	written = i.shared.writes[backend]
	i.mu.Unlock()
	if !ok || r.writes != written {
		// Written while the shared reading was under way.
		return i.readOne(ctx, backend)
	}
	return r.status, r.err
}

// readOne reads one backend in its own round trip and keeps the reading.
func (i *Instance) readOne(ctx context.Context, backend string) (loadbalancer.BackendStatus, error) {
	i.mu.Lock()
	writes := i.shared.writes[backend]
	i.mu.Unlock()
	st, err := i.statusOf(ctx, backend)
	if err != nil && !isNoBackendErr(err) {
		return st, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if cur, ok := i.shared.readings[backend]; !ok || cur.writes <= writes {
		i.shared.readings[backend] = reading{status: st, err: err, at: time.Now(), writes: writes}
	}
	i.shared.moving = i.shared.moving || onTheMove(st)
	return st, err
}

// readAll reads every backend in one round trip, keeps the readings and
// releases the Status calls waiting for it. It runs on its own (with the
// first caller's values but not its cancellation), bounded by the
// Instance's timeout.
func (i *Instance) readAll(ctx context.Context, f *fullRead) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.timeout)
	defer cancel()
	i.mu.Lock()
	writes := make(map[string]uint64, len(i.shared.writes))
	for b, n := range i.shared.writes {
		writes[b] = n
	}
	i.mu.Unlock()
	all, err := i.statusAll(ctx)
	now := time.Now()
	i.mu.Lock()
	if err == nil {
		moving := false
		for b := range i.shared.readings {
			if _, ok := all[b]; !ok {
				delete(i.shared.readings, b) // a backend removed from the configuration
			}
		}
		for b, st := range all {
			if cur, ok := i.shared.readings[b]; ok && cur.writes > writes[b] {
				continue // a newer own reading, after a write
			}
			i.shared.readings[b] = reading{status: st, at: now, writes: writes[b]}
			moving = moving || onTheMove(st)
		}
		for b, n := range i.shared.writes {
			moving = moving || n != writes[b]
		}
		i.shared.moving = moving
	}
	i.shared.inFlight = nil
	i.mu.Unlock()
	f.err = err
	close(f.done)
}

// wrote records a write to backend: its next Status reads it afresh, and
// the instance polls at the Moving age until a reading shows it settled.
func (i *Instance) wrote(backend string) {
	if i.sharing.Moving <= 0 {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.shared.writes[backend]++
	i.shared.moving = true
}

// onTheMove reports whether any of the backend's targets is on its way in
// or out of service.
func onTheMove(st loadbalancer.BackendStatus) bool {
	return slices.ContainsFunc(st.Targets, func(t loadbalancer.TargetStatus) bool {
		return t.State != loadbalancer.StateHealthy
	})
}

// statusAll reads every backend of the instance in one round trip.
func (i *Instance) statusAll(ctx context.Context) (map[string]loadbalancer.BackendStatus, error) {
	s, err := i.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	resps, err := s.exchange(ctx, []string{
		"show info",
		"show backend",
		"show servers state",
		"show stat -1 4 -1",
	})
	if err != nil {
		return nil, err
	}
	return parseAll(resps[0], resps[1], resps[2], resps[3])
}

// parseAll builds the BackendStatus of every backend from the responses to
// show info, show backend, show servers state and show stat (of every
// backend).
func parseAll(info, backends, state, stat string) (map[string]loadbalancer.BackendStatus, error) {
	inf, err := ParseInfo(info)
	if err != nil {
		return nil, err
	}
	names, err := ParseBackends(backends)
	if err != nil {
		return nil, err
	}
	states, err := ParseServersState(state)
	if err != nil {
		return nil, err
	}
	stats, err := ParseStat(stat)
	if err != nil {
		return nil, err
	}
	out := make(map[string]loadbalancer.BackendStatus, len(names))
	for _, b := range names {
		out[b] = loadbalancer.BackendStatus{Generation: inf.Generation()}
	}
	byName := make(map[[2]string]Stat, len(stats))
	for _, st := range stats {
		byName[[2]string{st.Backend, st.Name}] = st
	}
	for _, ss := range states {
		t, ok := ParseServerName(ss.Name)
		if !ok {
			continue
		}
		bs, ok := out[ss.Backend]
		if !ok {
			continue // not a backend (a listen section's servers are listed too)
		}
		st := byName[[2]string{ss.Backend, ss.Name}]
		bs.Targets = append(bs.Targets, loadbalancer.TargetStatus{Target: t, State: StateOf(ss, st), Sessions: st.Sessions})
		out[ss.Backend] = bs
	}
	for b, bs := range out {
		slices.SortFunc(bs.Targets, func(a, b loadbalancer.TargetStatus) int { return a.Address.Compare(b.Address) })
		out[b] = bs
	}
	return out, nil
}

// ParseBackends parses the output of "show backend": a "# name" header and
// one backend name per line.
func ParseBackends(out string) ([]string, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "# name" {
		return nil, fmt.Errorf("show backend: want a '# name' header, got %q", truncate(out))
	}
	var names []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names, nil
}

// newSharedState returns empty bookkeeping.
func newSharedState() sharedState {
	return sharedState{readings: map[string]reading{}, writes: map[string]uint64{}}
}

// isNoBackendErr reports whether err says the backend does not exist.
func isNoBackendErr(err error) bool { return errors.Is(err, loadbalancer.ErrNoBackend) }

// RoundTrips returns how many Runtime API connections the Instance has
// opened, each one batch of commands and their answers (Register uses two
// exchanges on one): a Status of one backend is one, a shared reading of
// every backend is one. Tests and benchmarks compare it across Sharing
// settings.
func (i *Instance) RoundTrips() uint64 { return i.roundTrips.Load() }
