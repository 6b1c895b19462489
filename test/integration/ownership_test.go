package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

// sharedBackend is one HAProxy whose backend "web" holds a static server
// from its configuration, with one LoadBalancer for it and a fixture per
// namespace binding Service "web" to that same backend.
type sharedBackend struct {
	proc   *process.Process
	static *conformance.Server
	teams  map[string]*lbFixture
}

func newSharedBackend(t *testing.T, e *env, namespaces ...string) *sharedBackend {
	t.Helper()
	sb := &sharedBackend{static: startTarget(t, "127.44.20.1"), teams: map[string]*lbFixture{}}
	sb.static.SetHealthy(true)
	p, err := process.Start(context.Background(), process.Config{
		Frontends: []process.Frontend{{Name: "fe", Address: netip.MustParseAddrPort("127.0.0.1:0"), Backend: "web"}},
		Backends:  []process.Backend{{Name: "web", HealthPath: "/healthz", StaticServers: []netip.AddrPort{sb.static.Addr()}}},
	})
	if err != nil {
		t.Fatalf("starting haproxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	sb.proc = p
	inst, err := haproxy.New(haproxy.Config{SocketPath: p.RuntimeSocket()})
	if err != nil {
		t.Fatal(err)
	}
	lb := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "lb-shared"}, Spec: v1alpha1.LoadBalancerSpec{
		HAProxy:         &v1alpha1.HAProxyLoadBalancer{Instances: []v1alpha1.HAProxyInstance{{Name: "i0", Socket: p.RuntimeSocket()}}},
		AllowedBindings: []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromAll}}}}}
	mustCreate(t, e, lb)
	for _, ns := range namespaces {
		e.namespace(ns, true)
		mustCreate(t, e, service(ns, "web", map[string]string{"app": "web"}))
		mustCreate(t, e, binding(ns, "web", "web", lb.Name, func(b *v1alpha1.TargetBinding) {
			b.Spec.HealthCheck.Interval = &metav1.Duration{Duration: 100 * time.Millisecond}
			b.Spec.Drain.Timeout = &metav1.Duration{Duration: 20 * time.Second}
		}))
		sb.teams[ns] = &lbFixture{e: e, ns: ns, lbName: lb.Name, procs: []*process.Process{p}, insts: []loadbalancer.Instance{inst}, binding: "web"}
	}
	return sb
}

// servers returns the backend's servers as HAProxy lists them: name →
// operational state (2 is running).
func (sb *sharedBackend) servers(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(sb.runtime(t, "show servers state web"), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[0] != "#" && !strings.HasPrefix(f[0], "#") && f[1] == "web" {
			out[f[3]] = f[5]
		}
	}
	return out
}

// load sends requests through the frontend from two loops until stopped,
// counting what failed.
type load struct {
	sent, failed atomic.Int64
	stop         chan struct{}
	wg           sync.WaitGroup
	mu           sync.Mutex
	errs         []string
}

