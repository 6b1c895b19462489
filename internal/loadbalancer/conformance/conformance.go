// Package conformance is the test suite every real loadbalancer.Instance
// implementation must pass. A provider's package runs it from a test with a
// Harness that starts its real load balancer:
//
//	func TestConformance(t *testing.T) { conformance.Run(t, myHarness{}) }
//
// Every case gets a fresh load balancer from the Harness and real HTTP
// targets (Server) on addresses the Harness chooses, and checks both what
// the Instance reports and what clients going through the load balancer see.
//
// The cases follow the Instance's Capabilities: with session counts a
// drained target must be reported Drained with no session; without them
// (the load balancer ends a drain on its own delay, as ELBv2 does) it must
// leave by itself, Absent, while its in-flight requests complete. A
// provider that can observe must list a target someone else registered,
// and one that cannot must never list it. Owner and settings tags must
// round-trip where the provider keeps them and be empty where it does not.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Harness knows how to set up the load balancer under test for one case.
type Harness interface {
	// New starts a fresh load balancer (or gives exclusive use of one) for
	// the test and registers its teardown with t.Cleanup.
	New(t *testing.T) LoadBalancer
}

// RestartKind says how Restart loses the load balancer's dynamic targets.
type RestartKind string

// Restart kinds; Run covers each.
const (
	// Reload reloads the configuration, e.g. HAProxy's master starting a
	// new worker.
	Reload RestartKind = "reload"
	// Restart stops the load balancer and starts it again.
	Restart RestartKind = "restart"
)

// ErrUnsupported, returned by LoadBalancer.Restart, skips the case.
var ErrUnsupported = errors.New("not supported by this load balancer")

// LoadBalancer is one load balancer set up for one case.
type LoadBalancer interface {
	// Instance is the implementation under test, talking to this load
	// balancer.
	Instance() loadbalancer.Instance
	// Backend is an existing backend without zerodrop targets that
	// FrontendURL's requests are sent to.
	Backend() string
	// FrontendURL is the http:// URL clients use to reach Backend.
	FrontendURL() string
	// HealthPath is the path the backend's health checks request.
	HealthPath() string
	// Check is the check settings to register with; short intervals keep
	// the suite fast (e.g. 100ms, rise 2, fall 2).
	Check() loadbalancer.CheckSettings
	// Listen returns a listener for a new target, on an address the load
	// balancer can reach and no other target of the test uses.
	Listen(t *testing.T) net.Listener
	// Restart makes the load balancer lose its dynamic targets the way kind
	// does in production, and returns once it serves again. It returns
	// ErrUnsupported for a kind the provider cannot do.
	Restart(ctx context.Context, kind RestartKind) error
	// RegisterElsewhere puts a target at addr in Backend the way another
	// tool would (HAProxy: a server not named by zerodrop; ELBv2: another
	// client's RegisterTargets), so that it passes its checks and serves.
	RegisterElsewhere(ctx context.Context, addr netip.AddrPort) error
}

// Bounds of the suite's waits: generous, for loaded CI machines.
const (
	waitTimeout  = 20 * time.Second
	pollInterval = 25 * time.Millisecond
	caseTimeout  = 90 * time.Second
	// requests is how many client requests a case sends to prove where
	// traffic goes.
	requests = 20
)

// Run runs every case, in parallel, each on its own LoadBalancer.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"healthy target becomes Healthy and serves clients", testHealthy},
		{"failing target stays Initial and gets no client request while a healthy peer serves", testFailingStaysInitial},
		{"Register is idempotent and does not interrupt a healthy target", testRegisterIdempotent},
		{"Drain keeps in-flight request, sends no new request, then reports Drained", testDrain},
		{"Remove makes a target Absent and removing an absent target succeeds", testRemove},
		{"Register puts a draining target back in service", testRegisterDraining},
		{"healthy target failing its checks becomes Unhealthy", testUnhealthy},
		{"reload changes Generation and forgets targets until registered again", func(t *testing.T, e *env) { testRestart(t, e, Reload) }},
		{"restart changes Generation and forgets targets until registered again", func(t *testing.T, e *env) { testRestart(t, e, Restart) }},
		{"unknown backend is ErrNoBackend", testNoBackend},
		{"batch of 20 targets registers and removes in one call each", testBatch},
		{"owner and settings tags round-trip where the provider keeps them", testTags},
		{"a target registered elsewhere is listed exactly when the provider can observe", testElsewhere},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
			t.Cleanup(cancel)
			lb := h.New(t)
			inst := lb.Instance()
			c.run(t, &env{t: t, ctx: ctx, lb: lb, inst: inst, backend: lb.Backend(), caps: inst.Capabilities()})
		})
	}
}

