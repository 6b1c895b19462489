package controller

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
)

func twoInstances() []pool.NamedInstance { return []pool.NamedInstance{{Name: "a"}, {Name: "b"}} }

func TestHealthyEverywhere(t *testing.T) {
	tests := []struct {
		name     string
		observed map[string]loadbalancer.BackendStatus
		want     map[netip.AddrPort]bool
	}{
		{name: "healthy on both instances counts",
			observed: map[string]loadbalancer.BackendStatus{
				"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}},
				"b": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}}},
			want: map[netip.AddrPort]bool{addrA: true}},
		{name: "healthy on one instance only does not count",
			observed: map[string]loadbalancer.BackendStatus{
				"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}},
				"b": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateInitial, 0)}}},
			want: map[netip.AddrPort]bool{}},
		{name: "an instance that did not answer makes nothing healthy",
			observed: map[string]loadbalancer.BackendStatus{
				"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0)}}},
			want: map[netip.AddrPort]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HealthyEverywhere(twoInstances(), tt.observed)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for a := range tt.want {
				if !got[a] {
					t.Errorf("missing %v in %v", a, got)
				}
			}
		})
	}
}

func TestCountTargets(t *testing.T) {
	addrC := netip.MustParseAddrPort("127.1.0.3:8080")
	desired := map[netip.AddrPort]*corev1.Pod{addrA: {}, addrB: {}}
	observed := map[string]loadbalancer.BackendStatus{
		"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0), ts(addrB, loadbalancer.StateUnhealthy, 0), ts(addrC, loadbalancer.StateDraining, 1)}},
		"b": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateHealthy, 0), ts(addrB, loadbalancer.StateHealthy, 0)}},
	}
	got := CountTargets(desired, twoInstances(), observed)
	want := v1alpha1.TargetCounts{Desired: 2, Healthy: 1, Unhealthy: 1, Draining: 1}
	if got != want {
		t.Errorf("CountTargets = %+v, want %+v", got, want)
	}
}
