package lint

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// replicasNotSpread: ZD406.
type replicasNotSpread struct{}

func (replicasNotSpread) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD406", Severity: SeverityWarning, Title: "replicas may all land on one node",
		Why: "Without a topology spread constraint or pod anti-affinity the scheduler may put every replica on the " +
			"same node (its default spreading is soft and allows a skew of 3): that node's failure, or a drain without " +
			"a PDB, takes every endpoint of the Service at once, and the load balancer has no target. kube-score " +
			"reports the same gap. Satisfied by a topologySpreadConstraint or a required or preferred podAntiAffinity " +
			"term, on any topology key, whose selector matches the pods' own labels.",
		HelpURI: docSpread,
		Formula: "replicas (HPA minReplicas if scaled) >= 2 && no topologySpreadConstraint or podAntiAffinity term selects the pods' own labels",
		Fix: "topologySpreadConstraints:\n- maxSkew: 1\n  topologyKey: kubernetes.io/hostname\n  whenUnsatisfiable: ScheduleAnyway\n" +
			"  labelSelector:\n    matchLabels:\n      app: web",
	}
}

func (r replicasNotSpread) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		n := m.MinReplicas(w)
		if !w.Scalable() || n < 2 || spreadsReplicas(w.Template) {
			continue
		}
		lines := []string{"topologySpreadConstraints:", "- maxSkew: 1", "  topologyKey: kubernetes.io/hostname",
			"  whenUnsatisfiable: ScheduleAnyway  # DoNotSchedule to make it hard", "  labelSelector:"}
		lines = append(lines, selectorLines(w, "    ")...)
		out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc(w.PodSpecPath()...),
			fmt.Sprintf("no topologySpreadConstraints or podAntiAffinity spread the %d replicas of %s: they may all run on one node, whose failure or drain takes every endpoint at once",
				n, w.Object.Ref.Name),
			podSpecPatch(w, lines...)))
	}
	return out
}

// spreadsReplicas reports whether t's scheduling constraints keep its own
// replicas apart: a topology spread constraint or an anti-affinity term
// (required or preferred) whose selector matches t's labels.
func spreadsReplicas(t corev1.PodTemplateSpec) bool {
	own := labels.Set(t.Labels)
	// A nil selector counts no pods; an empty one ({}) counts every pod of
	// the namespace, the replicas included. matchLabelKeys only narrow it.
	selects := func(s *metav1.LabelSelector) bool {
		if s == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(s)
		return err == nil && sel.Matches(own)
	}
	for _, c := range t.Spec.TopologySpreadConstraints {
		if c.TopologyKey != "" && selects(c.LabelSelector) {
			return true
		}
	}
	a := t.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey != "" && selects(term.LabelSelector) {
			return true
		}
	}
	for _, wt := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if wt.PodAffinityTerm.TopologyKey != "" && selects(wt.PodAffinityTerm.LabelSelector) {
			return true
		}
	}
	return false
}
