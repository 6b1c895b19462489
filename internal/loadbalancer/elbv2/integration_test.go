package elbv2

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/test/elbv2emu"
)

// TestInstance_RegisterHealthyDrainAbsent: on the emulator (real HAProxy
// health checks of real HTTP servers), a registered target is Initial,
// then Healthy; a drained one is Draining for the deregistration delay and
// then no longer listed, and the poller describes it only a few times
// while it drains.
func TestInstance_RegisterHealthyDrainAbsent(t *testing.T) {
	e := startEmulator(t, elbv2emu.Config{RegistrationLag: 300 * time.Millisecond})
	r, reg := testRegistry(t, RegistryOptions{})
	inst := testInstance(t, r, e, testPollInterval)
	const delay = 2 * time.Second
	arn := testGroup(t, e, elbv2emu.TargetGroupSpec{Name: "shop", Attached: true, DeregistrationDelay: delay})
	s := startServer(t, 1, 1, "web-1")
	ctx := logrContext(t)

	if err := inst.Register(ctx, arn, loadbalancer.CheckSettings{}, s.target()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	bs, err := inst.Status(ctx, arn)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	ts := stateOf(bs, s.addr)
	if ts.State != loadbalancer.StateInitial || !strings.HasPrefix(ts.Reason, "Elb.RegistrationInProgress") {
		t.Errorf("right after Register: %s %q, want Initial with Elb.RegistrationInProgress", ts.State, ts.Reason)
	}
	if ts.Sessions != loadbalancer.SessionsUnknown || ts.Owner != "" || ts.Settings != "" || bs.Generation != "" {
		t.Errorf("status %+v (generation %q): want unknown sessions, no owner, no settings, no generation", ts, bs.Generation)
	}
	if seen := waitState(t, inst, arn, s.addr, loadbalancer.StateHealthy); !slices.Equal(seen, []loadbalancer.State{loadbalancer.StateInitial, loadbalancer.StateHealthy}) {
		t.Errorf("went through %v, want [Initial Healthy]", seen)
	}
	// By name, through the same poller: one DescribeTargetGroups to
	// resolve it, no new describe of its health.
	byName, err := inst.Status(ctx, "shop")
	if err != nil || stateOf(byName, s.addr).State != loadbalancer.StateHealthy {
		t.Errorf("Status by name: %v, %+v; want the target healthy", err, byName)
	}

	before := e.Calls()["DescribeTargetHealth"]
	if err := inst.Drain(ctx, arn, s.target()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if err := inst.Remove(ctx, arn, s.target()); err != nil { // draining: no call
		t.Fatalf("Remove: %v", err)
	}
	if seen := waitState(t, inst, arn, s.addr, loadbalancer.StateAbsent); !slices.Equal(seen, []loadbalancer.State{loadbalancer.StateDraining, loadbalancer.StateAbsent}) {
		t.Errorf("went through %v, want [Draining Absent]", seen)
	}
	describes := e.Calls()["DescribeTargetHealth"] - before
	t.Logf("DescribeTargetHealth calls while draining for %s at a %s poll interval: %d", delay, testPollInterval, describes)
	if polledEvery := int(delay / testPollInterval); describes >= polledEvery/2 {
		t.Errorf("%d describes while draining, want far fewer than the %d of polling every interval", describes, polledEvery)
	}
	if got := e.Calls()["DeregisterTargets"]; got != 1 {
		t.Errorf("DeregisterTargets calls = %d, want 1 (Remove of a draining target is a no-op)", got)
	}
	if got := e.Calls()["DescribeTargetGroups"]; got < 1 || got > 2 {
		t.Errorf("DescribeTargetGroups calls = %d, want 1 or 2 (the name resolved once, and the health checks read once in the background unless the name's answer came first)", got)
	}
	if got := calls(reg, e.Region(), "RegisterTargets", OutcomeOK); got != 1 {
		t.Errorf("%s{RegisterTargets,ok} = %d, want 1", MetricAPICalls, got)
	}
}

// TestInstance_NoBackend: a target group AWS does not know, by ARN or by
// name, is ErrNoBackend for Status, Register and Drain; a backend of
// another region is refused without a call.
func TestInstance_NoBackend(t *testing.T) {
	e := startEmulator(t, elbv2emu.Config{})
	r, _ := testRegistry(t, RegistryOptions{})
	inst := testInstance(t, r, e, testPollInterval)
	ctx := logrContext(t)
	missing := "arn:aws:elasticloadbalancing:" + e.Region() + ":123456789012:targetgroup/missing/0123456789abcdef"
	tgt := loadbalancer.Target{Address: startServer(t, 2, 1, "x").addr}
	for _, backend := range []string{missing, "missing"} {
		if _, err := inst.Status(ctx, backend); !noBackend(err) {
			t.Errorf("Status(%s) = %v, want ErrNoBackend", backend, err)
		}
		if err := inst.Register(ctx, backend, loadbalancer.CheckSettings{}, tgt); !noBackend(err) {
			t.Errorf("Register(%s) = %v, want ErrNoBackend", backend, err)
		}
		if err := inst.Drain(ctx, backend, tgt); !noBackend(err) {
			t.Errorf("Drain(%s) = %v, want ErrNoBackend", backend, err)
		}
	}
	before := e.Calls()
	other := "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/shop/0123456789abcdef"
	if _, err := inst.Status(ctx, other); err == nil || noBackend(err) || !strings.Contains(err.Error(), "eu-central-1") {
		t.Errorf("Status of another region's ARN = %v, want an error naming its region", err)
	}
	if after := e.Calls(); !mapsEqual(before, after) {
		t.Errorf("another region's ARN cost calls: %v → %v", before, after)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestInstance_NotInUseIsMisconfigured: the targets of a target group on
// no load balancer are Misconfigured with AWS's reason, and become healthy
// once it is attached.
func TestInstance_NotInUseIsMisconfigured(t *testing.T) {
	e := startEmulator(t, elbv2emu.Config{})
	r, _ := testRegistry(t, RegistryOptions{})
	inst := testInstance(t, r, e, testPollInterval)
	arn := testGroup(t, e, elbv2emu.TargetGroupSpec{Name: "detached", Attached: false})
	s := startServer(t, 3, 1, "web")
	ctx := logrContext(t)
	if err := inst.Register(ctx, arn, loadbalancer.CheckSettings{}, s.target()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	waitState(t, inst, arn, s.addr, loadbalancer.StateMisconfigured)
	bs, _ := inst.Status(ctx, arn)
	if reason := stateOf(bs, s.addr).Reason; !strings.HasPrefix(reason, "Target.NotInUse") {
		t.Errorf("reason %q, want Target.NotInUse: ...", reason)
	}
	// Misconfigured settles the wait; the caller's Expect brings the
	// change in quickly.
	e.SetAttached(arn, true)
	inst.Expect(arn, s.addr)
	deadline := time.Now().Add(waitBound)
	for {
		inst.Expect(arn, s.addr)
		bs, err := inst.Status(ctx, arn)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if stateOf(bs, s.addr).State == loadbalancer.StateHealthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target never healthy after attaching; last %+v", stateOf(bs, s.addr))
		}
		time.Sleep(waitEvery)
	}
}

// TestInstance_ThrottlingRetriedAndCounted: Throttling answers are retried
// by the SDK and counted as throttled attempts.
func TestInstance_ThrottlingRetriedAndCounted(t *testing.T) {
	e := startEmulator(t, elbv2emu.Config{})
	r, reg := testRegistry(t, RegistryOptions{})
	inst := testInstance(t, r, e, testPollInterval)
	arn := testGroup(t, e, elbv2emu.TargetGroupSpec{Name: "throttled", Attached: true})
	s := startServer(t, 4, 1, "web")
	ctx := logrContext(t)

	// The first describe (Status's, or the poller's after Register) and
	// the registration are each throttled twice.
	e.InjectError("RegisterTargets", "Throttling", 2)
	e.InjectError("DescribeTargetHealth", "Throttling", 2)
	if err := inst.Register(ctx, arn, loadbalancer.CheckSettings{}, s.target()); err != nil {
		t.Fatalf("Register with 2 throttled attempts: %v", err)
	}
	if _, err := inst.Status(ctx, arn); err != nil {
		t.Fatalf("Status with 2 throttled attempts: %v", err)
	}
	if got := e.Throttled(); got != 4 {
		t.Errorf("emulator throttled %d calls, want 4", got)
	}
	for _, action := range []string{"RegisterTargets", "DescribeTargetHealth"} {
		if got := calls(reg, e.Region(), action, OutcomeThrottled); got != 2 {
			t.Errorf("%s{%s,throttled} = %d, want 2", MetricAPICalls, action, got)
		}
		if got := calls(reg, e.Region(), action, OutcomeOK); got < 1 {
			t.Errorf("%s{%s,ok} = %d, want at least 1", MetricAPICalls, action, got)
		}
	}
	// More throttled attempts than the retryer makes: that poll fails
	// (Status reports the error meanwhile) and a later one recovers.
	e.InjectError("DescribeTargetHealth", "Throttling", DefaultMaxAttempts)
	deadline := time.Now().Add(waitBound)
	for {
		inst.Expect(arn, s.addr)
		bs, err := inst.Status(ctx, arn)
		if err == nil && stateOf(bs, s.addr).State == loadbalancer.StateHealthy && calls(reg, e.Region(), "DescribeTargetHealth", OutcomeThrottled) == 2+DefaultMaxAttempts {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery from a failed poll: last Status %v, %+v; throttled describes %d", err, bs, calls(reg, e.Region(), "DescribeTargetHealth", OutcomeThrottled))
		}
		time.Sleep(waitEvery)
	}
}

// TestInstance_ExpectObservesOthersTargets: in observe mode someone else
// (here the SDK directly) registers a target; Expect has the poller follow
// it to healthy and, after someone else deregisters it, to absent.
func TestInstance_ExpectObservesOthersTargets(t *testing.T) {
	e := startEmulator(t, elbv2emu.Config{})
	r, _ := testRegistry(t, RegistryOptions{})
	inst := testInstance(t, r, e, testPollInterval)
	arn := testGroup(t, e, elbv2emu.TargetGroupSpec{Name: "observed", Attached: true, DeregistrationDelay: time.Second})
	s := startServer(t, 5, 1, "web")
	ctx := logrContext(t)
	if _, err := inst.Status(ctx, arn); err != nil {
		t.Fatalf("Status: %v", err)
	}
	other := otherClient(t, e)
	td := []types.TargetDescription{{Id: aws.String(s.addr.Addr().String()), Port: aws.Int32(int32(s.addr.Port()))}}
	if _, err := other.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: td}); err != nil {
		t.Fatalf("RegisterTargets by someone else: %v", err)
	}
	inst.Expect(arn, s.addr)
	waitState(t, inst, arn, s.addr, loadbalancer.StateHealthy)
	if _, err := other.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: td}); err != nil {
		t.Fatalf("DeregisterTargets by someone else: %v", err)
	}
	inst.Expect(arn, s.addr)
	seen := waitState(t, inst, arn, s.addr, loadbalancer.StateAbsent)
	if !slices.Contains(seen, loadbalancer.StateDraining) {
		t.Errorf("went through %v, want Draining before Absent", seen)
	}
}