// env is one case's load balancer and helpers.
type env struct {
	t       *testing.T
	ctx     context.Context
	lb      LoadBalancer
	inst    loadbalancer.Instance
	backend string
	caps    loadbalancer.Capabilities
}

// drained is the state a drained target reaches: Drained where the
// provider counts sessions, Absent where the load balancer ends the drain
// itself.
func (e *env) drained() loadbalancer.State {
	if e.caps.Sessions {
		return loadbalancer.StateDrained
	}
	return loadbalancer.StateAbsent
}

func (e *env) server() *Server {
	return NewServer(e.t, e.lb.Listen(e.t), e.lb.HealthPath())
}

func (e *env) register(servers ...*Server) {
	e.t.Helper()
	if err := e.inst.Register(e.ctx, e.backend, e.lb.Check(), targets(servers)...); err != nil {
		e.t.Fatalf("Register: %v", err)
	}
}

func targets(servers []*Server) []loadbalancer.Target {
	ts := make([]loadbalancer.Target, len(servers))
	for i, s := range servers {
		ts[i] = s.Target()
	}
	return ts
}

func (e *env) status() loadbalancer.BackendStatus {
	e.t.Helper()
	bs, err := e.inst.Status(e.ctx, e.backend)
	if err != nil {
		e.t.Fatalf("Status: %v", err)
	}
	return bs
}

// stateOf finds a target in a status; Absent when missing.
func stateOf(bs loadbalancer.BackendStatus, t loadbalancer.Target) loadbalancer.TargetStatus {
	for _, ts := range bs.Targets {
		if ts.Target == t {
			return ts
		}
	}
	return loadbalancer.TargetStatus{Target: t, State: loadbalancer.StateAbsent}
}

// waitState polls Status until every server is in state want. A provider
// that polls on its own budget (loadbalancer.Expecter) is told, before each
// look, that the suite waits on these targets, as the reconciler tells it
// of the targets it waits on.
func (e *env) waitState(want loadbalancer.State, servers ...*Server) loadbalancer.BackendStatus {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if x, ok := e.inst.(loadbalancer.Expecter); ok {
			for _, s := range servers {
				x.Expect(e.backend, s.Addr())
			}
		}
		bs := e.status()
		done := true
		for _, s := range servers {
			if stateOf(bs, s.Target()).State != want {
				done = false
			}
		}
		if done {
			return bs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after %s, want every target %s, got %+v", waitTimeout, want, bs.Targets)
		}
		time.Sleep(pollInterval)
	}
}

