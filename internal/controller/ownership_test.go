package controller

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

func owned(a netip.AddrPort, owner string, s loadbalancer.State) loadbalancer.TargetStatus {
	st := ts(a, s, 0)
	st.Owner = owner
	return st
}

func TestSplitByOwner(t *testing.T) {
	desired := map[netip.AddrPort]*corev1.Pod{addrA: {}}
	st := loadbalancer.BackendStatus{Generation: "g", Targets: []loadbalancer.TargetStatus{
		owned(addrA, "aaaaaaaaaa", loadbalancer.StateHealthy),
		owned(addrA, "bbbbbbbbbb", loadbalancer.StateHealthy),
		owned(addrB, "bbbbbbbbbb", loadbalancer.StateHealthy),
		owned(addrB, "", loadbalancer.StateHealthy),
	}}
	tests := []struct {
		name              string
		adopt             bool
		wantMine, wantViw int
	}{
		{"own targets only; others' at wanted addresses in the view", false, 1, 2},
		{"adopting legacy takes the untagged target too", true, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mine, view := SplitByOwner(st, "aaaaaaaaaa", tt.adopt, desired)
			if len(mine.Targets) != tt.wantMine || len(view.Targets) != tt.wantViw || mine.Generation != "g" {
				t.Errorf("mine %v, view %v; want %d and %d targets", mine.Targets, view.Targets, tt.wantMine, tt.wantViw)
			}
			for _, m := range mine.Targets {
				if m.Owner == "bbbbbbbbbb" {
					t.Errorf("another owner's target %v counted as mine", m)
				}
			}
		})
	}
}

func TestAdoptsLegacy(t *testing.T) {
	at := func(ns, name string, sec int) *v1alpha1.TargetBinding {
		return &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			CreationTimestamp: metav1.NewTime(time.Unix(int64(sec), 0))}}
	}
	b := at("a", "web", 10)
	tests := []struct {
		name  string
		peers []*v1alpha1.TargetBinding
		want  bool
	}{
		{"alone on the backend", nil, true},
		{"older than every peer", []*v1alpha1.TargetBinding{at("b", "web", 20)}, true},
		{"a peer is older", []*v1alpha1.TargetBinding{at("b", "web", 5)}, false},
		{"same age: first by namespace/name", []*v1alpha1.TargetBinding{at("b", "web", 10)}, true},
		{"same age, peer first by name", []*v1alpha1.TargetBinding{at("a", "api", 10)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AdoptsLegacy(b, tt.peers); got != tt.want {
				t.Errorf("AdoptsLegacy = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSyncState_conflict(t *testing.T) {
	b := &v1alpha1.TargetBinding{Spec: v1alpha1.TargetBindingSpec{Backend: "web"}}
	for _, tt := range []struct {
		name, other string
		yields      bool
	}{
		{"the smaller tag keeps the address", "0000000000", true},
		{"a larger tag yields to this binding", "ffffffffff", false},
		{"an unadopted legacy target keeps its address", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &syncState{binding: b, owner: "5555555555", yield: map[netip.AddrPort]string{}}
			s.conflict(addrA, "binding other", tt.other)
			if _, y := s.yield[addrA]; y != tt.yields || len(s.conflicts) != 1 {
				t.Errorf("yields %v (want %v), conflicts %v (want one)", y, tt.yields, s.conflicts)
			}
		})
	}
}

func TestPendingMessage(t *testing.T) {
	insts := twoInstances()
	view := map[string]loadbalancer.BackendStatus{
		"a": {Targets: []loadbalancer.TargetStatus{ts(addrA, loadbalancer.StateUnhealthy, 0), ts(addrA, loadbalancer.StateHealthy, 0)}},
	}
	got := PendingMessage(addrA, insts, view, "")
	want := "target 127.1.0.1:8080 not healthy on every instance: a: Healthy; b: unreachable"
	if got != want {
		t.Errorf("PendingMessage = %q\nwant %q", got, want)
	}
	view["b"] = loadbalancer.BackendStatus{}
	if got := PendingMessage(addrA, insts, view, "binding canary"); got != "target 127.1.0.1:8080 not healthy on every instance: a: Healthy; b: Absent (not registered yet) (the address is registered by binding canary)" {
		t.Errorf("PendingMessage = %q", got)
	}
}
