package lint

// pdbDeprecatedAPI: ZD403.
type pdbDeprecatedAPI struct{}

func (pdbDeprecatedAPI) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD403", Severity: SeverityError, Title: "PodDisruptionBudget uses policy/v1beta1",
		Why: "policy/v1beta1 PodDisruptionBudget was removed in Kubernetes 1.25: the API server refuses the manifest " +
			"and the workload runs without a disruption budget. In v1beta1 an empty selector also selected nothing; " +
			"in policy/v1 it selects every pod of the namespace.",
		HelpURI: docPDBv1beta1,
		Fix:     "apiVersion: policy/v1",
	}
}

func (r pdbDeprecatedAPI) Check(c *Context) []Finding {
	var out []Finding
	for _, p := range c.Model.PDBs {
		if !p.Deprecated {
			continue
		}
		out = append(out, finding(r.Meta(), p.Object, p.Object.FieldLoc("apiVersion"),
			"PodDisruptionBudget "+p.Object.Ref.Name+" uses policy/v1beta1, removed in Kubernetes 1.25",
			objectPatch(p.Object, "apiVersion: policy/v1  # was policy/v1beta1; the spec fields are the same")))
	}
	return out
}
