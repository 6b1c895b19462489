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
		var ru RollingUpdate
		switch {
		case w.Deployment != nil:
			d := w.Deployment
			if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
				continue
			}
			var err error
			ru, err = ResolveRollingUpdate(w.Replicas, d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable)
			if err != nil {
				continue
			}
		case w.DaemonSet != nil:
			u := w.DaemonSet.Spec.UpdateStrategy
			if u.Type == appsv1.OnDeleteDaemonSetStrategyType || u.RollingUpdate == nil ||
				u.RollingUpdate.MaxSurge == nil || u.RollingUpdate.MaxUnavailable == nil {
				continue // a DaemonSet defaults to maxSurge 0, maxUnavailable 1
			}
			ru.Rejected = writtenValue(u.RollingUpdate.MaxSurge) == 0 && writtenValue(u.RollingUpdate.MaxUnavailable) == 0
		default:
			continue
		}
		if !ru.Rejected {
			continue
		}
		path := []string{"spec", "strategy", "rollingUpdate"}
		patch := []string{"spec:", "  strategy:", "    rollingUpdate:", "      maxSurge: 1  # add the new pod first", "      maxUnavailable: 0"}
		if w.DaemonSet != nil {
			path = []string{"spec", "updateStrategy", "rollingUpdate"}
			patch = []string{"spec:", "  updateStrategy:", "    rollingUpdate:", "      maxSurge: 1  # start the new pod on the node first", "      maxUnavailable: 0"}
		}
		out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc(path...),
			path[1]+".rollingUpdate has maxSurge 0 and maxUnavailable 0: the API server rejects this "+w.Object.Ref.Kind,
			objectPatch(w.Object, patch...)))
	}
	return out
}