func startLoad(url string) *load {
	l := &load{stop: make(chan struct{})}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 2 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; n < 20000; n++ { // bounded: at most 20,000 a loop
				select {
				case <-l.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				l.sent.Add(1)
				resp, err := c.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						continue
					}
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				l.failed.Add(1)
				l.mu.Lock()
				l.errs = append(l.errs, err.Error())
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) finish() (sent, failed int64, errs []string) {
	close(l.stop)
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load(), l.errs
}

// roll replaces team ns's pod old with a new one on target next, the way a
// rolling update does: the new pod first, the old one deleted once the new
// one is Ready (gate True), then its target gone from HAProxy.
func (sb *sharedBackend) roll(t *testing.T, ns string, old *corev1.Pod, oldTarget, next *conformance.Server) *corev1.Pod {
	t.Helper()
	f := sb.teams[ns]
	next.SetHealthy(true)
	p := f.startPod(t, next)
	f.waitGate(t, p.Name)
	if err := f.e.c.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	f.waitState(t, 0, oldTarget, loadbalancer.StateAbsent)
	return p
}

// TestController_BindingsShareABackend proves that two bindings (two
// namespaces, two Services) on one backend of one HAProxy, beside a static
// server from HAProxy's configuration, never touch each other's servers:
// under load both roll with 0 failed requests, every server of each is
// present and up afterwards, the static server untouched; and a binding
// whose Service then selects nothing removes only its own servers.
// Before owner tags each binding drained every zerodrop server it did not
// want, so the first roll took the other team's server out.
func TestController_BindingsShareABackend(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	sb := newSharedBackend(t, e, "team-a", "team-b")
	a1, a2 := startTarget(t, "127.44.21.1"), startTarget(t, "127.44.21.2")
	b1, b2 := startTarget(t, "127.44.22.1"), startTarget(t, "127.44.22.2")
	a1.SetHealthy(true)
	b1.SetHealthy(true)
	pa := sb.teams["team-a"].startPod(t, a1)
	pb := sb.teams["team-b"].startPod(t, b1)
	sb.teams["team-a"].waitGate(t, pa.Name)
	sb.teams["team-b"].waitGate(t, pb.Name)

	l := startLoad(sb.proc.FrontendURL("fe") + "/")
	time.Sleep(500 * time.Millisecond)
	sb.roll(t, "team-a", pa, a1, a2)
	sb.roll(t, "team-b", pb, b1, b2)
	time.Sleep(500 * time.Millisecond)
	sent, failed, errs := l.finish()
	t.Logf("under load through both rolls: %d requests sent, %d failed", sent, failed)
	if failed != 0 || sent == 0 {
		t.Errorf("%d of %d requests failed (first errors: %v); want 0 of > 0", failed, sent, errs[:min(len(errs), 5)])
	}
	for _, tg := range []*conformance.Server{a2, b2} {
		for ns, f := range sb.teams {
			if st := f.state(t, 0, tg); st.State != loadbalancer.StateHealthy {
				t.Errorf("after both rolls, %s is %s as %s sees the backend; want Healthy", tg.Addr(), st.State, ns)
			}
		}
	}
	srv := sb.servers(t)
	if srv["static-0"] != "2" {
		t.Errorf("static server after the rolls: op state %q in %v; want 2 (running)", srv["static-0"], srv)
	}
	owners := map[string]bool{}
	for name := range srv {
		if tg, ok := haproxy.ParseServerName(name); ok {
			if tg.Owner == "" {
				t.Errorf("server %s has no owner tag", name)
			}
			owners[tg.Owner] = true
		}
	}
	if len(owners) != 2 || len(srv) != 3 {
		t.Errorf("servers %v: want static-0 and one server per binding, with two owner tags", srv)
	}
	for ns, f := range sb.teams {
		e.eventually("ConflictFree on "+ns, 30*time.Second, func() error {
			c := meta.FindStatusCondition(f.bindingStatus(t).Conditions, v1alpha1.ConditionConflictFree)
			if c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("ConflictFree = %+v", c)
			}
			return nil
		})
	}

	// team-a's Service now selects nothing: only team-a's server goes.
	svc := &corev1.Service{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: "web"}, svc); err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"app": "nothing"}
	if err := e.c.Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	sb.teams["team-a"].waitState(t, 0, a2, loadbalancer.StateAbsent)
	time.Sleep(time.Second) // several passes of both bindings
	srv = sb.servers(t)
	if st := sb.teams["team-b"].state(t, 0, b2); st.State != loadbalancer.StateHealthy || srv["static-0"] != "2" {
		t.Errorf("after team-a's Service selects nothing: team-b's target %s, servers %v; want it Healthy beside static-0", st.State, srv)
	}
}

