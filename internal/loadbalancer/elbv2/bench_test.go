package elbv2

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/test/elbv2emu"
)

// Scale of BenchmarkPoller_Rollout500, overridable for a quicker look.
const (
	benchGroups     = 500
	benchRollout    = 50
	benchPerGroup   = 2
	benchDelay      = time.Second
	benchInterval   = 300 * time.Millisecond
	benchRise       = 3
	benchRegLag     = 200 * time.Millisecond
	benchRolloutMax = 5 * time.Minute
)

// benchEnvInt reads an int override of the benchmark's scale.
func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// checkedServer is a target that records when its health checks arrive.
type checkedServer struct {
	addr   netip.AddrPort
	mu     sync.Mutex
	checks []time.Time
}

func startCheckedServer(b *testing.B, i int) *checkedServer {
	b.Helper()
	ip := netip.AddrFrom4([4]byte{127, 47, byte(100 + i/250), byte(1 + i%250)})
	l, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		b.Fatal(err)
	}
	s := &checkedServer{addr: l.Addr().(*net.TCPAddr).AddrPort()}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.checks = append(s.checks, time.Now())
		s.mu.Unlock()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })
	return s
}

// healthyAt is when the emulator's HAProxy saw the rise-th passing check
// after since: when the target turned healthy on the emulated LB.
func (s *checkedServer) healthyAt(since time.Time, rise int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.checks {
		if c.After(since) {
			if n++; n == rise {
				return c, true
			}
		}
	}
	return time.Time{}, false
}

// BenchmarkPoller_Rollout500 measures the provider on the emulator with
// AWS's throttling buckets on: 500 target groups known to one Instance
// (cold start: one describe each, within the budget), then a rollout of 50
// of them at once, as 50 reconcilers would do it (register 2 new targets,
// wait until Status says healthy, deregister the 2 old ones, wait until
// Status says absent). It prints the API calls per second by action, the
// throttled calls, the gate latency (emulator healthy → Status healthy)
// the drain notice latency (end of the deregistration delay, counted from
// Drain's return → Status absent) and how long Register waited for the
// register budget. Run it once:
//
//	go test -run '^$' -bench Rollout500 -benchtime 1x ./internal/loadbalancer/elbv2/
//
// ZERODROP_BENCH_GROUPS, ZERODROP_BENCH_ROLLOUT and
// ZERODROP_BENCH_POLL_MS override the scale and the poll interval
// (default 2000, the provider's default).
func BenchmarkPoller_Rollout500(b *testing.B) {
	groups := benchEnvInt("ZERODROP_BENCH_GROUPS", benchGroups)
	rollout := min(benchEnvInt("ZERODROP_BENCH_ROLLOUT", benchRollout), groups)
	poll := time.Duration(benchEnvInt("ZERODROP_BENCH_POLL_MS", int(DefaultPollInterval/time.Millisecond))) * time.Millisecond
	for b.Loop() {
		benchRollout500(b, groups, rollout, poll)
	}
}

