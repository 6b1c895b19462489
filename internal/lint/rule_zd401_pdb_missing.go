package lint

import "fmt"

// pdbMissing: ZD401.
type pdbMissing struct{}

func (pdbMissing) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD401", Severity: SeverityWarning, Title: "no PodDisruptionBudget for a load-balanced workload of 2 or more replicas",
		Why: "Without a PDB a node drain or cluster upgrade may evict every replica at once, and the load balancer is " +
			"left with no healthy target (seeds 000/001/002: 'Configure a Pod Disruption Budget'). Checked for " +
			"Deployments, StatefulSets, ReplicaSets and ReplicationControllers of at least 2 replicas (an HPA's " +
			"minReplicas counts): one replica is a single point of failure a PDB cannot fix (ZD405), and `kubectl " +
			"drain` skips DaemonSet pods.",
		HelpURI: docPDB,
		Formula: "replicas (HPA minReplicas if scaled) >= 2 && no PDB selector matches the pod template",
		Fix:     "apiVersion: policy/v1\nkind: PodDisruptionBudget\nspec:\n  maxUnavailable: 1",
	}
}

func (r pdbMissing) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		n := m.MinReplicas(w)
		if !w.Scalable() || n < 2 || len(m.PDBsFor(w)) > 0 {
			continue
		}
		out = append(out, finding(r.Meta(), w.Object, w.Object.Loc,
			fmt.Sprintf("no PodDisruptionBudget selects the pods of %s: a drain may evict all %d at once", w.Object.Ref.Name, n),
			"# new object\n"+joinLines(pdbLines(w))))
	}
	return out
}

// pdbLines renders a PDB allowing one eviction at a time for w.
func pdbLines(w *Workload) []string {
	lines := []string{"apiVersion: policy/v1", "kind: PodDisruptionBudget", "metadata:", "  name: " + w.Object.Ref.Name}
	if w.Object.Ref.Namespace != "" {
		lines = append(lines, "  namespace: "+w.Object.Ref.Namespace)
	}
	lines = append(lines, "spec:", "  maxUnavailable: 1  # never blocks a drain, never takes more than one pod")
	lines = append(lines, "  selector:")
	return append(lines, selectorLines(w, "    ")...)
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}
