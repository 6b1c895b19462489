package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// Ownership of load-balancer targets.
//
// A provider without owner tags (Capabilities.OwnerTags false: ELBv2, whose
// targets carry nothing but their address) cannot tell whose a target is,
// so there a backend belongs to one managing binding, the oldest, which
// owns every target in it; any other binding managing the same backend
// registers nothing and reports ConflictFree=False/BackendShared. Bindings
// that observe (mode Observe) own nothing anywhere.
//
// Every target a binding registers carries the binding's owner tag
// (targets.Owner of the cluster ID and the binding's UID). A binding plans
// only over the targets carrying its own tag, so it never drains, removes or
// re-registers a target of another binding, of another cluster, or one
// zerodrop did not create. Targets from before owner tags ("legacy", no
// tag) are adopted by the oldest binding of this cluster on the same load
// balancer and backend, the one that most plausibly registered them (before
// owner tags, two bindings on one backend removed each other's targets).
//
// Two owners wanting the same address in one backend is a conflict, which
// both report (condition ConflictFree=False and an event). It is settled
// the same way on both sides, with no coordination: the owner with the
// smaller tag keeps the address, the other does not register it (and
// drains its own target there, if it had one). The pod loses no traffic,
// since the kept target has the same address; its gate follows the kept
// target's health.

// resolveOwnership computes the binding's owner tag, whether it adopts
// legacy targets, and the conflicts that bindings of this cluster on the
// same backend can see in the API (the load balancer shows the rest, see
// settleConflicts).
func (r *TargetBindingReconciler) resolveOwnership(ctx context.Context, s *syncState) error {
	b := s.binding
	s.owner = targets.Owner(r.ClusterID, b.UID)
	s.yield = map[netip.AddrPort]string{}
	var list v1alpha1.TargetBindingList
	if err := r.List(ctx, &list, client.MatchingFields{IndexLoadBalancerRef: b.Spec.LoadBalancerRef}); err != nil {
		return fmt.Errorf("listing bindings of load balancer %q: %w", b.Spec.LoadBalancerRef, err)
	}
	var peers []*v1alpha1.TargetBinding
	for i := range list.Items {
		o := &list.Items[i]
		if o.Spec.Backend == b.Spec.Backend && o.UID != b.UID && !meta.IsStatusConditionFalse(o.Status.Conditions, v1alpha1.ConditionAccepted) {
			peers = append(peers, o) // a binding its LoadBalancer refuses has no say in who owns what
		}
	}
	s.adoptLegacy = AdoptsLegacy(b, peers)
	if !s.caps.OwnerTags && !b.Observes() {
		// The provider keeps no owner with a target: the backend belongs to
		// the oldest managing binding, which owns every target in it.
		var managers []*v1alpha1.TargetBinding
		for _, o := range peers {
			if !o.Observes() && o.DeletionTimestamp.IsZero() {
				managers = append(managers, o)
			}
		}
		s.adoptLegacy = AdoptsLegacy(b, managers)
		if !s.adoptLegacy {
			s.heldBy = oldest(managers).Namespace + "/" + oldest(managers).Name
		}
		return nil
	}
	for _, o := range peers {
		if o.Namespace != b.Namespace || !o.DeletionTimestamp.IsZero() {
			continue // pods are namespaced: only a Service of the same namespace selects the same pod
		}
		svc := &corev1.Service{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.ServiceRef.Name}, svc); err != nil {
			continue
		}
		sel, err := targets.Resolve(svc, o.Spec.ServiceRef)
		if err != nil {
			continue
		}
		other := targets.Owner(r.ClusterID, o.UID)
		gate := v1alpha1.GateConditionType(o.Name)
		for addr, pod := range s.desired {
			if a, ok := sel.Address(pod); !ok || a != addr || !sel.Selects(pod) || !targets.Wanted(pod, o.GateEnabled(), gate) {
				continue
			}
			s.conflict(addr, "binding "+o.Name, other)
		}
	}
	return nil
}

// settleConflicts adds the conflicts the load balancer shows: another
// owner's target in service at an address this binding wants.
func (s *syncState) settleConflicts() {
	for _, st := range s.view {
		for _, ts := range st.Targets {
			if _, want := s.desired[ts.Address]; want && ts.Owner != s.owner && inService(ts.State) {
				who := "owner " + ts.Owner
				if ts.Owner == "" {
					who = "a target from before owner tags"
				}
				s.conflict(ts.Address, who, ts.Owner)
			}
		}
	}
	slices.Sort(s.conflicts)
	s.conflicts = slices.Compact(s.conflicts)
}

// conflict records that who (owner tag other) also wants addr in this
// binding's backend, and yields addr when other keeps it.
func (s *syncState) conflict(addr netip.AddrPort, who, other string) {
	keeps := "this binding keeps it"
	if other < s.owner {
		s.yield[addr] = who
		keeps = who + " keeps it"
	}
	s.conflicts = append(s.conflicts, fmt.Sprintf("%s is also wanted by %s in backend %s; %s", addr, who, s.binding.Spec.Backend, keeps))
}

// AdoptsLegacy reports whether binding b adopts the untagged targets of its
// backend: it does when it is the oldest (then first by namespace/name) of
// the bindings of this cluster on that load balancer and backend.
func AdoptsLegacy(b *v1alpha1.TargetBinding, peers []*v1alpha1.TargetBinding) bool {
	for _, o := range peers {
		switch c := o.CreationTimestamp.Compare(b.CreationTimestamp.Time); {
		case c < 0:
			return false
		case c == 0 && o.Namespace+"/"+o.Name < b.Namespace+"/"+b.Name:
			return false
		}
	}
	return true
}

// oldest returns the oldest of bindings (then first by namespace/name), or
// nil when there is none.
func oldest(bindings []*v1alpha1.TargetBinding) *v1alpha1.TargetBinding {
	var first *v1alpha1.TargetBinding
	for _, o := range bindings {
		if first == nil || AdoptsLegacy(o, []*v1alpha1.TargetBinding{first}) {
			first = o
		}
	}
	return first
}

// SplitByOwner splits one instance's report into the targets the binding
// owns (tag owner, plus untagged ones when adoptLegacy) and a view for
// gates and counts: the owned targets plus other owners' targets at the
// addresses the binding wants.
func SplitByOwner(st loadbalancer.BackendStatus, owner string, adoptLegacy bool,
	desired map[netip.AddrPort]*corev1.Pod) (mine, view loadbalancer.BackendStatus) {
	mine.Generation, view.Generation = st.Generation, st.Generation
	for _, ts := range st.Targets {
		_, want := desired[ts.Address]
		switch {
		case ts.Owner == owner || ts.Owner == "" && adoptLegacy:
			mine.Targets = append(mine.Targets, ts)
			view.Targets = append(view.Targets, ts)
		case want:
			view.Targets = append(view.Targets, ts)
		}
	}
	return mine, view
}

// inService reports whether a target in state st may get client traffic
// (or will once its checks pass).
func inService(st loadbalancer.State) bool {
	switch st {
	case loadbalancer.StateInitial, loadbalancer.StateHealthy, loadbalancer.StateUnhealthy:
		return true
	}
	return false
}