func benchRollout500(b *testing.B, groups, rollout int, poll time.Duration) {
	e := startEmulator(b, elbv2emu.Config{RegistrationLag: benchRegLag, Throttle: true})
	ctx := context.Background()

	// The account: groups target groups; the first rollout ones are rolled
	// out, each with benchPerGroup healthy old targets. The others are
	// settled and empty (their cost is their describes, not their
	// targets).
	start := time.Now()
	arns := make([]string, groups)
	var eg errgroup.Group
	eg.SetLimit(benchEnvInt("ZERODROP_BENCH_START_PARALLEL", 8))
	for i := range groups {
		eg.Go(func() error {
			spec := elbv2emu.TargetGroupSpec{Name: fmt.Sprintf("bench-%03d", i), Port: 8080, Attached: true,
				HealthCheckPath: "/healthz", HealthCheckInterval: benchInterval, HealthCheckTimeout: benchInterval / 2,
				HealthyThreshold: benchRise, UnhealthyThreshold: 2, DeregistrationDelay: benchDelay}
			arn, err := e.CreateTargetGroup(ctx, spec)
			arns[i] = arn
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		b.Fatalf("CreateTargetGroup: %v", err)
	}
	b.Logf("set-up: %d target groups (one HAProxy each) in %s", groups, time.Since(start).Round(time.Millisecond))
	old := make([][]*checkedServer, rollout)
	fresh := make([][]*checkedServer, rollout)
	for i := range rollout {
		for k := range benchPerGroup {
			old[i] = append(old[i], startCheckedServer(b, (2*i)*benchPerGroup+k))
			fresh[i] = append(fresh[i], startCheckedServer(b, (2*i+1)*benchPerGroup+k))
		}
	}
	r, reg := testRegistry(b, RegistryOptions{})
	raw, err := r.start(sharedKey{e.Region(), e.Endpoint()}, Config{Region: e.Region(), Budget: Budget{RegisterPerSecond: 4, RegisterBurst: 20}}.withDefaults())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.stop)
	client := raw.poller.api.(*elb.Client)
	for i := range rollout {
		if _, err := client.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arns[i]), Targets: benchTargets(old[i])}); err != nil {
			b.Fatalf("registering the old targets: %v", err)
		}
	}

	inst := testInstance(b, r, e, poll)
	// Cold start: the controller's first Status of every group.
	start = time.Now()
	eg = errgroup.Group{}
	eg.SetLimit(32)
	for _, arn := range arns {
		eg.Go(func() error { _, err := inst.Status(ctx, arn); return err })
	}
	if err := eg.Wait(); err != nil {
		b.Fatalf("cold start: %v", err)
	}
	cold := time.Since(start)
	for i := range rollout {
		for _, s := range old[i] {
			waitState(b, inst, arns[i], s.addr, loadbalancer.StateHealthy)
		}
	}
	b.Logf("cold start: %d target groups described in %s", groups, cold.Round(time.Millisecond))

	// The rollout.
	callsBefore, throttledBefore := e.Calls(), e.Throttled()
	var mu sync.Mutex
	var gate, drain, registerWait []time.Duration
	start = time.Now()
	eg = errgroup.Group{}
	for i := range rollout {
		eg.Go(func() error {
			rctx, cancel := context.WithTimeout(ctx, benchRolloutMax)
			defer cancel()
			registered := time.Now()
			if err := inst.Register(rctx, arns[i], loadbalancer.CheckSettings{}, benchLBTargets(fresh[i])...); err != nil {
				return err
			}
			mu.Lock()
			registerWait = append(registerWait, time.Since(registered))
			mu.Unlock()
			seenHealthy, err := benchWait(rctx, inst, arns[i], fresh[i], loadbalancer.StateHealthy)
			if err != nil {
				return err
			}
			for _, s := range fresh[i] {
				at, ok := s.healthyAt(registered, benchRise)
				if !ok {
					return fmt.Errorf("target %s: Status says healthy before %d checks passed", s.addr, benchRise)
				}
				mu.Lock()
				gate = append(gate, seenHealthy[s.addr].Sub(at))
				mu.Unlock()
			}
			if err := inst.Drain(rctx, arns[i], benchLBTargets(old[i])...); err != nil {
				return err
			}
			// AWS's drain began before Drain returned: the delay is over
			// at the latest delay after this.
			deregistered := time.Now()
			seenAbsent, err := benchWait(rctx, inst, arns[i], old[i], loadbalancer.StateAbsent)
			if err != nil {
				return err
			}
			for _, s := range old[i] {
				mu.Lock()
				drain = append(drain, seenAbsent[s.addr].Sub(deregistered.Add(benchDelay)))
				mu.Unlock()
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		b.Fatalf("rollout: %v", err)
	}
	took := time.Since(start)
	callsAfter := e.Calls()

	fmt.Printf("\nELBv2 rollout: %d of %d target groups, %d targets in and %d out each, poll interval %s, budget describe %d/s burst %d, register %d/s burst %d; emulator: AWS buckets on, checks every %s, rise %d, registration lag %s, deregistration delay %s\n",
		rollout, groups, benchPerGroup, benchPerGroup, poll, DefaultDescribePerSecond, DefaultDescribeBurst, DefaultRegisterPerSecond, DefaultRegisterBurst,
		benchInterval, benchRise, benchRegLag, benchDelay)
	fmt.Printf("  cold start (first Status of every group): %s\n", cold.Round(time.Millisecond))
	fmt.Printf("  rollout took %s\n", took.Round(time.Millisecond))
	actions := []string{"DescribeTargetHealth", "DescribeTargetGroups", "DescribeTargetGroupAttributes", "RegisterTargets", "DeregisterTargets"}
	total := 0
	for _, a := range actions {
		n := callsAfter[a] - callsBefore[a]
		total += n
		fmt.Printf("  %-30s %5d calls  %5.2f/s\n", a, n, float64(n)/took.Seconds())
	}
	fmt.Printf("  %-30s %5d calls  %5.2f/s\n", "all", total, float64(total)/took.Seconds())
	fmt.Printf("  throttled by the emulator: %d during the rollout (provider metric, whole run: %d)\n",
		e.Throttled()-throttledBefore, sumCalls(reg, e.Region(), OutcomeThrottled))
	fmt.Printf("  gate latency (emulator healthy → Status healthy), %d targets: p50 %s p99 %s max %s\n",
		len(gate), quantile(gate, 0.5), quantile(gate, 0.99), quantile(gate, 1))
	fmt.Printf("  drain notice (delay over → Status absent), %d targets: p50 %s p99 %s max %s\n",
		len(drain), quantile(drain, 0.5), quantile(drain, 0.99), quantile(drain, 1))
	fmt.Printf("  Register call (waits for the register budget), %d groups: p50 %s p99 %s max %s\n",
		len(registerWait), quantile(registerWait, 0.5), quantile(registerWait, 0.99), quantile(registerWait, 1))
	b.ReportMetric(float64(total)/took.Seconds(), "calls/s")
	b.ReportMetric(quantile(gate, 0.5).Seconds(), "gate-p50-s")
	b.ReportMetric(quantile(gate, 0.99).Seconds(), "gate-p99-s")
}

// benchWait polls Status (which costs no call) every 20 ms until every
// server is in state want, and returns when each first was.
func benchWait(ctx context.Context, inst *Instance, arn string, servers []*checkedServer, want loadbalancer.State) (map[netip.AddrPort]time.Time, error) {
	seen := map[netip.AddrPort]time.Time{}
	for len(seen) < len(servers) {
		bs, err := inst.Status(ctx, arn)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		for _, s := range servers {
			if _, ok := seen[s.addr]; !ok && stateOf(bs, s.addr).State == want {
				seen[s.addr] = now
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s in %s: %w", want, arn, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return seen, nil
}

func benchTargets(servers []*checkedServer) []types.TargetDescription {
	addrs := make([]netip.AddrPort, len(servers))
	for i, s := range servers {
		addrs[i] = s.addr
	}
	return descriptions(addrs)
}

func benchLBTargets(servers []*checkedServer) []loadbalancer.Target {
	out := make([]loadbalancer.Target, len(servers))
	for i, s := range servers {
		out[i] = loadbalancer.Target{Address: s.addr}
	}
	return out
}

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)].Round(time.Millisecond)
}

// sumCalls sums MetricAPICalls of one outcome over the provider's actions.
func sumCalls(reg *prometheus.Registry, region, outcome string) int {
	n := 0
	for _, a := range []string{"DescribeTargetHealth", "DescribeTargetGroups", "DescribeTargetGroupAttributes", "RegisterTargets", "DeregisterTargets"} {
		n += calls(reg, region, a, outcome)
	}
	return n
}
