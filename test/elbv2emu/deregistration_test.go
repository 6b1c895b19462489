package elbv2emu

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

var (
	healthy      = observation{types.TargetHealthStateEnumHealthy, ""}
	draining     = observation{types.TargetHealthStateEnumDraining, types.TargetHealthReasonEnumDeregistrationInProgress}
	notRegistred = observation{types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotRegistered}
)

// TestEmulator_DeregisterTargets: a deregistered target drains for the
// whole deregistration delay, busy or idle; new requests go elsewhere while
// a request already in flight on it completes; after the delay it is
// unused/NotRegistered when listed and absent when not.
func TestEmulator_DeregisterTargets(t *testing.T) {
	const delay = 2 * time.Second
	e := startEmulator(t, Config{})
	c := newClient(t, e, clientOptions{})
	arn := testGroup(t, e, TargetGroupSpec{Attached: true, DeregistrationDelay: delay})
	busy := startBackend(t, 1, "busy", 200)
	idle := startBackend(t, 2, "idle", 200)
	stays := startBackend(t, 3, "stays", 200)

	// busy alone first, so that the held request lands on it.
	register(t, c, arn, busy)
	waitFor(t, c, arn, busy.target(), healthy)
	held := make(chan error, 1)
	go func() {
		name, err := get(t, e.FrontendURL(arn)+"/hold")
		if err == nil && name != busy.name {
			err = fmt.Errorf("held request answered by %q", name)
		}
		held <- err
	}()
	for busy.held.Load() == 0 {
		time.Sleep(pollEvery)
	}
	register(t, c, arn, idle, stays)
	waitFor(t, c, arn, idle.target(), healthy)
	waitFor(t, c, arn, stays.target(), healthy)

	start := time.Now()
	deregister(t, c, arn, busy, idle)
	deregister(t, c, arn, busy) // deregistering a draining target changes nothing
	released := false
	for {
		ob, _ := healthOfTarget(t, c, arn, busy.target())
		oi, _ := healthOfTarget(t, c, arn, idle.target())
		if time.Since(start) >= delay {
			break
		}
		// Both answers were given before the delay ended: both must say
		// draining.
		if ob != draining || oi != draining {
			t.Fatalf("%s after DeregisterTargets (delay %s): busy %v, idle %v; want both draining", time.Since(start), delay, ob, oi)
		}
		if !released && time.Since(start) > delay/2 {
			if got := answeredBy(t, e.FrontendURL(arn), 10); !slices.Equal(got, []string{"stays"}) {
				t.Errorf("new requests while draining reached %v, want only [stays]", got)
			}
			close(busy.release)
			released = true
			if err := <-held; err != nil {
				t.Errorf("request in flight on the draining target: %v", err)
			}
		}
		time.Sleep(pollEvery)
	}
	if !released {
		t.Fatal("the delay passed before the held request was released (machine too slow?)")
	}
	waitFor(t, c, arn, busy.target(), notRegistred)
	waitFor(t, c, arn, idle.target(), notRegistred)
	if got, want := registeredTargets(t, c, arn), []string{stays.addr.String()}; !slices.Equal(got, want) {
		t.Errorf("targets listed after the delay: %v, want %v", got, want)
	}
	// Gone from HAProxy too: registering it again starts from scratch.
	register(t, c, arn, idle)
	seen := waitFor(t, c, arn, idle.target(), healthy)
	if seen[0].State != types.TargetHealthStateEnumInitial {
		t.Errorf("target registered again after its drain started as %v, want initial", seen[0])
	}
}

// TestEmulator_RegisterTargets_cancelsDrain: registering a draining target
// brings it back into service, and its drain never completes.
func TestEmulator_RegisterTargets_cancelsDrain(t *testing.T) {
	const delay = time.Second
	e := startEmulator(t, Config{})
	c := newClient(t, e, clientOptions{})
	arn := testGroup(t, e, TargetGroupSpec{Attached: true, DeregistrationDelay: delay})
	b := startBackend(t, 1, "b", 200)
	register(t, c, arn, b)
	waitFor(t, c, arn, b.target(), healthy)
	deregister(t, c, arn, b)
	if o, _ := healthOfTarget(t, c, arn, b.target()); o != draining {
		t.Fatalf("after DeregisterTargets: %v, want draining", o)
	}
	register(t, c, arn, b)
	if o, _ := healthOfTarget(t, c, arn, b.target()); o != healthy {
		t.Errorf("draining target registered again: %v, want healthy", o)
	}
	time.Sleep(delay + removeAfter + 200*time.Millisecond)
	if o, _ := healthOfTarget(t, c, arn, b.target()); o != healthy {
		t.Errorf("after the delay it would have drained for: %v, want healthy", o)
	}
	if got := answeredBy(t, e.FrontendURL(arn), 5); !slices.Equal(got, []string{"b"}) {
		t.Errorf("traffic reached %v, want [b]", got)
	}
}

// TestEmulator_DeregisterTargets_inLag: a target
// deregistered before its lag ended drains like any other and never gets
// a server.
func TestEmulator_DeregisterTargets_inLag(t *testing.T) {
	e := startEmulator(t, Config{RegistrationLag: 500 * time.Millisecond})
	c := newClient(t, e, clientOptions{})
	arn := testGroup(t, e, TargetGroupSpec{Attached: true, DeregistrationDelay: time.Second})
	b := startBackend(t, 1, "b", 200)
	register(t, c, arn, b)
	deregister(t, c, arn, b)
	seen := waitFor(t, c, arn, b.target(), notRegistred)
	if want := []observation{draining, notRegistred}; !slices.Equal(seen, want) {
		t.Errorf("saw %v, want %v", seen, want)
	}
}
