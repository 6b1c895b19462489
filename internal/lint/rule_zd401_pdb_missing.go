package lint

import "fmt"

// pdbMissing: ZD401.
type pdbMissing struct{}

func (pdbMissing) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD401", Severity: SeverityWarning, Title: "no PodDisruptionBudget for a load-balanced workload",
		Why: "Without a PDB a node drain or cluster upgrade may evict every replica at once, and the load balancer is " +
			"left with no healthy target (seeds 000/001/002: 'Configure a Pod Disruption Budget').",
		HelpURI: docPDB,
		Fix:     "apiVersion: policy/v1\nkind: PodDisruptionBudget\nspec:\n  maxUnavailable: 1",
	}
}

func (r pdbMissing) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		if w.Deployment == nil && w.StatefulSet == nil {
			continue
		}
		if len(m.PDBsFor(w)) > 0 {
			continue
		}
		lines := []string{"apiVersion: policy/v1", "kind: PodDisruptionBudget", "metadata:", "  name: " + w.Object.Ref.Name}
		if w.Object.Ref.Namespace != "" {
			lines = append(lines, "  namespace: "+w.Object.Ref.Namespace)
		}
		lines = append(lines, "spec:", "  maxUnavailable: 1  # never blocks a drain, never takes more than one pod")
		lines = append(lines, "  selector:")
		lines = append(lines, selectorLines(w, "    ")...)
		out = append(out, finding(r.Meta(), w.Object, w.Object.Loc,
			fmt.Sprintf("no PodDisruptionBudget selects the pods of %s: a drain may evict all %d at once", w.Object.Ref.Name, w.Replicas),
			"# new object\n"+joinLines(lines)))
	}
	return out
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}
