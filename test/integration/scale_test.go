package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/controller"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/manager"
)

// The scale scenario: many bindings of a few pods each on one
// LoadBalancer of two HAProxy instances, the controller at its default
// intervals, observed per binding and shared in the same run. Instance i
// checks health path /h<i>: every target passes /h0 from the start and
// fails /h1 until the scenario lets it pass, so every binding has a target
// on the move (the fast-poll case) until then, and the gate latency is
// measured from instance 1's rise-th passing check.
type scaleConfig struct {
	bindings, pods int
	observation    string
	// window is how long each phase's load is measured.
	window time.Duration
}

// scaleCheck are the bindings' check settings: HAProxy's own default
// interval (2 s) with AWS's lowest healthy threshold (2), so the checks of
// every target by both instances stay well under what this machine serves
// beside the controller.
var scaleCheck = v1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: 2 * time.Second}, HealthyThreshold: 2, UnhealthyThreshold: 2}

// scaleResult is what one run measured.
type scaleResult struct {
	cfg scaleConfig
	// roundTrips* are Runtime API round trips per second per instance,
	// while every binding had a target on the move and once all settled.
	roundTripsMoving, roundTripsSettled []float64
	// cpuMoving, cpuSettled: CPU-seconds per minute of the test process
	// (the controller, and the targets answering health checks).
	cpuMoving, cpuSettled float64
	// apiMoving, apiSettled: the controller's API requests per second by
	// verb.
	apiMoving, apiSettled map[string]float64
	// gate: LB healthy (instance 1's rise-th passing check) → gate True
	// seen on a watch, every pod, sorted.
	gate []time.Duration
	// maxRSS is the test process' peak resident set, in MiB.
	maxRSS float64
	// writeLag is the mean of the controller's own gate latency from its
	// first reading of the target healthy everywhere to the gate written
	// (zerodrop_gate_latency_seconds{from="lb_healthy"}): the part of gate
	// that is not observation.
	writeLag time.Duration
}

