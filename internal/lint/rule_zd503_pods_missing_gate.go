package lint

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// podsMissingGate: ZD503.
type podsMissingGate struct{}

func (podsMissingGate) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD503", Severity: SeverityWarning, Title: "pods lack the readiness gate their namespace label promises (live)",
		Why: "Gates are injected only when a pod is created. Pods created before the namespace was labelled (or while " +
			"the injecting webhook was down) have no gate in spec.readinessGates, so their rollout does not wait for the " +
			"load balancer. Restart the workload so that its pods are recreated with the gate (seed 001: label the " +
			"namespace before creating the pods).",
		HelpURI: docGateK8s,
		Fix:     "kubectl rollout restart deployment/<name>",
	}
}

func (r podsMissingGate) Check(c *Context) []Finding {
	m := c.Model
	if !m.Live {
		return nil
	}
	var out []Finding
	for _, s := range m.Services {
		lbls, _ := m.NamespaceLabels(s.Ref.Namespace)
		for _, f := range m.FrontendsFor(s) {
			if !f.GateEnabled || !f.TargetTypeIP || lbls[f.GateLabel] != "enabled" {
				continue
			}
			var missing []string
			for _, p := range m.PodsFor(s) {
				if p.DeletionTimestamp == nil && !podHasGate(p, f.GateConditionPrefixes) {
					missing = append(missing, p.Name)
				}
			}
			if len(missing) == 0 {
				continue
			}
			sort.Strings(missing)
			fix := ""
			for _, w := range m.WorkloadsFor(s) {
				fix += fmt.Sprintf("# kubectl -n %s rollout restart %s/%s\n", nsOrDefault(w.Object.Ref.Namespace), strings.ToLower(w.Object.Ref.Kind), w.Object.Ref.Name)
				fix += podSpecTemplateAnnotationPatch(w)
			}
			out = append(out, finding(r.Meta(), f.Via, f.Via.Loc,
				fmt.Sprintf("%d pod(s) behind %s lack the readiness gate although namespace %s has %s=enabled (created before the label or while the webhook was down): %s",
					len(missing), f.Name(), nsOrDefault(s.Ref.Namespace), f.GateLabel, strings.Join(missing, ", ")), fix))
		}
	}
	return out
}

func podHasGate(p *corev1.Pod, prefixes []string) bool {
	for _, g := range p.Spec.ReadinessGates {
		for _, pre := range prefixes {
			if strings.HasPrefix(string(g.ConditionType), pre) {
				return true
			}
		}
	}
	return false
}

func podSpecTemplateAnnotationPatch(w *Workload) string {
	return objectPatch(w.Object, "spec:", "  template:", "    metadata:", "      annotations:", "        kubectl.kubernetes.io/restartedAt: \"<now>\"  # recreates every pod, now with the gate")
}
