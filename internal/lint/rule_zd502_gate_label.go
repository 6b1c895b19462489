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
			"Without it Kubernetes marks pods Ready before the load balancer has them healthy. Label the namespace before " +
			"the pods are created (seed 001). Checked only when the Namespace object is in the input or the cluster.",
		HelpURI: docGate,
		Fix:     "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels:\n    elbv2.k8s.aws/pod-readiness-gate-inject: enabled",
	}
}

func (r gateLabelMissing) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	seen := map[string]bool{}
	for _, w := range m.loadBalanced() {
		lbls, known := m.NamespaceLabels(w.Object.Ref.Namespace)
		if !known {
			continue
		}
		for _, f := range m.WorkloadFrontends(w) {
			if !f.GateEnabled || !f.TargetTypeIP || lbls[f.GateLabel] == "enabled" || templateHasGate(w, f) {
				continue
			}
			ns := nsOrDefault(w.Object.Ref.Namespace)
			key := ns + "|" + f.GateLabel
			if seen[key] {
				continue
			}
			seen[key] = true
			nsObj := m.NamespaceObject(ns)
			if nsObj == nil {
				nsObj = &Object{Ref: ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: ns}, Loc: f.Via.Loc}
			}
			out = append(out, finding(r.Meta(), nsObj, nsObj.FieldLoc("metadata", "labels"),
				fmt.Sprintf("namespace %s has no %s=enabled label, so pods behind %s get no readiness gate", ns, f.GateLabel, f.Name()),
				objectPatch(nsObj, "metadata:", "  labels:", "    "+f.GateLabel+": enabled", "# then roll the workloads: only pods created afterwards get the gate")))
		}
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
