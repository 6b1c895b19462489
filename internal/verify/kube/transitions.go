package kube

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// podState is what the timeline cares about in a pod.
type podState struct {
	scheduled   bool
	node        string
	ready       bool
	gates       map[string]bool // zerodrop gate condition type -> True
	terminating bool
	grace       int64
}

func stateOf(p *corev1.Pod) podState {
	s := podState{node: p.Spec.NodeName, scheduled: p.Spec.NodeName != "", gates: map[string]bool{}}
	for _, c := range p.Status.Conditions {
		switch {
		case c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue:
			s.scheduled = true
		case c.Type == corev1.PodReady:
			s.ready = c.Status == corev1.ConditionTrue
		case strings.HasPrefix(string(c.Type), v1alpha1.GateConditionPrefix):
			s.gates[string(c.Type)] = c.Status == corev1.ConditionTrue
		}
	}
	if p.DeletionTimestamp != nil {
		s.terminating = true
		if p.DeletionGracePeriodSeconds != nil {
			s.grace = *p.DeletionGracePeriodSeconds
		}
	}
	return s
}

// PodAdded returns the events of a pod that appeared: KindPodObserved when
// it existed before the watch began (initial is true), KindPodCreated
// otherwise, followed by the events that bring an empty pod to its state.
func PodAdded(p *corev1.Pod, initial bool) []report.Event {
	first := report.Event{Source: report.SourceKubernetes, Kind: report.KindPodCreated, Subject: report.SubjectPod(p.Name), Message: "pod created"}
	if initial {
		first.Kind, first.Message = report.KindPodObserved, "pod present when the watch began"
	}
	return append([]report.Event{first}, podDiff(p.Name, podState{gates: map[string]bool{}}, stateOf(p))...)
}

// PodChanged returns the timeline events between two versions of a pod:
// scheduled, each zerodrop readiness-gate condition turning True or False,
// Ready turning True or False, terminating (deletionTimestamp set).
func PodChanged(oldPod, newPod *corev1.Pod) []report.Event {
	return podDiff(newPod.Name, stateOf(oldPod), stateOf(newPod))
}

// PodDeleted returns the event of a pod gone from the API.
func PodDeleted(name string) report.Event {
	return report.Event{Source: report.SourceKubernetes, Kind: report.KindPodDeleted, Subject: report.SubjectPod(name), Message: "pod deleted"}
}

func podDiff(name string, o, n podState) []report.Event {
	var out []report.Event
	add := func(kind, msg string) {
		out = append(out, report.Event{Source: report.SourceKubernetes, Kind: kind, Subject: report.SubjectPod(name), Message: msg})
	}
	if !o.scheduled && n.scheduled {
		msg := "scheduled"
		if n.node != "" {
			msg = "scheduled to " + n.node
		}
		add(report.KindPodScheduled, msg)
	}
	gates := make([]string, 0, len(n.gates))
	for g := range n.gates {
		gates = append(gates, g)
	}
	sort.Strings(gates)
	for _, g := range gates {
		switch was, is := o.gates[g], n.gates[g]; {
		case is && !was:
			add(report.KindPodGateTrue, g+" True")
		case !is && was:
			add(report.KindPodGateFalse, g+" False")
		}
	}
	switch {
	case n.ready && !o.ready:
		add(report.KindPodReady, "Ready")
	case !n.ready && o.ready:
		add(report.KindPodNotReady, "not Ready")
	}
	if n.terminating && !o.terminating {
		add(report.KindPodTerminating, fmt.Sprintf("terminating (deletionTimestamp set, grace period %ds)", n.grace))
	}
	return out
}

// BindingAdded returns the events of a TargetBinding that appeared (or
// existed when the watch began): observed, its target counts and its
// Ready condition.
func BindingAdded(b *v1alpha1.TargetBinding) []report.Event {
	first := report.Event{Source: report.SourceKubernetes, Kind: report.KindBindingObserved, Subject: report.SubjectTargetBinding(b.Name), Message: "TargetBinding observed"}
	return append([]report.Event{first}, bindingDiff(b.Name, nil, b)...)
}

// BindingChanged returns the events between two versions of a TargetBinding:
// a change of .status.targets counts, the Ready condition changing status.
func BindingChanged(oldB, newB *v1alpha1.TargetBinding) []report.Event {
	return bindingDiff(newB.Name, oldB, newB)
}

// BindingDeleted returns the event of a TargetBinding gone from the API.
func BindingDeleted(name string) report.Event {
	return report.Event{Source: report.SourceKubernetes, Kind: report.KindBindingDeleted, Subject: report.SubjectTargetBinding(name), Message: "TargetBinding deleted"}
}

func bindingDiff(name string, o, n *v1alpha1.TargetBinding) []report.Event {
	var out []report.Event
	add := func(kind, msg string) {
		out = append(out, report.Event{Source: report.SourceKubernetes, Kind: kind, Subject: report.SubjectTargetBinding(name), Message: msg})
	}
	var oldTargets v1alpha1.TargetCounts
	var oldReady *metav1.Condition
	if o != nil {
		oldTargets = o.Status.Targets
		oldReady = meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReady)
	}
	if t := n.Status.Targets; o == nil || t != oldTargets {
		add(report.KindBindingTargets, fmt.Sprintf("targets desired %d healthy %d initial %d unhealthy %d draining %d",
			t.Desired, t.Healthy, t.Initial, t.Unhealthy, t.Draining))
	}
	newReady := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionReady)
	if newReady != nil && (oldReady == nil || oldReady.Status != newReady.Status) {
		msg := fmt.Sprintf("Ready %s: %s", newReady.Status, newReady.Reason)
		if newReady.Message != "" {
			msg += " (" + newReady.Message + ")"
		}
		kind := report.KindBindingNotReady
		if newReady.Status == metav1.ConditionTrue {
			kind = report.KindBindingReady
		}
		add(kind, msg)
	}
	return out
}
