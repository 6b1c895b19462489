package haproxy_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
)

// TestInstance_sharedStatusIsOneRoundTripForEveryBackend: with Sharing,
// concurrent Status calls of 20 backends cost one round trip together and
// report what each backend's own round trip reports; a backend written
// through the Instance is read afresh alone (its caller sees its write),
// the others still from the shared reading; a missing backend is
// ErrNoBackend either way.
func TestInstance_sharedStatusIsOneRoundTripForEveryBackend(t *testing.T) {
	const n = 20
	var backends []process.Backend
	for b := range n {
		backends = append(backends, process.Backend{Name: fmt.Sprintf("b%02d", b), HealthPath: testHealthPath})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := process.Start(ctx, process.Config{
		Frontends: []process.Frontend{{Name: testFrontend, Address: netip.AddrPortFrom(randomLoopback(), 0), Backend: "b00"}},
		Backends:  backends,
	})
	if err != nil {
		t.Fatalf("start HAProxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	log := testr.NewWithInterface(t, testr.Options{})
	// Ages far above the test's length: what is shared is decided by the
	// counts, not by timing.
	shared, err := haproxy.New(haproxy.Config{SocketPath: p.RuntimeSocket(), Logger: log,
		Sharing: haproxy.Sharing{Moving: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	own, err := haproxy.New(haproxy.Config{SocketPath: p.RuntimeSocket(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// One registered target in every backend, by the per-backend Instance.
	targetIP := randomLoopback()
	for b, be := range backends {
		tgt := loadbalancer.Target{Address: netip.AddrPortFrom(targetIP, uint16(20000+b)), Owner: testOwner}
		if err := own.Register(ctx, be.Name, testCheck, tgt); err != nil {
			t.Fatalf("Register in %s: %v", be.Name, err)
		}
	}

	got := make([]loadbalancer.BackendStatus, n)
	var wg sync.WaitGroup
	for b, be := range backends {
		wg.Go(func() {
			st, err := shared.Status(ctx, be.Name)
			if err != nil {
				t.Errorf("shared Status(%s): %v", be.Name, err)
			}
			got[b] = st
		})
	}
	wg.Wait()
	if trips := shared.RoundTrips(); trips != 1 {
		t.Errorf("%d concurrent Status calls of %d backends made %d round trips, want 1", n, n, trips)
	}
	for b, be := range backends {
		want, err := own.Status(ctx, be.Name)
		if err != nil {
			t.Fatal(err)
		}
		// Sessions and check progress move between the two readings;
		// compare who is there and the process generation.
		if !reflect.DeepEqual(targetsOf(got[b]), targetsOf(want)) || got[b].Generation != want.Generation {
			t.Errorf("backend %s: shared reading %+v, own round trip %+v", be.Name, got[b], want)
		}
	}

	// A write through the shared Instance: its backend is read alone at
	// once, and shows the new target; another backend costs nothing.
	added := loadbalancer.Target{Address: netip.AddrPortFrom(targetIP, 21000), Owner: testOwner}
	if err := shared.Register(ctx, "b03", testCheck, added); err != nil {
		t.Fatal(err)
	}
	before := shared.RoundTrips()
	st, err := shared.Status(ctx, "b03")
	if err != nil {
		t.Fatal(err)
	}
	if !containsTarget(st, added) {
		t.Errorf("Status(b03) after Register = %+v, want it to list %s", st, added)
	}
	if _, err := shared.Status(ctx, "b04"); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Status(ctx, "b03"); err != nil {
		t.Fatal(err)
	}
	if trips := shared.RoundTrips() - before; trips != 1 {
		t.Errorf("Status of the written backend, then of another, then of the written one again made %d round trips, want 1", trips)
	}

	for _, inst := range []*haproxy.Instance{shared, own} {
		if _, err := inst.Status(ctx, "nosuch"); !errors.Is(err, loadbalancer.ErrNoBackend) {
			t.Errorf("Status(nosuch) = %v, want ErrNoBackend", err)
		}
	}
}

func targetsOf(st loadbalancer.BackendStatus) []loadbalancer.Target {
	var out []loadbalancer.Target
	for _, t := range st.Targets {
		out = append(out, t.Target)
	}
	return out
}

func containsTarget(st loadbalancer.BackendStatus, t loadbalancer.Target) bool {
	for _, ts := range st.Targets {
		if ts.Address == t.Address {
			return true
		}
	}
	return false
}

// testOwner is an owner tag (targets.OwnerLen lowercase hex digits).
const testOwner = "0123456789"
