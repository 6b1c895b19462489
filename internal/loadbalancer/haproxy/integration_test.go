package haproxy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

func startProcess(t testing.TB, cfg process.Config) *process.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := process.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start HAProxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestInstance_tcpRuntimeAPIAndStaticServersIgnored(t *testing.T) {
	ip := randomLoopback()
	static := netip.AddrPortFrom(ip, 1)
	p := startProcess(t, process.Config{
		Frontends:  []process.Frontend{{Name: testFrontend, Address: netip.AddrPortFrom(ip, 0), Backend: testBackend}},
		Backends:   []process.Backend{{Name: testBackend, StaticServers: []netip.AddrPort{static}}},
		RuntimeTCP: netip.AddrPortFrom(ip, 0),
	})
	inst, err := haproxy.New(haproxy.Config{Address: p.RuntimeAddress().String(), RemoveDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bs, err := inst.Status(ctx, testBackend)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs.Targets) != 0 || bs.Generation == "" {
		t.Errorf("status with only a static server: %+v, want no targets and a generation", bs)
	}
	// A target at the static server's address is zerodrop's own server,
	// beside the static one; removing it leaves the static one alone.
	target := loadbalancer.Target{Address: static}
	if err := inst.Register(ctx, testBackend, testCheck, target); err != nil {
		t.Fatal(err)
	}
	bs, err = inst.Status(ctx, testBackend)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs.Targets) != 1 || bs.Targets[0].Target != target || bs.Targets[0].State != loadbalancer.StateInitial {
		t.Errorf("status after registering a dead target: %+v, want it alone and Initial", bs.Targets)
	}
	if err := inst.Remove(ctx, testBackend, target); err != nil {
		t.Fatal(err)
	}
	out, err := p.RuntimeCommand(ctx, "show servers state "+testBackend)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, " static-0 ") || strings.Contains(out, haproxy.ServerNamePrefix) {
		t.Errorf("after Remove, servers:\n%s\nwant static-0 only", out)
	}
}

func TestInstance_unknownBackendOnEveryMethod(t *testing.T) {
	l := startLB(t, false)
	ctx := context.Background()
	target := loadbalancer.Target{Address: netip.MustParseAddrPort("127.42.0.1:1")}
	for name, call := range map[string]func() error{
		"Status":   func() error { _, err := l.inst.Status(ctx, "nosuch"); return err },
		"Register": func() error { return l.inst.Register(ctx, "nosuch", testCheck, target) },
		"Drain":    func() error { return l.inst.Drain(ctx, "nosuch", target) },
		"Remove":   func() error { return l.inst.Remove(ctx, "nosuch", target) },
	} {
		if err := call(); !errors.Is(err, loadbalancer.ErrNoBackend) {
			t.Errorf("%s on an unknown backend: %v, want ErrNoBackend", name, err)
		}
	}
	// The same calls on the real backend succeed.
	if err := l.inst.Drain(ctx, testBackend, target); err != nil {
		t.Errorf("Drain of an absent target: %v", err)
	}
	if _, err := l.inst.Status(ctx, testBackend); err != nil {
		t.Errorf("Status: %v", err)
	}
}

