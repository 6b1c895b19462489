package lint

import (
	"fmt"
	"strings"
)

// gateLabelMissing: ZD502.
type gateLabelMissing struct{}

func (gateLabelMissing) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD502", Severity: SeverityWarning, Title: "namespace lacks the readiness-gate injection label",
		Why: "Readiness gates are injected into pods at creation only in namespaces carrying the controller's label " +
			"(AWS: elbv2.k8s.aws/pod-readiness-gate-inject=enabled; zerodrop: zerodrop.dev/readiness-gate-inject=enabled). " +
			"Without it Kubernetes marks pods Ready before the load balancer has them healthy, and rollouts remove old " +
			"pods the load balancer still needs (ZD301's finding behind the same load balancer is folded into this one). " +
			"Label the namespace before the pods are created (seed 001). Checked only when the Namespace object is in " +
			"the input or the cluster.",
		HelpURI: docGate,
		Fix:     "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels:\n    elbv2.k8s.aws/pod-readiness-gate-inject: enabled",
	}
}

// gateLabelMissing reports whether ZD502 applies to w behind f: f gates IP
// targets, w's Namespace is known and lacks f's label, and w's template
// does not list the gate itself.
func (m *Model) gateLabelMissing(w *Workload, f Frontend) bool {
	lbls, known := m.NamespaceLabels(w.Object.Ref.Namespace)
	return known && f.GateEnabled && f.TargetTypeIP && lbls[f.GateLabel] != "enabled" && !templateHasGate(w, f)
}

func (r gateLabelMissing) Check(c *Context) []Finding {
	m := c.Model
	type group struct {
		ns        string
		front     Frontend
		workloads []string
		seen      map[*Workload]bool
	}
	var order []*group
	groups := map[string]*group{}
	for _, w := range m.loadBalanced() {
		for _, f := range m.WorkloadFrontends(w) {
			if !m.gateLabelMissing(w, f) {
				continue
			}
			ns := nsOrDefault(w.Object.Ref.Namespace)
			key := ns + "|" + f.GateLabel
			g, ok := groups[key]
			if !ok {
				g = &group{ns: ns, front: f, seen: map[*Workload]bool{}}
				groups[key] = g
				order = append(order, g)
			}
			if !g.seen[w] {
				g.seen[w] = true
				g.workloads = append(g.workloads, w.Object.Ref.Kind+" "+w.Object.Ref.Name)
			}
		}
	}
	var out []Finding
	for _, g := range order {
		nsObj := m.NamespaceObject(g.ns)
		if nsObj == nil {
			nsObj = &Object{Ref: ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: g.ns}, Loc: g.front.Via.Loc}
		}
		who := strings.Join(g.workloads, ", ")
		if len(g.workloads) > 3 {
			who = strings.Join(g.workloads[:3], ", ") + fmt.Sprintf(" and %d more", len(g.workloads)-3)
		}
		out = append(out, finding(r.Meta(), nsObj, nsObj.FieldLoc("metadata", "labels"),
			fmt.Sprintf("namespace %s has no %s=enabled label, so pods behind %s get no readiness gate: rollouts of %s do not wait for the load balancer to mark new pods healthy",
				g.ns, g.front.GateLabel, g.front.Name(), who),
			objectPatch(nsObj, "metadata:", "  labels:", "    "+g.front.GateLabel+": enabled", "# then roll the workloads: only pods created afterwards get the gate")))
	}
	return out
}

func templateHasGate(w *Workload, f Frontend) bool {
	for _, g := range w.Template.Spec.ReadinessGates {
		for _, p := range f.GateConditionPrefixes {
			if strings.HasPrefix(string(g.ConditionType), p) {
				return true
			}
		}
	}
	return false
}