// TestController_SameAddressInTwoBindingsIsAConflict proves that when two
// bindings of one backend want the same pod address, both report it
// (ConflictFree=False, AddressConflict) and only one server is registered
// for it; the pod's gates open on both, since the load balancer sends it
// traffic either way.
func TestController_SameAddressInTwoBindingsIsAConflict(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	sb := newSharedBackend(t, e, "team-c")
	f := sb.teams["team-c"]
	mustCreate(t, e, service("team-c", "web-canary", map[string]string{"app": "web"}))
	mustCreate(t, e, binding("team-c", "canary", "web-canary", "lb-shared", func(b *v1alpha1.TargetBinding) {
		b.Spec.HealthCheck.Interval = &metav1.Duration{Duration: 100 * time.Millisecond}
	}))
	tg := startTarget(t, "127.44.23.1")
	tg.SetHealthy(true)
	p := f.startPod(t, tg)
	if !hasGate(p, "web") || !hasGate(p, "canary") {
		t.Fatalf("pod gates %v: want both bindings' gates", p.Spec.ReadinessGates)
	}
	f.waitGate(t, p.Name)
	canary := &lbFixture{e: e, ns: "team-c", binding: "canary"}
	canary.waitGate(t, p.Name)
	for _, name := range []string{"web", "canary"} {
		e.eventually("conflict reported on "+name, 30*time.Second, func() error {
			b := &v1alpha1.TargetBinding{}
			if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "team-c", Name: name}, b); err != nil {
				return err
			}
			c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionConflictFree)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonAddressConflict || !strings.Contains(c.Message, tg.Addr().String()) {
				return fmt.Errorf("ConflictFree = %+v", c)
			}
			return nil
		})
	}
	time.Sleep(time.Second) // no fight: the same single server pass after pass
	n := 0
	for name := range sb.servers(t) {
		if t2, ok := haproxy.ParseServerName(name); ok && t2.Address == tg.Addr() {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d servers for %s; want exactly 1", n, tg.Addr())
	}
}

// TestController_AdoptsLegacyServers proves that a server named the way
// zerodrop named servers before owner tags is adopted by the binding and
// replaced without a gap: under load, an owned server is registered beside
// it, and the legacy one leaves only once the owned one is healthy; 0
// requests fail.
func TestController_AdoptsLegacyServers(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	sb := newSharedBackend(t, e)
	sb.static.SetHealthy(false) // the pod's server alone serves: a gap would fail requests
	tg := startTarget(t, "127.44.24.1")
	tg.SetHealthy(true)
	inst, err := haproxy.New(haproxy.Config{SocketPath: sb.proc.RuntimeSocket()})
	if err != nil {
		t.Fatal(err)
	}
	legacy := loadbalancer.Target{Address: tg.Addr()} // no owner: the old naming
	if err := inst.Register(context.Background(), "web", loadbalancer.CheckSettings{Interval: 100 * time.Millisecond, Rise: 2, Fall: 2}, legacy); err != nil {
		t.Fatal(err)
	}
	legacyName, _ := haproxy.ServerName(legacy)
	e.eventually("legacy server up", 30*time.Second, func() error {
		if st := sb.servers(t)[legacyName]; st != "2" {
			return fmt.Errorf("legacy server op state %q", st)
		}
		return nil
	})
	l := startLoad(sb.proc.FrontendURL("fe") + "/")
	e.namespace("legacy", true)
	mustCreate(t, e, service("legacy", "web", map[string]string{"app": "web"}))
	mustCreate(t, e, binding("legacy", "web", "web", "lb-shared", func(b *v1alpha1.TargetBinding) {
		b.Spec.HealthCheck.Interval = &metav1.Duration{Duration: 100 * time.Millisecond}
	}))
	f := &lbFixture{e: e, ns: "legacy", lbName: "lb-shared", procs: []*process.Process{sb.proc}, insts: []loadbalancer.Instance{inst}, binding: "web"}
	p := f.startPod(t, tg)
	f.waitGate(t, p.Name)
	e.eventually("legacy server replaced by an owned one", 30*time.Second, func() error {
		srv := sb.servers(t)
		if _, still := srv[legacyName]; still || len(srv) != 2 {
			return fmt.Errorf("servers %v: want static-0 and one owned server, the legacy one gone", srv)
		}
		for name, st := range srv {
			if tt, ok := haproxy.ParseServerName(name); ok && (tt.Owner == "" || tt.Address != tg.Addr() || st != "2") {
				return fmt.Errorf("server %s (op state %s): want an owned, running server for %s", name, st, tg.Addr())
			}
		}
		return nil
	})
	sent, failed, errs := l.finish()
	t.Logf("under load while the legacy server was replaced: %d sent, %d failed", sent, failed)
	if failed != 0 || sent == 0 {
		t.Errorf("%d of %d requests failed (first: %v); want 0 of > 0", failed, sent, errs[:min(len(errs), 5)])
	}
}

