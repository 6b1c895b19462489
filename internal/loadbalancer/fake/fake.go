// Package fake is a hand-written, in-memory loadbalancer.Instance for unit
// tests of zerodrop's logic. It records every call, lets a test set a
// target's state and sessions, inject an error per method and simulate a
// restart of the load balancer, and moves targets between states the way a
// real load balancer would when told to (but never by itself: a test calls
// SetState to make a check pass or fail).
package fake

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Method names, as recorded in Call.Method and used by SetError.
const (
	MethodStatus   = "Status"
	MethodRegister = "Register"
	MethodDrain    = "Drain"
	MethodRemove   = "Remove"
	MethodClose    = "Close"
)

// Call is one recorded call.
type Call struct {
	// Method is one of the Method constants.
	Method string
	// Backend is the backend argument (empty for Close).
	Backend string
	// Check is Register's check settings.
	Check loadbalancer.CheckSettings
	// Targets are the targets argument.
	Targets []loadbalancer.Target
}

// target is one target's simulated state.
type target struct {
	state    loadbalancer.State
	sessions int64
	check    loadbalancer.CheckSettings
}

// Instance is an in-memory loadbalancer.Instance. The zero value is not
// usable; call New. It is safe for concurrent use.
type Instance struct {
	mu         sync.Mutex
	backends   map[string]map[loadbalancer.Target]*target
	calls      []Call
	errs       map[string]error
	generation int
	closed     bool
	caps       loadbalancer.Capabilities
}

var _ loadbalancer.Instance = (*Instance)(nil)

// New returns an Instance with the named (empty) backends; any other
// backend is reported as missing (ErrNoBackend).
func New(backends ...string) *Instance {
	f := &Instance{backends: map[string]map[loadbalancer.Target]*target{}, errs: map[string]error{}, generation: 1,
		caps: loadbalancer.Capabilities{Sessions: true, PerTargetChecks: true, OwnerTags: true}}
	for _, b := range backends {
		f.backends[b] = map[loadbalancer.Target]*target{}
	}
	return f
}

// record notes a call and returns the injected error for it, or, when the
// backend is unknown, an error wrapping ErrNoBackend.
func (f *Instance) record(c Call) (map[loadbalancer.Target]*target, error) {
	f.calls = append(f.calls, c)
	if err := f.errs[c.Method]; err != nil {
		return nil, err
	}
	if c.Method == MethodClose {
		return nil, nil
	}
	b, ok := f.backends[c.Backend]
	if !ok {
		return nil, fmt.Errorf("fake %s: backend %q: %w", c.Method, c.Backend, loadbalancer.ErrNoBackend)
	}
	return b, nil
}

// Status returns the targets sorted by address and the generation.
func (f *Instance) Status(_ context.Context, backend string) (loadbalancer.BackendStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.record(Call{Method: MethodStatus, Backend: backend})
	if err != nil {
		return loadbalancer.BackendStatus{}, err
	}
	bs := loadbalancer.BackendStatus{Generation: strconv.Itoa(f.generation)}
	for t, s := range b {
		ts := loadbalancer.TargetStatus{Target: t, State: s.state, Sessions: s.sessions}
		if !f.caps.Sessions {
			ts.Sessions = loadbalancer.SessionsUnknown
		}
		bs.Targets = append(bs.Targets, ts)
	}
	slices.SortFunc(bs.Targets, func(a, b loadbalancer.TargetStatus) int { return a.Address.Compare(b.Address) })
	return bs, nil
}

// Register puts absent targets in StateInitial (with no sessions) and
// present targets that are draining, drained or in maintenance back in
// service: StateHealthy, as their checks kept running. Healthy, unhealthy
// and initial targets keep their state.
func (f *Instance) Register(_ context.Context, backend string, check loadbalancer.CheckSettings, targets ...loadbalancer.Target) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.record(Call{Method: MethodRegister, Backend: backend, Check: check, Targets: slices.Clone(targets)})
	if err != nil {
		return err
	}
	for _, t := range targets {
		t = f.stored(t)
		s, ok := b[t]
		switch {
		case !ok:
			b[t] = &target{state: loadbalancer.StateInitial, check: check}
		case s.state == loadbalancer.StateDraining || s.state == loadbalancer.StateDrained || s.state == loadbalancer.StateMaintenance:
			s.state = loadbalancer.StateHealthy
		}
	}
	return nil
}

// Drain puts present targets in StateDraining, or StateDrained when they
// have no sessions; absent targets are skipped.
func (f *Instance) Drain(_ context.Context, backend string, targets ...loadbalancer.Target) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.record(Call{Method: MethodDrain, Backend: backend, Targets: slices.Clone(targets)})
	if err != nil {
		return err
	}
	for _, t := range targets {
		if s, ok := b[f.stored(t)]; ok {
			s.state = f.drainState(s.sessions)
		}
	}
	return nil
}