// otherClient is a plain SDK client on the emulator, standing in for the
// AWS Load Balancer Controller.
func otherClient(t *testing.T, e *elbv2emu.Emulator) *elb.Client {
	t.Helper()
	r, _ := testRegistry(t, RegistryOptions{})
	sh, err := r.start(sharedKey{e.Region(), e.Endpoint()}, Config{Region: e.Region()}.withDefaults())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(sh.stop)
	return sh.poller.api.(*elb.Client)
}

// TestRegistry_New: Instances of one region and endpoint share one
// poller and budget, whose settings are the tightest of the open ones;
// the poller stops with the last Close.
func TestRegistry_New(t *testing.T) {
	r, _ := testRegistry(t, RegistryOptions{})
	a, err := r.New(Config{Region: "eu-west-1", Endpoint: "http://127.0.0.1:1", PollInterval: time.Second, Budget: Budget{DescribePerSecond: 3}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.New(Config{Region: "eu-west-1", Endpoint: "http://127.0.0.1:1", PollInterval: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.New(Config{Region: "eu-central-1", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if a.sh != b.sh || a.sh == c.sh {
		t.Fatalf("shared: a=%p b=%p c=%p; want a and b to share, c not", a.sh, b.sh, c.sh)
	}
	if got := a.sh.limiters.describe.Limit(); got != 3 {
		t.Errorf("shared describe rate %v, want 3 (the tightest)", got)
	}
	if got := a.sh.poller.interval; got != time.Second {
		t.Errorf("shared interval %v, want 1s (the shortest)", got)
	}
	_ = a.Close()
	if got := b.sh.limiters.describe.Limit(); got != DefaultDescribePerSecond {
		t.Errorf("after a's Close: describe rate %v, want the default %d", got, DefaultDescribePerSecond)
	}
	done := b.sh.done
	_ = b.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the poller did not stop after the last Close")
	}
	if _, err := a.Status(context.Background(), "x"); err == nil {
		t.Error("Status on a closed Instance succeeded")
	}
	_ = c.Close()
}
