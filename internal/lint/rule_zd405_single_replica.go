package lint

import (
	"fmt"
	"strings"
)

// singleReplica: ZD405.
type singleReplica struct{}

func (singleReplica) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD405", Severity: SeverityWarning, Title: "single replica behind a Service: a single point of failure",
		Why: "With one replica every eviction (node drain, cluster upgrade, the descheduler), node failure or " +
			"crash leaves the Service and its load balancer with no endpoint until a replacement is scheduled, started " +
			"and marked healthy: every request in that window fails. A PodDisruptionBudget cannot help (it would block " +
			"the drain instead). Raise the replica count, then add a PDB (ZD401). A StatefulSet of one replica is " +
			"reported by ZD303. For a singleton by design (a leader, a primary) accept the risk with the " +
			"lint.zerodrop.dev/ignore annotation.",
		HelpURI: docPDB,
		Formula: "replicas (HPA minReplicas if scaled) == 1 && a Service selects the pods",
		Fix:     "spec:\n  replicas: 2",
	}
}

func (r singleReplica) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		if !w.Scalable() || w.StatefulSet != nil || m.MinReplicas(w) != 1 {
			continue
		}
		svcs := m.ServicesFor(w)
		names := make([]string, 0, len(svcs))
		for _, s := range svcs {
			names = append(names, s.Ref.Name)
		}
		if len(names) > 3 {
			names = append(names[:3], fmt.Sprintf("and %d more", len(svcs)-3))
		}
		loc := w.Object.FieldLoc("spec", "replicas")
		var fix string
		if hs := m.HPAsFor(w); len(hs) > 0 {
			loc = hs[0].Object.FieldLoc("spec", "minReplicas")
			fix = objectPatch(hs[0].Object, "spec:", "  minReplicas: 2")
		} else {
			fix = objectPatch(w.Object, "spec:", "  replicas: 2  # one may go while the other serves")
		}
		if len(m.PDBsFor(w)) == 0 {
			fix += "# and a PodDisruptionBudget so that a drain takes one at a time:\n" + joinLines(pdbLines(w))
		}
		out = append(out, finding(r.Meta(), w.Object, loc,
			fmt.Sprintf("%s runs 1 replica behind Service %s: an eviction, node failure or crash leaves no endpoint until the replacement is ready",
				w.Object.Ref.Name, strings.Join(names, ", ")),
			fix))
	}
	return out
}