// stored is t as the fake keeps it: without the owner or settings tag when
// its capabilities say the provider keeps none.
func (f *Instance) stored(t loadbalancer.Target) loadbalancer.Target {
	if !f.caps.OwnerTags {
		t.Owner = ""
	}
	if !f.caps.PerTargetChecks {
		t.Settings = ""
	}
	return t
}

func (f *Instance) drainState(sessions int64) loadbalancer.State {
	if sessions > 0 || !f.caps.Sessions {
		return loadbalancer.StateDraining
	}
	return loadbalancer.StateDrained
}

// Remove forgets the targets (StateAbsent); absent targets are fine.
func (f *Instance) Remove(_ context.Context, backend string, targets ...loadbalancer.Target) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.record(Call{Method: MethodRemove, Backend: backend, Targets: slices.Clone(targets)})
	if err != nil {
		return err
	}
	for _, t := range targets {
		t = f.stored(t)
		if s, ok := b[t]; ok && !f.caps.Sessions {
			s.state = loadbalancer.StateDraining // the provider drains on its own delay
			continue
		}
		delete(b, t)
	}
	return nil
}

// Capabilities returns what SetCapabilities set; by default HAProxy's.
func (f *Instance) Capabilities() loadbalancer.Capabilities {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caps
}

// SetCapabilities makes the fake claim caps and behave accordingly, for
// unit tests of providers without sessions or owner tags (ELBv2's): without
// OwnerTags or PerTargetChecks it drops those tags from the targets it is
// given; without Sessions, Status reports SessionsUnknown, and Drain and
// Remove both leave a present target Draining, as a provider whose drain
// runs on its own delay (tests end it with SetState StateAbsent).
func (f *Instance) SetCapabilities(caps loadbalancer.Capabilities) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caps = caps
}

// Close records the call; the fake keeps working afterwards (see Closed).
func (f *Instance) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.record(Call{Method: MethodClose}); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// Closed tells whether Close was called successfully.
func (f *Instance) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// AddBackend adds an empty backend (no-op if it exists).
func (f *Instance) AddBackend(backend string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.backends[backend]; !ok {
		f.backends[backend] = map[loadbalancer.Target]*target{}
	}
}

// SetState sets a present target's state, as the load balancer's checks
// or an operator would. StateAbsent removes it. Setting StateDraining or
// StateDrained does not change sessions. It fails for an absent target or
// unknown backend.
func (f *Instance) SetState(backend string, t loadbalancer.Target, state loadbalancer.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.target(backend, t)
	if err != nil {
		return err
	}
	if state == loadbalancer.StateAbsent {
		delete(f.backends[backend], f.stored(t))
		return nil
	}
	s.state = state
	return nil
}

// SetSessions sets a present target's open sessions. A draining target
// with no sessions left becomes drained, and a drained one given sessions
// becomes draining, as on a real load balancer.
func (f *Instance) SetSessions(backend string, t loadbalancer.Target, sessions int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.target(backend, t)
	if err != nil {
		return err
	}
	s.sessions = sessions
	if s.state == loadbalancer.StateDraining || s.state == loadbalancer.StateDrained {
		s.state = f.drainState(sessions)
	}
	return nil
}

func (f *Instance) target(backend string, t loadbalancer.Target) (*target, error) {
	b, ok := f.backends[backend]
	if !ok {
		return nil, fmt.Errorf("fake: backend %q: %w", backend, loadbalancer.ErrNoBackend)
	}
	s, ok := b[f.stored(t)]
	if !ok {
		return nil, fmt.Errorf("fake: backend %q has no target %s", backend, t)
	}
	return s, nil
}

// Check returns the check settings a present target was first registered
// with.
func (f *Instance) Check(backend string, t loadbalancer.Target) (loadbalancer.CheckSettings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.target(backend, t)
	if err != nil {
		return loadbalancer.CheckSettings{}, err
	}
	return s.check, nil
}

// SetError makes every later call of method fail with err (still recorded);
// a nil err clears it.
func (f *Instance) SetError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.errs, method)
		return
	}
	f.errs[method] = err
}

// Restart simulates a reload or restart of the load balancer: every
// target of every backend is forgotten and the generation changes.
func (f *Instance) Restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for b := range f.backends {
		f.backends[b] = map[loadbalancer.Target]*target{}
	}
	f.generation++
}

// Calls returns a copy of the recorded calls, oldest first.
func (f *Instance) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsTo returns the recorded calls of one method, oldest first.
func (f *Instance) CallsTo(method string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (f *Instance) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}
