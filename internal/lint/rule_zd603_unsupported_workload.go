package lint

import (
	"fmt"
	"strings"
)

// unsupportedWorkload: ZD603.
type unsupportedWorkload struct{}

func (unsupportedWorkload) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD603", Severity: SeverityInfo, Title: "load-balanced workload of a kind lint does not check",
		Why: "lint models Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers and bare Pods. A " +
			"Service may also select the pods of a Job, a CronJob or a custom resource with a pod template (Argo " +
			"Rollouts, OpenKruise, ...): their pods count as the Service's endpoints (no ZD601), but their rollout and " +
			"disruption behaviour is the custom controller's, so their probes, preStop, grace period and disruption " +
			"budget are not checked. Check them by hand, or disable this rule.",
		HelpURI: docService,
		Fix:     "# check by hand: readinessProbe, lifecycle.preStop, terminationGracePeriodSeconds, a PodDisruptionBudget",
	}
}

func (r unsupportedWorkload) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.Unsupported {
		svcs := m.ServicesFor(w)
		if len(svcs) == 0 {
			continue
		}
		names := make([]string, 0, len(svcs))
		for _, s := range svcs {
			names = append(names, s.Ref.Name)
		}
		if len(names) > 3 {
			names = append(names[:3], fmt.Sprintf("and %d more", len(svcs)-3))
		}
		out = append(out, finding(r.Meta(), w.Object, w.Object.Loc,
			fmt.Sprintf("Service %s selects the pods of this %s, a kind lint does not model: its probes, preStop, grace period and disruption budget are not checked",
				strings.Join(names, ", "), w.Object.Ref.Kind),
			objectPatch(w.Object, "# check by hand under "+strings.Join(w.PodSpecPath(), ".")+": readinessProbe, lifecycle.preStop,",
				"# terminationGracePeriodSeconds; and a PodDisruptionBudget selecting these pods")))
	}
	return out
}