// TestController_ChangedHealthCheckReachesExistingServers proves that a
// binding whose healthCheck changes gets its existing servers replaced
// with ones checked the new way (HAProxy cannot change a server's rise,
// fall or interval at run time), under load with 0 failed requests: the
// old server serves until its replacement is healthy.
func TestController_ChangedHealthCheckReachesExistingServers(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	sb := newSharedBackend(t, e, "hc")
	sb.static.SetHealthy(false) // the pod's server alone serves: a gap would fail requests
	f := sb.teams["hc"]
	tg := startTarget(t, "127.44.27.1")
	tg.SetHealthy(true)
	p := f.startPod(t, tg)
	f.waitGate(t, p.Name)
	f.waitState(t, 0, tg, loadbalancer.StateHealthy)
	if rise := sb.checkRise(t, tg); rise != "2" {
		t.Fatalf("check_rise before the change = %q; want 2", rise)
	}
	l := startLoad(sb.proc.FrontendURL("fe") + "/")
	time.Sleep(300 * time.Millisecond)
	b := &v1alpha1.TargetBinding{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "hc", Name: "web"}, b); err != nil {
		t.Fatal(err)
	}
	b.Spec.HealthCheck.HealthyThreshold = 3
	if err := e.c.Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	e.eventually("server checked with the new settings, the old one gone", 30*time.Second, func() error {
		n := 0
		for name := range sb.servers(t) {
			if tt, ok := haproxy.ParseServerName(name); ok && tt.Address == tg.Addr() {
				n++
			}
		}
		if rise := sb.checkRise(t, tg); n != 1 || rise != "3" {
			return fmt.Errorf("%d servers for %s, check_rise %q; want 1 with rise 3", n, tg.Addr(), rise)
		}
		return nil
	})
	sent, failed, errs := l.finish()
	t.Logf("under load through the health-check change: %d sent, %d failed", sent, failed)
	if failed != 0 || sent == 0 {
		t.Errorf("%d of %d requests failed (first: %v); want 0 of > 0", failed, sent, errs[:min(len(errs), 5)])
	}
	if f.gate(t, p.Name) != corev1.ConditionTrue {
		t.Error("gate left True during the replacement")
	}
}

// checkRise returns HAProxy's check_rise for the (last listed) zerodrop
// server of tg, from "show stat" ("" when there is none).
func (sb *sharedBackend) checkRise(t *testing.T, tg *conformance.Server) string {
	t.Helper()
	lines := strings.Split(sb.runtime(t, "show stat web 4 -1"), "\n")
	col := -1
	rise := ""
	for _, line := range lines {
		f := strings.Split(strings.TrimPrefix(line, "# "), ",")
		if strings.HasPrefix(line, "# ") {
			for i, name := range f {
				if name == "check_rise" {
					col = i
				}
			}
			continue
		}
		if tt, ok := haproxy.ParseServerName(f[min(1, len(f)-1)]); ok && tt.Address == tg.Addr() && col >= 0 && col < len(f) {
			rise = f[col]
		}
	}
	return rise
}

// runtime sends one command to the shared HAProxy's runtime API.
func (sb *sharedBackend) runtime(t *testing.T, cmd string) string {
	t.Helper()
	out, err := sb.proc.RuntimeCommand(context.Background(), cmd)
	if err != nil {
		t.Fatalf("runtime API %q: %v", cmd, err)
	}
	return out
}
