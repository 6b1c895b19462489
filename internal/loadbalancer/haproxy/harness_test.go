package haproxy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

const (
	testBackend    = "app"
	testFrontend   = "web"
	testHealthPath = "/healthz"
)

// testCheck is short so the tests are fast.
var testCheck = loadbalancer.CheckSettings{Interval: 100 * time.Millisecond, Rise: 2, Fall: 2}

// harness runs the conformance suite against real HAProxy processes.
type harness struct {
	keepAlive bool
	// sharing, when set, answers Status from shared readings.
	sharing haproxy.Sharing
}

func (h harness) New(t *testing.T) conformance.LoadBalancer {
	l := startLB(t, h.keepAlive)
	if h.sharing.Moving > 0 {
		inst, err := haproxy.New(haproxy.Config{SocketPath: l.p.RuntimeSocket(), Sharing: h.sharing,
			Logger: testr.NewWithInterface(t, testr.Options{})})
		if err != nil {
			t.Fatal(err)
		}
		l.inst = inst
	}
	return l
}

// lb is one HAProxy with one frontend and one backend, on a random
// 127.42.x.y address; targets listen on another.
type lb struct {
	p        *process.Process
	inst     *haproxy.Instance
	targetIP netip.Addr
}

// randomLoopback returns 127.42.x.y with x, y in 1..250, so parallel
// tests (and other helpers' tests on 127.x) rarely share an address; ports
// are picked free anyway.
func randomLoopback() netip.Addr {
	return netip.AddrFrom4([4]byte{127, 42, byte(1 + rand.IntN(250)), byte(1 + rand.IntN(250))})
}

func startLB(t testing.TB, keepAlive bool) *lb {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := process.Start(ctx, process.Config{
		Frontends:       []process.Frontend{{Name: testFrontend, Address: netip.AddrPortFrom(randomLoopback(), 0), Backend: testBackend}},
		Backends:        []process.Backend{{Name: testBackend, HealthPath: testHealthPath}},
		ServerKeepAlive: keepAlive,
	})
	if err != nil {
		t.Fatalf("start HAProxy: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("stop HAProxy: %v", err)
		}
	})
	// The production configuration: RemoveDelay's default.
	inst, err := haproxy.New(haproxy.Config{SocketPath: p.RuntimeSocket(), Logger: testr.NewWithInterface(t, testr.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	return &lb{p: p, inst: inst, targetIP: randomLoopback()}
}

func (l *lb) Instance() loadbalancer.Instance   { return l.inst }
func (l *lb) Backend() string                   { return testBackend }
func (l *lb) FrontendURL() string               { return l.p.FrontendURL(testFrontend) }
func (l *lb) HealthPath() string                { return testHealthPath }
func (l *lb) Check() loadbalancer.CheckSettings { return testCheck }

func (l *lb) Listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(l.targetIP, 0).String())
	if err != nil {
		t.Fatalf("listen for a target: %v", err)
	}
	return ln
}

func (l *lb) Restart(ctx context.Context, kind conformance.RestartKind) error {
	switch kind {
	case conformance.Reload:
		return l.p.Reload(ctx)
	case conformance.Restart:
		return l.p.Restart(ctx)
	}
	return fmt.Errorf("%s: %w", kind, conformance.ErrUnsupported)
}

func TestConformance(t *testing.T) {
	conformance.Run(t, harness{})
}

// TestConformance_sharedStatus runs the suite with Status answered from
// shared readings of every backend, at the controller's default ages.
func TestConformance_sharedStatus(t *testing.T) {
	conformance.Run(t, harness{sharing: haproxy.Sharing{Moving: 100 * time.Millisecond, Settled: 2 * time.Second}})
}

// TestConformance_serverKeepAlive runs the suite with keep-alive pooled
// connections to servers, HAProxy's default, which makes "del server" wait
// for idle connections.
func TestConformance_serverKeepAlive(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	conformance.Run(t, harness{keepAlive: true})
}

// RegisterElsewhere adds a server the way an operator would, under a name
// zerodrop does not use.
func (l *lb) RegisterElsewhere(ctx context.Context, addr netip.AddrPort) error {
	ref := testBackend + "/static-" + strconv.Itoa(int(addr.Port()))
	for _, cmd := range []string{
		"add server " + ref + " " + addr.String() + " check inter 100ms rise 2 fall 2",
		"enable health " + ref,
		"set server " + ref + " state ready",
	} {
		if out, err := l.p.RuntimeCommand(ctx, cmd); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		} else if strings.TrimSpace(out) != "" && !strings.Contains(out, "New server registered") {
			return fmt.Errorf("%s: %s", cmd, out)
		}
	}
	return nil
}
