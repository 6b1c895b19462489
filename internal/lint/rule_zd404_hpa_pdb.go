package lint

import "fmt"

// hpaBelowPDB: ZD404.
type hpaBelowPDB struct{}

func (hpaBelowPDB) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD404", Severity: SeverityWarning, Title: "HPA minReplicas not above the PDB's minAvailable",
		Why: "When the autoscaler scales down to minReplicas and the PDB's minAvailable is at least that, no pod may be " +
			"evicted: drains and node upgrades block exactly when the workload is smallest.",
		HelpURI: docHPA,
		Formula: "minAvailable (resolved against minReplicas, rounded up) >= HPA minReplicas",
		Fix:     "spec:\n  minReplicas: <minAvailable + 1>",
	}
}

func (r hpaBelowPDB) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.Workloads {
		for _, h := range m.HPAsFor(w) {
			for _, p := range m.PDBsFor(w) {
				minAvail, ok := PDBMinAvailablePods(p.MinAvailable, h.MinReplicas)
				if !ok || minAvail < h.MinReplicas {
					continue
				}
				out = append(out, finding(r.Meta(), h.Object, h.Object.FieldLoc("spec", "minReplicas"),
					fmt.Sprintf("minReplicas %d and PodDisruptionBudget %s minAvailable %s (= %d pods at minReplicas): at minimum scale no pod of %s can be evicted",
						h.MinReplicas, p.Object.Ref.Name, p.MinAvailable.String(), minAvail, w.Object.Ref.Name),
					objectPatch(h.Object, "spec:", fmt.Sprintf("  minReplicas: %d  # minAvailable %d + 1", minAvail+1, minAvail))+
						"# or switch the PDB to maxUnavailable:\n"+objectPatch(p.Object, "spec:", "  minAvailable: null", "  maxUnavailable: 1")))
			}
		}
	}
	return out
}
