package fake

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

var (
	ctx = context.Background()
	a   = loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.1:8080")}
	b   = loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.2:8080")}
)

func state(t *testing.T, f *Instance, tg loadbalancer.Target) loadbalancer.TargetStatus {
	t.Helper()
	bs, err := f.Status(ctx, "be")
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range bs.Targets {
		if ts.Target == tg {
			return ts
		}
	}
	return loadbalancer.TargetStatus{Target: tg, State: loadbalancer.StateAbsent}
}

func TestInstance_lifecycle(t *testing.T) {
	f := New("be")
	check := loadbalancer.CheckSettings{Rise: 2}
	if err := f.Register(ctx, "be", check, a, b); err != nil {
		t.Fatal(err)
	}
	if got := state(t, f, a).State; got != loadbalancer.StateInitial {
		t.Errorf("registered target is %s, want Initial", got)
	}
	if err := f.SetState("be", a, loadbalancer.StateHealthy); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSessions("be", a, 2); err != nil {
		t.Fatal(err)
	}
	if err := f.Drain(ctx, "be", a, b); err != nil {
		t.Fatal(err)
	}
	if got := state(t, f, a); got.State != loadbalancer.StateDraining || got.Sessions != 2 {
		t.Errorf("drained target with sessions: %+v, want Draining with 2", got)
	}
	if got := state(t, f, b).State; got != loadbalancer.StateDrained {
		t.Errorf("drained target without sessions is %s, want Drained", got)
	}
	if err := f.SetSessions("be", a, 0); err != nil {
		t.Fatal(err)
	}
	if got := state(t, f, a).State; got != loadbalancer.StateDrained {
		t.Errorf("draining target after its sessions ended is %s, want Drained", got)
	}
	if err := f.Register(ctx, "be", check, a); err != nil {
		t.Fatal(err)
	}
	if got := state(t, f, a).State; got != loadbalancer.StateHealthy {
		t.Errorf("drained target registered again is %s, want Healthy", got)
	}
	if err := f.Remove(ctx, "be", a, a); err != nil {
		t.Fatal(err)
	}
	if got := state(t, f, a).State; got != loadbalancer.StateAbsent {
		t.Errorf("removed target is %s, want Absent", got)
	}
	if got := len(f.CallsTo(MethodRegister)); got != 2 {
		t.Errorf("%d Register calls recorded, want 2", got)
	}
	if c, err := f.Check("be", b); err != nil || c != check {
		t.Errorf("Check = %+v, %v; want %+v", c, err, check)
	}
}

func TestInstance_restartForgetsTargetsAndBumpsGeneration(t *testing.T) {
	f := New("be")
	if err := f.Register(ctx, "be", loadbalancer.CheckSettings{}, a); err != nil {
		t.Fatal(err)
	}
	before, _ := f.Status(ctx, "be")
	f.Restart()
	after, _ := f.Status(ctx, "be")
	if after.Generation == before.Generation || len(after.Targets) != 0 || len(before.Targets) != 1 {
		t.Errorf("before %+v, after %+v: want one target then none, and a new generation", before, after)
	}
}

func TestInstance_errors(t *testing.T) {
	f := New("be")
	if _, err := f.Status(ctx, "other"); !errors.Is(err, loadbalancer.ErrNoBackend) {
		t.Errorf("Status of unknown backend: %v, want ErrNoBackend", err)
	}
	boom := errors.New("boom")
	f.SetError(MethodDrain, boom)
	if err := f.Drain(ctx, "be", a); !errors.Is(err, boom) {
		t.Errorf("Drain with injected error: %v", err)
	}
	if err := f.Register(ctx, "be", loadbalancer.CheckSettings{}, a); err != nil {
		t.Errorf("Register unaffected by Drain's error: %v", err)
	}
	f.SetError(MethodDrain, nil)
	if err := f.Drain(ctx, "be", a); err != nil {
		t.Errorf("Drain after clearing the error: %v", err)
	}
	if err := f.SetState("be", b, loadbalancer.StateHealthy); err == nil {
		t.Errorf("SetState of an absent target succeeded")
	}
	if got := len(f.Calls()); got != 4 {
		t.Errorf("%d calls recorded, want 4 (failed calls too)", got)
	}
}

func TestInstance_concurrentUse(t *testing.T) {
	f := New("be")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_ = f.Register(ctx, "be", loadbalancer.CheckSettings{}, a)
				_, _ = f.Status(ctx, "be")
				_ = f.Remove(ctx, "be", a)
			}
		})
	}
	wg.Wait()
	if got := len(f.Calls()); got != 8*100*3 {
		t.Errorf("%d calls recorded, want %d", got, 8*100*3)
	}
}
