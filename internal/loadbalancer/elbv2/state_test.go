package elbv2

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

func TestStateOf(t *testing.T) {
	type (
		st = types.TargetHealthStateEnum
		re = types.TargetHealthReasonEnum
	)
	cases := []struct {
		state  st
		reason re
		want   loadbalancer.State
	}{
		{types.TargetHealthStateEnumInitial, types.TargetHealthReasonEnumRegistrationInProgress, loadbalancer.StateInitial},
		{types.TargetHealthStateEnumInitial, types.TargetHealthReasonEnumInitialHealthChecking, loadbalancer.StateInitial},
		{types.TargetHealthStateEnumHealthy, "", loadbalancer.StateHealthy},
		{types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumResponseCodeMismatch, loadbalancer.StateUnhealthy},
		{types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumTimeout, loadbalancer.StateUnhealthy},
		{types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumFailedHealthChecks, loadbalancer.StateUnhealthy},
		{types.TargetHealthStateEnumUnhealthy, types.TargetHealthReasonEnumInternalError, loadbalancer.StateUnhealthy},
		{types.TargetHealthStateEnumUnhealthyDraining, "", loadbalancer.StateUnhealthy},
		{types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotRegistered, loadbalancer.StateAbsent},
		{types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotInUse, loadbalancer.StateMisconfigured},
		{types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumInvalidState, loadbalancer.StateMisconfigured},
		{types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumIpUnusable, loadbalancer.StateMisconfigured},
		{types.TargetHealthStateEnumUnused, "", loadbalancer.StateMisconfigured},
		{types.TargetHealthStateEnumDraining, types.TargetHealthReasonEnumDeregistrationInProgress, loadbalancer.StateDraining},
		{types.TargetHealthStateEnumUnavailable, types.TargetHealthReasonEnumHealthCheckDisabled, loadbalancer.StateUnknown},
		{types.TargetHealthStateEnumUnavailable, types.TargetHealthReasonEnumInternalError, loadbalancer.StateUnknown},
		{"some.future.state", "", loadbalancer.StateUnknown},
		{"", "", loadbalancer.StateUnknown},
	}
	// Every state and reason the SDK documents appears above.
	states, reasons := map[st]bool{}, map[re]bool{}
	for _, c := range cases {
		states[c.state], reasons[c.reason] = true, true
		if got := StateOf(types.TargetHealth{State: c.state, Reason: c.reason}); got != c.want {
			t.Errorf("StateOf(%s/%s) = %s, want %s", c.state, c.reason, got, c.want)
		}
	}
	for _, s := range types.TargetHealthStateEnum("").Values() {
		if !states[s] {
			t.Errorf("state %s is not in the table", s)
		}
	}
	for _, r := range types.TargetHealthReasonEnum("").Values() {
		if !reasons[r] {
			t.Errorf("reason %s is not in the table", r)
		}
	}
}

func TestReasonOf(t *testing.T) {
	cases := []struct {
		name string
		h    types.TargetHealth
		want string
	}{
		{"healthy", types.TargetHealth{State: types.TargetHealthStateEnumHealthy}, ""},
		{"reason and description", types.TargetHealth{
			Reason: types.TargetHealthReasonEnumRegistrationInProgress, Description: aws.String("Target registration is in progress"),
		}, "Elb.RegistrationInProgress: Target registration is in progress"},
		{"reason only", types.TargetHealth{Reason: types.TargetHealthReasonEnumTimeout}, "Target.Timeout"},
		{"description only", types.TargetHealth{Description: aws.String("zonal shift active")}, "zonal shift active"},
	}
	for _, c := range cases {
		if got := ReasonOf(c.h); got != c.want {
			t.Errorf("%s: ReasonOf = %q, want %q", c.name, got, c.want)
		}
	}
}
