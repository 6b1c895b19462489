package elbv2

import (
	"net/netip"
	"os"
	"testing"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Environment of the opt-in test against real AWS.
const (
	// envAWSTargetGroup is the ARN of a target group (target type ip) the
	// test may read; its region is the instance's.
	envAWSTargetGroup = "ZERODROP_AWS_TARGET_GROUP_ARN"
	// envAWSTarget, when set to an ip:port inside the target group's VPC,
	// is registered and deregistered again (it must not be in use).
	envAWSTarget = "ZERODROP_AWS_TARGET"
)

// TestInstance_RealAWS runs the provider against real AWS with the
// standard credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID..., IRSA).
// It only reads, unless ZERODROP_AWS_TARGET names a spare address to
// register and deregister.
func TestInstance_RealAWS(t *testing.T) {
	arn := os.Getenv(envAWSTargetGroup)
	if arn == "" {
		t.Skipf("set %s (and the standard AWS environment) to run against real AWS; optionally %s=ip:port to register and deregister a spare address", envAWSTargetGroup, envAWSTarget)
	}
	parsed, ok := ParseTargetGroupARN(arn)
	if !ok {
		t.Fatalf("%s=%q is not a target group ARN", envAWSTargetGroup, arn)
	}
	r, reg := testRegistry(t, RegistryOptions{LoadOptions: nilLoadOptions()})
	inst, err := r.New(Config{Region: parsed.Region})
	if err != nil {
		t.Fatalf("Registry.New: %v", err)
	}
	defer inst.Close()
	ctx := logrContext(t)
	for _, backend := range []string{arn, parsed.Name} {
		bs, err := inst.Status(ctx, backend)
		if err != nil {
			t.Fatalf("Status(%s): %v", backend, err)
		}
		for _, ts := range bs.Targets {
			t.Logf("%s: %s %s", ts.Address, ts.State, ts.Reason)
		}
	}
	if s := os.Getenv(envAWSTarget); s != "" {
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", envAWSTarget, s, err)
		}
		tgt := loadbalancer.Target{Address: a}
		if err := inst.Register(ctx, arn, loadbalancer.CheckSettings{}, tgt); err != nil {
			t.Fatalf("Register: %v", err)
		}
		seen := waitState(t, inst, arn, a, loadbalancer.StateInitial)
		t.Logf("after Register: %v", seen)
		if err := inst.Drain(ctx, arn, tgt); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		t.Logf("deregistered %s; AWS drains it for the target group's deregistration delay", a)
	}
	for _, action := range []string{"DescribeTargetHealth", "DescribeTargetGroups"} {
		t.Logf("%s: %d ok, %d throttled", action, calls(reg, parsed.Region, action, OutcomeOK), calls(reg, parsed.Region, action, OutcomeThrottled))
	}
}
