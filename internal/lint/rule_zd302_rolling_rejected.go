package lint

import (
	appsv1 "k8s.io/api/apps/v1"
)

// rollingUpdateRejected: ZD302.
type rollingUpdateRejected struct{}

func (rollingUpdateRejected) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD302", Severity: SeverityError, Title: "maxSurge and maxUnavailable both 0",
		Why: "A rolling update that may neither add a pod nor remove one can never progress; the API server rejects " +
			"the Deployment ('may not be 0 when maxSurge is 0').",
		HelpURI: docRolling,
		Formula: "maxSurge == 0 && maxUnavailable == 0 (as written, count or percent)",
		Fix:     "strategy:\n  rollingUpdate:\n    maxSurge: 1\n    maxUnavailable: 0",
	}
}

func (r rollingUpdateRejected) Check(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Model.Workloads {
		d := w.Deployment
		if d == nil || d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
			continue
		}
		ru, err := ResolveRollingUpdate(w.Replicas, d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable)
		if err != nil || !ru.Rejected {
			continue
		}
		out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc("spec", "strategy", "rollingUpdate"),
			"strategy.rollingUpdate has maxSurge 0 and maxUnavailable 0: the API server rejects this Deployment",
			objectPatch(w.Object, "spec:", "  strategy:", "    rollingUpdate:", "      maxSurge: 1  # add the new pod first", "      maxUnavailable: 0")))
	}
	return out
}
