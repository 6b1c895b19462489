package elbv2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/test/elbv2emu"
)

// Scaled-down timings of the emulated target groups: a target passes its
// rise checks about half a second after its registration lag.
const (
	testCheckInterval = 150 * time.Millisecond
	testCheckTimeout  = 100 * time.Millisecond
	testRise          = 3
	testFall          = 2
	testPollInterval  = 100 * time.Millisecond
	// waitBound bounds every wait for a state.
	waitBound = 20 * time.Second
	waitEvery = 20 * time.Millisecond
)

// startEmulator starts an ELBv2 emulator (its HAProxy files in a short
// temporary directory: HAProxy's unix socket paths are short) until the
// end of the test.
func startEmulator(t testing.TB, cfg elbv2emu.Config) *elbv2emu.Emulator {
	t.Helper()
	dir, err := os.MkdirTemp("", "zdelb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cfg.Dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := elbv2emu.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("elbv2emu.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("emulator Close: %v", err)
		}
	})
	return e
}

// staticCredentials are the LoadOptions of tests against the emulator:
// static keys, no shared files, so nothing from the machine leaks in.
func staticCredentials() []func(*config.LoadOptions) error {
	return []func(*config.LoadOptions) error{
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDZERODROPTEST", "not-checked", "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	}
}

// nilLoadOptions are no extra LoadOptions: the machine's own credential
// chain (testRegistry's default is static keys).
func nilLoadOptions() []func(*config.LoadOptions) error { return []func(*config.LoadOptions) error{} }

// testRegistry returns a Registry whose metrics go to a registry of the
// test's own, closed at the end of the test.
func testRegistry(t testing.TB, o RegistryOptions) (*Registry, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	if o.LoadOptions == nil {
		o.LoadOptions = staticCredentials()
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 200 * time.Millisecond
	}
	ctx := context.Background()
	if tt, ok := t.(*testing.T); ok {
		ctx = logrContext(tt)
	}
	r, err := NewRegistry(ctx, o)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, reg
}

// logrContext carries a logger that writes to the test's log.
func logrContext(t *testing.T) context.Context {
	return logr.NewContext(context.Background(), testr.New(t))
}

// testInstance returns an Instance on the emulator.
func testInstance(t testing.TB, r *Registry, e *elbv2emu.Emulator, interval time.Duration) *Instance {
	t.Helper()
	inst, err := r.New(Config{Region: e.Region(), Endpoint: e.Endpoint(), PollInterval: interval})
	if err != nil {
		t.Fatalf("Registry.New: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	return inst
}

// testGroup creates a target group with the test timings.
func testGroup(t testing.TB, e *elbv2emu.Emulator, spec elbv2emu.TargetGroupSpec) string {
	t.Helper()
	if spec.Port == 0 {
		spec.Port = 8080
	}
	spec.HealthCheckPath = "/healthz"
	if spec.HealthCheckInterval == 0 {
		spec.HealthCheckInterval, spec.HealthCheckTimeout = testCheckInterval, testCheckTimeout
	}
	if spec.HealthyThreshold == 0 {
		spec.HealthyThreshold, spec.UnhealthyThreshold = testRise, testFall
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arn, err := e.CreateTargetGroup(ctx, spec)
	if err != nil {
		t.Fatalf("CreateTargetGroup %s: %v", spec.Name, err)
	}
	return arn
}

// server is a real HTTP server standing in for a pod: /healthz answers
// with its health status, anything else with its name.
type server struct {
	name   string
	addr   netip.AddrPort
	health atomic.Int32
}

// startServer serves on 127.47.<a>.<b> (a free port) until the end of the
// test.
func startServer(t testing.TB, a, b byte, name string) *server {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 47, a, b}), 0).String())
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &server{name: name, addr: l.Addr().(*net.TCPAddr).AddrPort()}
	s.health.Store(http.StatusOK)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(s.health.Load())) })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, s.name) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *server) target() loadbalancer.Target { return loadbalancer.Target{Address: s.addr} }

// stateOf returns a target's status in bs (StateAbsent when not listed).
func stateOf(bs loadbalancer.BackendStatus, a netip.AddrPort) loadbalancer.TargetStatus {
	for _, ts := range bs.Targets {
		if ts.Address == a {
			return ts
		}
	}
	return loadbalancer.TargetStatus{Target: loadbalancer.Target{Address: a}, State: loadbalancer.StateAbsent}
}

// waitState polls Status until the target reports want, and returns the
// distinct states seen in order, want last.
func waitState(t testing.TB, inst loadbalancer.Instance, backend string, a netip.AddrPort, want loadbalancer.State) []loadbalancer.State {
	t.Helper()
	var seen []loadbalancer.State
	deadline := time.Now().Add(waitBound)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		bs, err := inst.Status(ctx, backend)
		cancel()
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		st := stateOf(bs, a).State
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == want {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("target %s never reported %s within %s; saw %v", a, want, waitBound, seen)
		}
		time.Sleep(waitEvery)
	}
}

// calls returns MetricAPICalls of one action and outcome.
func calls(reg *prometheus.Registry, region, action, outcome string) int {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != MetricAPICalls {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["region"] == region && labels["action"] == action && labels["outcome"] == outcome {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// noBackend reports whether err says the backend does not exist.
func noBackend(err error) bool { return errors.Is(err, loadbalancer.ErrNoBackend) }
