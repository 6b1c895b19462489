package elbv2emu

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestEmulator_RegisterTargets: a registered target goes through
// initial/RegistrationInProgress and initial/InitialHealthChecking to
// healthy, a target answering 500 becomes unhealthy with
// ResponseCodeMismatch, and client traffic reaches only the healthy one.
func TestEmulator_RegisterTargets(t *testing.T) {
	e := startEmulator(t, Config{RegistrationLag: time.Second})
	c := newClient(t, e, clientOptions{})
	arn := testGroup(t, e, TargetGroupSpec{Attached: true})
	good := startBackend(t, 1, "good", 200)
	bad := startBackend(t, 2, "bad", 500)

	registered := time.Now()
	register(t, c, arn, good, bad)
	register(t, c, arn, good) // idempotent
	for _, b := range []*backend{good, bad} {
		if o, _ := healthOfTarget(t, c, arn, b.target()); o.Reason != types.TargetHealthReasonEnumRegistrationInProgress {
			t.Errorf("%s right after registration: %v, want initial/Elb.RegistrationInProgress", b.name, o)
		}
	}

	seen := waitFor(t, c, arn, good.target(), observation{types.TargetHealthStateEnumHealthy, ""})
	t.Logf("healthy %s after RegisterTargets (lag %s, interval %s, rise %d)", time.Since(registered).Round(time.Millisecond), time.Second, testInterval, testRise)
	want := []observation{
		{types.TargetHealthStateEnumInitial, types.TargetHealthReasonEnumRegistrationInProgress},
		{types.TargetHealthStateEnumInitial, types.TargetHealthReasonEnumInitialHealthChecking},
		{types.TargetHealthStateEnumHealthy, ""},
	}
	if !slices.Equal(seen, want) {
		t.Errorf("good target went through %v, want %v", seen, want)
	}
	waitFor(t, c, arn, bad.target(), observation{types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumResponseCodeMismatch})
	_, d := healthOfTarget(t, c, arn, bad.target())
	if !strings.Contains(aws.ToString(d.TargetHealth.Description), "[500]") {
		t.Errorf("bad target's description %q does not name the code 500", aws.ToString(d.TargetHealth.Description))
	}
	if aws.ToString(d.HealthCheckPort) != portOf(bad) {
		t.Errorf("HealthCheckPort %q, want %s", aws.ToString(d.HealthCheckPort), portOf(bad))
	}
	if aws.ToString(d.Target.AvailabilityZone) != "us-east-1a" {
		t.Errorf("AvailabilityZone %q, want us-east-1a", aws.ToString(d.Target.AvailabilityZone))
	}

	if got := answeredBy(t, e.FrontendURL(arn), 20); !slices.Equal(got, []string{"good"}) {
		t.Errorf("traffic reached %v, want only [good]", got)
	}
	if got, want := registeredTargets(t, c, arn), []string{good.addr.String(), bad.addr.String()}; !slices.Equal(got, want) {
		t.Errorf("registered targets %v, want %v", got, want)
	}

	// A healthy target whose checks start failing goes unhealthy after
	// fall checks, and traffic stops reaching it.
	good.health.Store(503)
	waitFor(t, c, arn, good.target(), observation{types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumResponseCodeMismatch})
	if _, err := get(t, e.FrontendURL(arn)+"/"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("request with no healthy target: %v, want HAProxy's 503", err)
	}
}

func portOf(b *backend) string {
	return strings.TrimPrefix(b.addr.String(), b.addr.Addr().String()+":")
}