// runScale runs the scenario once on an API server and HAProxy pair of its
// own.
func runScale(t testing.TB, c scaleConfig) scaleResult {
	t.Helper()
	ctx := context.Background()
	sharing, err := provider.HAProxySharing(c.observation, manager.DefaultPollInterval, manager.DefaultResyncInterval)
	if err != nil {
		t.Fatal(err)
	}
	f, err := provider.NewFactory(ctx, provider.Options{HAProxySharing: sharing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	insts := &instanceCounter{factory: f.New}
	api := &apiCounter{counts: map[string]int{}}
	e := startEnv(t, insts.New, func(o *manager.Options) {
		o.PollInterval, o.ResyncInterval = manager.DefaultPollInterval, manager.DefaultResyncInterval
	})
	e.stopController()
	e.wrapTransport = api.wrap
	e.startController()

	const ns = "scale"
	backends := make([]process.Backend, c.bindings)
	for j := range backends {
		backends[j].Name = fmt.Sprintf("b%03d", j)
	}
	lb := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "lb-scale"}, Spec: v1alpha1.LoadBalancerSpec{HAProxy: &v1alpha1.HAProxyLoadBalancer{},
		AllowedBindings: []v1alpha1.BindingGrant{{Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromNames, Names: []string{ns}}}}}}
	var observers []*haproxy.Instance
	for i := range 2 {
		for j := range backends {
			backends[j].HealthPath = fmt.Sprintf("/h%d", i)
		}
		p, err := process.Start(ctx, process.Config{
			Frontends: []process.Frontend{{Name: "fe", Address: netip.MustParseAddrPort("127.0.0.1:0"), Backend: backends[0].Name}},
			Backends:  backends,
		})
		if err != nil {
			t.Fatalf("starting haproxy: %v", err)
		}
		t.Cleanup(func() { _ = p.Stop() })
		obs, err := haproxy.New(haproxy.Config{SocketPath: p.RuntimeSocket(), Sharing: haproxy.Sharing{Moving: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		observers = append(observers, obs)
		lb.Spec.HAProxy.Instances = append(lb.Spec.HAProxy.Instances, v1alpha1.HAProxyInstance{Name: fmt.Sprintf("i%d", i), Socket: p.RuntimeSocket()})
	}
	e.namespace(ns, true)
	mustCreate(t, e, lb)
	type podTarget struct {
		name string
		srv  *conformance.Server
	}
	var all []podTarget
	for j, be := range backends {
		app := fmt.Sprintf("s%03d", j)
		mustCreate(t, e, service(ns, app, map[string]string{"app": app}))
		mustCreate(t, e, binding(ns, app, app, lb.Name, func(b *v1alpha1.TargetBinding) {
			b.Spec.Backend = be.Name
			b.Spec.HealthCheck = scaleCheck
		}))
		for k := range c.pods {
			n := j*c.pods + k
			l, err := net.Listen("tcp", net.JoinHostPort(fmt.Sprintf("127.47.%d.%d", n/250+1, n%250+1), "0"))
			if err != nil {
				t.Fatalf("listening for a target: %v", err)
			}
			srv := conformance.NewServer(t, l, "/h0")
			srv.SetPathHealthy("/h1", false)
			name := fmt.Sprintf("%s-%d", app, k)
			startScalePod(t, e, ns, name, app, srv)
			all = append(all, podTarget{name, srv})
		}
	}
	// Every target registered on both instances, Healthy on i0.
	want := c.bindings * c.pods
	e.eventually("every target registered on both instances", 3*time.Minute, func() error {
		for i, obs := range observers {
			n := 0
			for _, be := range backends {
				st, err := obs.Status(ctx, be.Name)
				if err != nil {
					return err
				}
				n += len(st.Targets)
			}
			if n != want {
				return fmt.Errorf("instance %d has %d targets, want %d", i, n, want)
			}
		}
		return nil
	})

	r := scaleResult{cfg: c}
	r.roundTripsMoving, r.cpuMoving, r.apiMoving = measure(insts, api, c.window)

	wc, err := client.NewWithWatch(e.cfg, client.Options{Scheme: e.c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	turned := time.Now()
	for _, pt := range all {
		pt.srv.SetPathHealthy("/h1", true)
	}
	seen := map[string]time.Time{}
	timeout := time.After(3 * time.Minute)
	for len(seen) < want {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("pod watch closed")
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if _, done := seen[p.Name]; !done && gateTrue(p) {
				seen[p.Name] = time.Now()
			}
		case <-timeout:
			t.Fatalf("%d of %d gates True within 3m", len(seen), want)
		}
	}
	rise := int(scaleCheck.HealthyThreshold)
	for _, pt := range all {
		passed := pt.srv.PassedOnSince("/h1", turned)
		if len(passed) < rise {
			t.Fatalf("pod %s: gate True after %d passing checks of instance 1, want %d", pt.name, len(passed), rise)
		}
		r.gate = append(r.gate, seen[pt.name].Sub(passed[rise-1]))
	}
	slices.Sort(r.gate)

	r.writeLag = meanGateLatency(t, e, controller.GateFromLBHealthy)

	time.Sleep(2 * manager.DefaultResyncInterval) // the last fast polls end
	r.roundTripsSettled, r.cpuSettled, r.apiSettled = measure(insts, api, c.window)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		r.maxRSS = float64(ru.Maxrss) / 1024
	}
	return r
}

// meanGateLatency returns the mean of the controller's gate latency
// histogram for label from.
func meanGateLatency(t testing.TB, e *env, from string) time.Duration {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != controller.MetricGateLatency {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "from" && l.GetValue() == from && m.GetHistogram().GetSampleCount() > 0 {
					h := m.GetHistogram()
					return time.Duration(h.GetSampleSum() / float64(h.GetSampleCount()) * float64(time.Second))
				}
			}
		}
	}
	return 0
}

