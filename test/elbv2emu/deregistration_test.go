package elbv2emu

import (
	"fmt"
	"io"
	"net/http"
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

// TestEmulator_DeregisterTargets_connectionTermination: at the end of the
// delay an ALB, and an NLB with connection termination, cut a request
// still in flight on the target; an NLB without it lets the request finish
// after the target is already unused, and only then deletes the server.
func TestEmulator_DeregisterTargets_connectionTermination(t *testing.T) {
	tests := []struct {
		name        string
		lbType      LBType
		termination bool
		cut         bool
	}{
		{"alb", LBApplication, false, true},
		{"nlb-terminate", LBNetwork, true, true},
		{"nlb-keep", LBNetwork, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startEmulator(t, Config{})
			c := newClient(t, e, clientOptions{})
			arn := testGroup(t, e, TargetGroupSpec{Name: tt.name, LBType: tt.lbType, ConnectionTermination: tt.termination, Attached: true, DeregistrationDelay: time.Second})
			b := startBackend(t, 1, "b", 200)
			register(t, c, arn, b)
			waitFor(t, c, arn, b.target(), healthy)
			held := make(chan error, 1)
			go func() {
				_, err := get(t, e.FrontendURL(arn)+"/hold")
				held <- err
			}()
			for b.held.Load() == 0 {
				time.Sleep(pollEvery)
			}
			deregister(t, c, arn, b)
			waitFor(t, c, arn, b.target(), notRegistred)
			if tt.cut {
				select {
				case err := <-held:
					if err == nil {
						t.Error("request in flight at the end of the delay completed, want it cut")
					}
				case <-time.After(waitBound):
					t.Fatal("request in flight at the end of the delay still open")
				}
				return
			}
			select {
			case err := <-held:
				t.Fatalf("request in flight ended at the end of the delay (%v), want it open", err)
			case <-time.After(removeAfter + removeRetry):
			}
			close(b.release)
			if err := <-held; err != nil {
				t.Errorf("request in flight after the target left: %v", err)
			}
			g := e.group(arn)
			for deadline := time.Now().Add(waitBound); ; time.Sleep(pollEvery) {
				g.mu.Lock()
				n := len(g.removing)
				g.mu.Unlock()
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("server never deleted after its last session ended")
				}
			}
		})
	}
}

// TestEmulator_DeregisterTargets_keepAlive: a client's keep-alive
// connection after its target left: an ALB balances its next requests onto
// the remaining target; an NLB keeps the connection on the deregistered
// target even once it is unused, unless connection termination cut it.
func TestEmulator_DeregisterTargets_keepAlive(t *testing.T) {
	tests := []struct {
		name        string
		lbType      LBType
		termination bool
		// want is who answers once the target reads NotRegistered.
		want string
	}{
		{"alb", LBApplication, false, "b"},
		{"nlb-keep", LBNetwork, false, "a"},
		{"nlb-terminate", LBNetwork, true, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startEmulator(t, Config{})
			c := newClient(t, e, clientOptions{})
			arn := testGroup(t, e, TargetGroupSpec{Name: "ka-" + tt.name, LBType: tt.lbType, ConnectionTermination: tt.termination, Attached: true, DeregistrationDelay: time.Second})
			a, b := startBackend(t, 1, "a", 200), startBackend(t, 2, "b", 200)
			register(t, c, arn, a)
			waitFor(t, c, arn, a.target(), healthy)
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, IdleConnTimeout: time.Minute}}
			t.Cleanup(client.CloseIdleConnections)
			ask := func() string {
				resp, err := client.Get(e.FrontendURL(arn) + "/")
				if err != nil {
					return "error"
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return string(body)
			}
			if got := ask(); got != "a" {
				t.Fatalf("first request answered by %q, want a", got)
			}
			register(t, c, arn, b)
			waitFor(t, c, arn, b.target(), healthy)
			deregister(t, c, arn, a)
			var after []string
			gone := false
			for deadline := time.Now().Add(waitBound); len(after) < 5; time.Sleep(100 * time.Millisecond) {
				got := ask()
				if gone {
					after = append(after, got)
				} else if o, _ := healthOfTarget(t, c, arn, a.target()); o == notRegistred {
					gone = true
				}
				if time.Now().After(deadline) {
					t.Fatalf("target a never read NotRegistered, or too few answers after: %v", after)
				}
			}
			// A connection cut by termination may fail the one request
			// that was on its way.
			if tt.termination && after[0] == "error" {
				after = after[1:]
			}
			for _, got := range after {
				if got != tt.want {
					t.Errorf("answers on the keep-alive client after a left: %v, want all %s", after, tt.want)
					break
				}
			}
		})
	}
}