// remove removes servers the way the reconciler does, in the provider's
// production configuration: the first Remove must take them out of
// rotation at once (Absent, or Maintenance with no session: a provider may
// delete in a second step, as HAProxy does after its RemoveDelay), and
// calling Remove again on every pass must make them Absent.
func (e *env) remove(servers ...*Server) {
	e.t.Helper()
	if err := e.inst.Remove(e.ctx, e.backend, targets(servers)...); err != nil {
		e.t.Fatalf("Remove: %v", err)
	}
	bs := e.status()
	for _, s := range servers {
		ts := stateOf(bs, s.Target())
		switch {
		case ts.State == loadbalancer.StateAbsent:
		case e.caps.Sessions && (ts.State != loadbalancer.StateMaintenance || ts.Sessions != 0):
			e.t.Fatalf("right after Remove, %s is %s with %d sessions; want Absent, or Maintenance with none", s.Addr(), ts.State, ts.Sessions)
		case !e.caps.Sessions && ts.State != loadbalancer.StateDraining:
			e.t.Fatalf("right after Remove, %s is %s; want Absent, or Draining until the load balancer lets it go", s.Addr(), ts.State)
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		bs := e.status()
		left := 0
		for _, s := range servers {
			if stateOf(bs, s.Target()).State != loadbalancer.StateAbsent {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after %s of Remove calls, %d targets are still there: %+v", waitTimeout, left, bs.Targets)
		}
		time.Sleep(250 * time.Millisecond)
		if err := e.inst.Remove(e.ctx, e.backend, targets(servers)...); err != nil {
			e.t.Fatalf("Remove: %v", err)
		}
	}
}

// waitFor polls cond until it holds.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("after %s: %s did not happen", waitTimeout, what)
		}
		time.Sleep(pollInterval)
	}
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// get sends one client request through the load balancer and returns the
// status code and body.
func (e *env) get(path string) (int, string, error) {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, e.lb.FrontendURL()+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// getOK sends n requests through the load balancer, fails the test unless
// every one is answered 200, and returns how many each target answered.
func (e *env) getOK(n int) map[string]int {
	e.t.Helper()
	by := map[string]int{}
	for range n {
		code, body, err := e.get("/")
		if err != nil || code != http.StatusOK {
			e.t.Fatalf("client request through the load balancer: status %d, body %q, error %v", code, body, err)
		}
		by[body]++
	}
	return by
}

// hold starts a request to HoldPath through the load balancer, waits until
// s holds it and returns a function that waits for its outcome.
func (e *env) hold(s *Server) (wait func() (int, error)) {
	e.t.Helper()
	before := s.Holding()
	type result struct {
		code int
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		code, _, err := e.get(HoldPath)
		ch <- result{code, err}
	}()
	e.waitFor(fmt.Sprintf("target %s holds a request", s.Target()), func() bool { return s.Holding() > before })
	var once sync.Once
	var r result
	return func() (int, error) {
		once.Do(func() { r = <-ch })
		return r.code, r.err
	}
}

func testHealthy(t *testing.T, e *env) {
	s := e.server()
	e.register(s)
	e.waitState(loadbalancer.StateHealthy, s)
	if by := e.getOK(requests); by[s.Target().String()] != requests {
		t.Errorf("requests answered by target: %v, want all %d by %s", by, requests, s.Target())
	}
}

func testFailingStaysInitial(t *testing.T, e *env) {
	good, bad := e.server(), e.server()
	bad.SetHealthy(false)
	e.register(good)
	e.waitState(loadbalancer.StateHealthy, good)
	e.register(bad)
	// Requests spread over several check intervals while bad is checked.
	// A target that never passed is Initial, or Unhealthy once it failed
	// the unhealthy threshold (ELBv2); never Healthy.
	for range requests {
		e.getOK(1)
		if got := stateOf(e.status(), bad.Target()).State; got != loadbalancer.StateInitial && got != loadbalancer.StateUnhealthy {
			t.Fatalf("failing target is %s, want %s or %s", got, loadbalancer.StateInitial, loadbalancer.StateUnhealthy)
		}
		time.Sleep(e.lb.Check().Interval / 2)
	}
	if n := bad.Requests(); n != 0 {
		t.Errorf("failing target got %d client requests, want 0", n)
	}
	if n := good.Requests(); n != requests {
		t.Errorf("healthy peer got %d client requests, want %d", n, requests)
	}
	// The same count shows traffic once the target passes its checks.
	bad.SetHealthy(true)
	e.waitState(loadbalancer.StateHealthy, bad)
	e.getOK(requests)
	if bad.Requests() == 0 {
		t.Errorf("target got no client request after becoming healthy")
	}
}

func testRegisterIdempotent(t *testing.T, e *env) {
	s := e.server()
	e.register(s)
	e.register(s, s)
	e.waitState(loadbalancer.StateHealthy, s)
	e.register(s)
	bs := e.status()
	if got := stateOf(bs, s.Target()).State; got != loadbalancer.StateHealthy {
		t.Errorf("after registering a healthy target again it is %s, want %s", got, loadbalancer.StateHealthy)
	}
	if len(bs.Targets) != 1 {
		t.Errorf("targets after three registrations: %+v, want one", bs.Targets)
	}
	e.getOK(requests)
}

func testDrain(t *testing.T, e *env) {
	a, b := e.server(), e.server()
	e.register(a)
	e.waitState(loadbalancer.StateHealthy, a)
	wait := e.hold(a)
	e.register(b)
	e.waitState(loadbalancer.StateHealthy, b)

	if err := e.inst.Drain(e.ctx, e.backend, a.Target()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	ts := stateOf(e.waitState(loadbalancer.StateDraining, a), a.Target())
	switch {
	case e.caps.Sessions && ts.Sessions < 1:
		t.Errorf("draining target with a request in flight reports %d sessions", ts.Sessions)
	case !e.caps.Sessions && ts.Sessions != loadbalancer.SessionsUnknown:
		t.Errorf("provider without session counts reports %d sessions, want SessionsUnknown", ts.Sessions)
	}
	before := a.Requests()
	by := e.getOK(requests)
	if n := a.Requests() - before; n != 0 {
		t.Errorf("draining target got %d new requests, want 0 (answers: %v)", n, by)
	}
	if by[b.Target().String()] != requests {
		t.Errorf("answers: %v, want all %d by %s", by, requests, b.Target())
	}
	if got := stateOf(e.status(), a.Target()).State; got != loadbalancer.StateDraining {
		t.Errorf("target with a request in flight is %s, want %s", got, loadbalancer.StateDraining)
	}
	a.Release()
	if code, err := wait(); err != nil || code != http.StatusOK {
		t.Errorf("in-flight request on draining target: status %d, error %v; want 200", code, err)
	}
	ts = stateOf(e.waitState(e.drained(), a), a.Target())
	if e.caps.Sessions && ts.Sessions != 0 {
		t.Errorf("drained target reports %d sessions", ts.Sessions)
	}
}

func testRemove(t *testing.T, e *env) {
	a, b := e.server(), e.server()
	e.register(a, b)
	e.waitState(loadbalancer.StateHealthy, a, b)
	if err := e.inst.Drain(e.ctx, e.backend, a.Target()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	e.waitState(e.drained(), a)
	e.remove(a)
	bs := e.status()
	if got := stateOf(bs, b.Target()).State; got != loadbalancer.StateHealthy {
		t.Errorf("other target is %s after Remove, want %s", got, loadbalancer.StateHealthy)
	}
	if err := e.inst.Remove(e.ctx, e.backend, a.Target()); err != nil {
		t.Errorf("Remove of an absent target: %v", err)
	}
	never := e.server()
	if err := e.inst.Remove(e.ctx, e.backend, never.Target()); err != nil {
		t.Errorf("Remove of a never registered target: %v", err)
	}
	before := a.Requests()
	e.getOK(requests)
	if n := a.Requests() - before; n != 0 {
		t.Errorf("removed target got %d requests", n)
	}
}

func testRegisterDraining(t *testing.T, e *env) {
	s := e.server()
	e.register(s)
	e.waitState(loadbalancer.StateHealthy, s)
	wait := e.hold(s)
	if err := e.inst.Drain(e.ctx, e.backend, s.Target()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	e.waitState(loadbalancer.StateDraining, s)
	e.register(s)
	e.waitState(loadbalancer.StateHealthy, s)
	before := s.Requests()
	e.getOK(requests)
	if n := s.Requests() - before; n != requests {
		t.Errorf("target back in service got %d of %d requests", n, requests)
	}
	s.Release()
	if code, err := wait(); err != nil || code != http.StatusOK {
		t.Errorf("request in flight across Drain and Register: status %d, error %v; want 200", code, err)
	}
}

func testUnhealthy(t *testing.T, e *env) {
	s := e.server()
	e.register(s)
	e.waitState(loadbalancer.StateHealthy, s)
	s.SetHealthy(false)
	e.waitState(loadbalancer.StateUnhealthy, s)
	s.SetHealthy(true)
	e.waitState(loadbalancer.StateHealthy, s)
}

func testRestart(t *testing.T, e *env, kind RestartKind) {
	s := e.server()
	e.register(s)
	before := e.waitState(loadbalancer.StateHealthy, s)
	if err := e.lb.Restart(e.ctx, kind); err != nil {
		if errors.Is(err, ErrUnsupported) {
			t.Skipf("%s: %v", kind, err)
		}
		t.Fatalf("%s: %v", kind, err)
	}
	// A provider may answer Status from a reading shared by every backend
	// (HAProxy with Sharing): the new process shows within its age.
	var after loadbalancer.BackendStatus
	e.waitFor(fmt.Sprintf("a Generation other than %q after %s", before.Generation, kind), func() bool {
		after = e.status()
		return after.Generation != before.Generation
	})
	if got := stateOf(after, s.Target()).State; got != loadbalancer.StateAbsent {
		t.Errorf("target is %s after %s, want %s", got, kind, loadbalancer.StateAbsent)
	}
	e.register(s)
	e.waitState(loadbalancer.StateHealthy, s)
	e.getOK(requests)
}

func testNoBackend(t *testing.T, e *env) {
	_, err := e.inst.Status(e.ctx, "zd-conformance-no-such-backend")
	if !errors.Is(err, loadbalancer.ErrNoBackend) {
		t.Errorf("Status of an unknown backend: %v, want an error wrapping ErrNoBackend", err)
	}
	if _, err := e.inst.Status(e.ctx, e.backend); err != nil {
		t.Errorf("Status of the existing backend: %v", err)
	}
}

func testBatch(t *testing.T, e *env) {
	const n = 20
	servers := make([]*Server, n)
	for i := range servers {
		servers[i] = e.server()
	}
	e.register(servers...)
	bs := e.waitState(loadbalancer.StateHealthy, servers...)
	if len(bs.Targets) != n {
		t.Errorf("%d targets reported, want %d", len(bs.Targets), n)
	}
	by := e.getOK(2 * n)
	if len(by) < n/2 {
		t.Errorf("%d requests reached only %d of %d targets: %v", 2*n, len(by), n, by)
	}
	addrs := targets(servers)
	if err := e.inst.Drain(e.ctx, e.backend, addrs...); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	e.waitState(e.drained(), servers...)
	e.remove(servers...)
	bs = e.status()
	if len(bs.Targets) != 0 {
		t.Errorf("targets left after removing all: %+v", bs.Targets)
	}
}

func testTags(t *testing.T, e *env) {
	s := e.server()
	tagged := loadbalancer.Target{Address: s.Addr(), Owner: "0123456789", Settings: e.lb.Check().Tag()}
	if err := e.inst.Register(e.ctx, e.backend, e.lb.Check(), tagged); err != nil {
		t.Fatalf("Register: %v", err)
	}
	want := tagged
	if !e.caps.OwnerTags {
		want.Owner = ""
	}
	if !e.caps.PerTargetChecks {
		want.Settings = ""
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		var got []loadbalancer.Target
		for _, ts := range e.status().Targets {
			got = append(got, ts.Target)
			if ts.Target == want && ts.State == loadbalancer.StateHealthy {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, targets %v; want %+v Healthy (owner tags %v, per-target checks %v)",
				waitTimeout, got, want, e.caps.OwnerTags, e.caps.PerTargetChecks)
		}
		time.Sleep(pollInterval)
	}
}

func testElsewhere(t *testing.T, e *env) {
	s := e.server()
	if err := e.lb.RegisterElsewhere(e.ctx, s.Addr()); err != nil {
		t.Fatalf("registering a target elsewhere: %v", err)
	}
	// It serves clients either way: the load balancer has it.
	e.waitFor("the target registered elsewhere serves clients", func() bool {
		code, body, err := e.get("/")
		return err == nil && code == http.StatusOK && body == s.Target().String()
	})
	if e.caps.Observe {
		ts := stateOf(e.waitState(loadbalancer.StateHealthy, s), s.Target())
		if ts.Owner != "" {
			t.Errorf("target registered elsewhere reported with owner %q, want none", ts.Owner)
		}
		return
	}
	for _, ts := range e.status().Targets {
		if ts.Address == s.Addr() {
			t.Fatalf("provider that cannot observe lists a target it did not register: %+v", ts)
		}
	}
}