// startScalePod creates a pod of app for srv and plays kubelet: bound, an
// IP, running, containers ready.
func startScalePod(t testing.TB, e *env, ns, name, app string, srv *conformance.Server) {
	t.Helper()
	p := pod(ns, name, map[string]string{"app": app}, int32(srv.Addr().Port()))
	p.Spec.NodeName = "node-1"
	mustCreate(t, e, p)
	ip := srv.Addr().Addr().String()
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
	}
	if err := e.c.Status().Update(context.Background(), p); err != nil {
		t.Fatalf("setting status of pod %s: %v", name, err)
	}
}

// gateTrue reports whether the pod's (only) zerodrop gate is True.
func gateTrue(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if strings.HasPrefix(string(c.Type), v1alpha1.GateConditionType("")) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// measure returns, over window, the round trips per second of each
// instance, the process' CPU-seconds per minute and the controller's API
// requests per second by verb.
func measure(insts *instanceCounter, api *apiCounter, window time.Duration) ([]float64, float64, map[string]float64) {
	trips0, cpu0, api0 := insts.trips(), cpuSeconds(), api.snapshot()
	start := time.Now()
	time.Sleep(window)
	secs := time.Since(start).Seconds()
	trips1, cpu1, api1 := insts.trips(), cpuSeconds(), api.snapshot()
	rt := make([]float64, len(trips1))
	for i := range trips1 {
		var before uint64
		if i < len(trips0) {
			before = trips0[i]
		}
		rt[i] = float64(trips1[i]-before) / secs
	}
	perVerb := map[string]float64{}
	for verb, n := range api1 {
		perVerb[verb] = float64(n-api0[verb]) / secs
	}
	return rt, (cpu1 - cpu0) / secs * 60, perVerb
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// instanceCounter hands out the factory's instances and remembers the
// HAProxy ones, to read their round trips.
type instanceCounter struct {
	factory pool.InstanceFactory
	mu      sync.Mutex
	insts   []*haproxy.Instance
}

// New is a pool.InstanceFactory.
func (c *instanceCounter) New(lb v1alpha1.LoadBalancerSpec, name string) (loadbalancer.Instance, error) {
	inst, err := c.factory(lb, name)
	if h, ok := inst.(*haproxy.Instance); ok {
		c.mu.Lock()
		c.insts = append(c.insts, h)
		c.mu.Unlock()
	}
	return inst, err
}

func (c *instanceCounter) trips() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]uint64, len(c.insts))
	for i, h := range c.insts {
		out[i] = h.RoundTrips()
	}
	return out
}