func TestInstance_errors(t *testing.T) {
	missing, err := haproxy.New(haproxy.Config{SocketPath: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := missing.Status(context.Background(), testBackend); err == nil || !strings.Contains(err.Error(), "connect to HAProxy runtime API") {
		t.Errorf("Status without HAProxy: %v, want a connect error", err)
	}
	if _, err := missing.Status(context.Background(), "bad name"); err == nil || !strings.Contains(err.Error(), `backend name "bad name"`) {
		t.Errorf("Status of an invalid backend name: %v", err)
	}
	for name, cfg := range map[string]haproxy.Config{
		"neither": {},
		"both":    {SocketPath: "/x", Address: "127.0.0.1:1"},
		"bad tcp": {Address: "127.0.0.1"},
	} {
		if _, err := haproxy.New(cfg); err == nil {
			t.Errorf("New with %s: no error", name)
		}
	}

	// A cancelled context stops a call against a live HAProxy.
	l := startLB(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.inst.Status(ctx, testBackend); !errors.Is(err, context.Canceled) {
		t.Errorf("Status with a cancelled context: %v, want context.Canceled", err)
	}
}

// BenchmarkStatus measures one Status call on a backend with 50 healthy
// targets, over the unix socket.
func BenchmarkStatus(b *testing.B) {
	l := startLB(b, false)
	ctx := context.Background()
	ln := func() net.Listener {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(l.targetIP, 0).String())
		if err != nil {
			b.Fatal(err)
		}
		return ln
	}
	var targets []loadbalancer.Target
	for range 50 {
		targets = append(targets, conformance.NewServer(b, ln(), testHealthPath).Target())
	}
	if err := l.inst.Register(ctx, testBackend, loadbalancer.CheckSettings{Interval: time.Second, Rise: 1, Fall: 2}, targets...); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		bs, err := l.inst.Status(ctx, testBackend)
		if err != nil {
			b.Fatal(err)
		}
		healthy := 0
		for _, ts := range bs.Targets {
			if ts.State == loadbalancer.StateHealthy {
				healthy++
			}
		}
		if healthy == len(targets) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d targets healthy", healthy, len(targets))
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bs, err := l.inst.Status(ctx, testBackend)
		if err != nil || len(bs.Targets) != len(targets) {
			b.Fatalf("Status: %d targets, %v", len(bs.Targets), err)
		}
	}
}

// checkRecorder answers health checks with 200 once enabled and records
// when it did.
type checkRecorder struct {
	mu     sync.Mutex
	ok     bool
	passed []time.Time
}

func (c *checkRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	c.passed = append(c.passed, time.Now())
	w.WriteHeader(http.StatusOK)
}

// BenchmarkHealthyLatency measures, for a target registered while failing
// its checks, how long after its rise-th passing check (as the target saw
// it) Status first reports it Healthy, polling Status every millisecond.
// It reports the mean as ms-after-rise-check, and the time from the
// target turning healthy as ms-after-turning-healthy (which includes up to
// one check interval of waiting for the next check, plus rise-1 intervals).
func BenchmarkHealthyLatency(b *testing.B) {
	l := startLB(b, false)
	ctx := context.Background()
	check := loadbalancer.CheckSettings{Interval: 100 * time.Millisecond, Rise: 2, Fall: 2}
	var afterRise, afterTurn time.Duration
	for b.Loop() {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(l.targetIP, 0).String())
		if err != nil {
			b.Fatal(err)
		}
		rec := &checkRecorder{}
		srv := &http.Server{Handler: rec}
		go func() { _ = srv.Serve(ln) }()
		target := loadbalancer.Target{Address: ln.Addr().(*net.TCPAddr).AddrPort()}
		if err := l.inst.Register(ctx, testBackend, check, target); err != nil {
			b.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond) // a few failing checks first
		rec.mu.Lock()
		rec.ok = true
		turned := time.Now()
		rec.mu.Unlock()
		var seen time.Time
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			bs, err := l.inst.Status(ctx, testBackend)
			if err != nil {
				b.Fatal(err)
			}
			if len(bs.Targets) == 1 && bs.Targets[0].State == loadbalancer.StateHealthy {
				seen = time.Now()
				break
			}
		}
		rec.mu.Lock()
		if seen.IsZero() || len(rec.passed) < int(check.Rise) {
			b.Fatalf("target not healthy: %d passing checks", len(rec.passed))
		}
		afterRise += seen.Sub(rec.passed[check.Rise-1])
		rec.mu.Unlock()
		afterTurn += seen.Sub(turned)
		if err := l.inst.Remove(ctx, testBackend, target); err != nil {
			b.Fatal(err)
		}
		_ = srv.Close()
	}
	b.ReportMetric(float64(afterRise.Microseconds())/1000/float64(b.N), "ms-after-rise-check")
	b.ReportMetric(float64(afterTurn.Microseconds())/1000/float64(b.N), "ms-after-turning-healthy")
}

// TestInstance_removeParksThenDeletes proves the two-step removal that keeps
// HAProxy 2.6 from freeing a server a stream still refers to: the first
// Remove leaves the target in maintenance, a Remove after RemoveDelay
// deletes it, and a Register in between puts it back in service.
func TestInstance_removeParksThenDeletes(t *testing.T) {
	// Long enough that the calls "within the delay" are within it even on a
	// busy machine.
	const removeDelay = 3 * time.Second
	ip := randomLoopback()
	p := startProcess(t, process.Config{
		Frontends: []process.Frontend{{Name: testFrontend, Address: netip.AddrPortFrom(ip, 0), Backend: testBackend}},
		Backends:  []process.Backend{{Name: testBackend}},
	})
	inst, err := haproxy.New(haproxy.Config{SocketPath: p.RuntimeSocket(), RemoveDelay: removeDelay})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	target := loadbalancer.Target{Address: netip.AddrPortFrom(ip, 9)}
	state := func() loadbalancer.State {
		bs, err := inst.Status(ctx, testBackend)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range bs.Targets {
			if ts.Address == target.Address {
				return ts.State
			}
		}
		return loadbalancer.StateAbsent
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(inst.Register(ctx, testBackend, testCheck, target))
	must(inst.Remove(ctx, testBackend, target))
	if s := state(); s != loadbalancer.StateMaintenance {
		t.Fatalf("after the first Remove: %s, want Maintenance", s)
	}
	must(inst.Remove(ctx, testBackend, target))
	if s := state(); s != loadbalancer.StateMaintenance {
		t.Fatalf("after a second Remove within the delay: %s, want Maintenance", s)
	}
	must(inst.Register(ctx, testBackend, testCheck, target))
	if s := state(); s == loadbalancer.StateMaintenance || s == loadbalancer.StateAbsent {
		t.Fatalf("after Register: %s, want back in service", s)
	}
	must(inst.Remove(ctx, testBackend, target))
	time.Sleep(removeDelay + 100*time.Millisecond)
	if s := state(); s != loadbalancer.StateMaintenance {
		t.Fatalf("before the delayed Remove: %s, want Maintenance (the delay restarted at Register)", s)
	}
	must(inst.Remove(ctx, testBackend, target))
	if s := state(); s != loadbalancer.StateAbsent {
		t.Fatalf("after a Remove past the delay: %s, want Absent", s)
	}
}