// apiCounter counts the controller's API requests by verb (the HTTP
// method; WATCH for GETs with watch=true).
type apiCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (a *apiCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		verb := r.Method
		if verb == http.MethodGet && r.URL.Query().Get("watch") == "true" {
			verb = "WATCH"
		}
		a.mu.Lock()
		a.counts[verb]++
		a.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (a *apiCounter) snapshot() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.counts))
	for k, v := range a.counts {
		out[k] = v
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	return d[(len(d)*p+99)/100-1]
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

// TestScale_SharedObservationKeepsRoundTripsIndependentOfBindings runs the
// scale scenario small (20 bindings of 3 pods), per binding and shared:
// every gate turns True in both, and while every binding has a target on
// the move the shared observation makes fewer than a third of the
// per-binding round trips per instance (20 bindings polling each instance
// every 100 ms against one shared reading per 100 ms). Counts, not times,
// are compared; BenchmarkScale prints the figures at size.
func TestScale_SharedObservationKeepsRoundTripsIndependentOfBindings(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	res := map[string]scaleResult{}
	for _, obs := range []string{provider.ObservationPerBinding, provider.ObservationShared} {
		t.Run(obs, func(t *testing.T) {
			res[obs] = runScale(t, scaleConfig{bindings: 20, pods: 3, observation: obs, window: 3 * time.Second})
			t.Logf("%s", res[obs])
		})
	}
	per, shared := res[provider.ObservationPerBinding], res[provider.ObservationShared]
	if len(per.roundTripsMoving) != 2 || len(shared.roundTripsMoving) != 2 {
		t.Fatalf("instances seen: per-binding %d, shared %d; want 2 each", len(per.roundTripsMoving), len(shared.roundTripsMoving))
	}
	if sum(shared.roundTripsMoving)*3 >= sum(per.roundTripsMoving) {
		t.Errorf("round trips while targets move: shared %.1f/s, per-binding %.1f/s; want shared below a third", sum(shared.roundTripsMoving), sum(per.roundTripsMoving))
	}
}

// BenchmarkScale runs the scale scenario per binding and shared in one run
// and prints both and their ratios. Size: ZERODROP_SCALE_BINDINGS (default
// 50) bindings of ZERODROP_SCALE_PODS (default 10) pods.
func BenchmarkScale(b *testing.B) {
	bindings, pods := envInt(b, "ZERODROP_SCALE_BINDINGS", 50), envInt(b, "ZERODROP_SCALE_PODS", 10)
	res := map[string]scaleResult{}
	for _, obs := range []string{provider.ObservationPerBinding, provider.ObservationShared} {
		// A sub-benchmark each, so that one run's API server, HAProxies,
		// controller and targets are gone before the next starts.
		b.Run(obs, func(b *testing.B) {
			res[obs] = runScale(b, scaleConfig{bindings: bindings, pods: pods, observation: obs, window: 10 * time.Second})
			b.Logf("%s", res[obs])
		})
	}
	if len(res) != 2 {
		b.Fatal("a run failed")
	}
	per, shared := res[provider.ObservationPerBinding], res[provider.ObservationShared]
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	b.ReportMetric(sum(shared.roundTripsMoving)/2, "shared-rt/s/instance-moving")
	b.ReportMetric(sum(per.roundTripsMoving)/2, "perbinding-rt/s/instance-moving")
	b.ReportMetric(ratio(sum(per.roundTripsMoving), sum(shared.roundTripsMoving)), "rt-ratio-moving")
	b.ReportMetric(ratio(sum(per.roundTripsSettled), sum(shared.roundTripsSettled)), "rt-ratio-settled")
	b.ReportMetric(ratio(per.cpuMoving, shared.cpuMoving), "cpu-ratio-moving")
	b.ReportMetric(float64(percentile(shared.gate, 99).Microseconds())/1000, "shared-gate-p99-ms")
	b.ReportMetric(float64(percentile(per.gate, 99).Microseconds())/1000, "perbinding-gate-p99-ms")
	b.Logf("%d bindings × %d pods, 2 HAProxy instances: per-binding/shared round trips %.1f× while moving, %.1f× settled; CPU %.2f× while moving, %.2f× settled; gate p99 %s vs %s",
		bindings, pods, ratio(sum(per.roundTripsMoving), sum(shared.roundTripsMoving)), ratio(sum(per.roundTripsSettled), sum(shared.roundTripsSettled)),
		ratio(per.cpuMoving, shared.cpuMoving), ratio(per.cpuSettled, shared.cpuSettled), percentile(per.gate, 99), percentile(shared.gate, 99))
}

// String prints one run's figures on a few lines.
func (r scaleResult) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s, %d bindings × %d pods:\n", r.cfg.observation, r.cfg.bindings, r.cfg.pods)
	fmt.Fprintf(&s, "  round trips/s per instance: moving %s, settled %s\n", floats(r.roundTripsMoving), floats(r.roundTripsSettled))
	fmt.Fprintf(&s, "  test-process CPU-s/min: moving %.1f, settled %.1f; peak RSS %.0f MiB\n", r.cpuMoving, r.cpuSettled, r.maxRSS)
	fmt.Fprintf(&s, "  controller API requests/s: moving %s; settled %s\n", verbs(r.apiMoving), verbs(r.apiSettled))
	fmt.Fprintf(&s, "  gate latency (LB healthy → gate True) over %d pods: p50 %s, p99 %s, max %s; of which the controller's write after its reading (mean) %s",
		len(r.gate), percentile(r.gate, 50).Round(time.Millisecond), percentile(r.gate, 99).Round(time.Millisecond), r.gate[len(r.gate)-1].Round(time.Millisecond), r.writeLag.Round(time.Millisecond))
	return s.String()
}

func floats(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, " / ")
}

func verbs(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// envInt reads a positive integer from the environment, or def.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
