package lint

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// rollingUpdateCapacityGap: ZD303.
type rollingUpdateCapacityGap struct{}

func (rollingUpdateCapacityGap) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD303", Severity: SeverityWarning, Title: "rollout strategy allows a capacity gap",
		Why: "A Recreate strategy, or a rolling update whose maxUnavailable (rounded down) reaches the replica count, " +
			"lets every serving pod go before a replacement is ready: the load balancer has no healthy target. With " +
			"percentages that both round to 0 the controller still allows 1 unavailable pod. A StatefulSet of one " +
			"replica always deletes its pod before recreating it.",
		HelpURI: docRolling,
		Formula: "Recreate || maxUnavailable(rounded down, 1 if both round to 0) >= replicas; maxSurge rounds up",
		Fix:     "strategy:\n  type: RollingUpdate\n  rollingUpdate:\n    maxSurge: 1\n    maxUnavailable: 0",
	}
}

func (r rollingUpdateCapacityGap) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		replicas := m.MinReplicas(w)
		fix := objectPatch(w.Object, "spec:", "  strategy:", "    type: RollingUpdate", "    rollingUpdate:", "      maxSurge: 1", "      maxUnavailable: 0")
		switch {
		case w.Deployment != nil:
			s := w.Deployment.Spec.Strategy
			if s.Type == appsv1.RecreateDeploymentStrategyType {
				out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc("spec", "strategy", "type"),
					"strategy Recreate stops every pod before starting new ones: the load balancer has no target during the rollout", fix))
				continue
			}
			var ru RollingUpdate
			var err error
			if s.RollingUpdate == nil {
				ru, err = ResolveRollingUpdate(replicas, nil, nil)
			} else {
				ru, err = ResolveRollingUpdate(replicas, s.RollingUpdate.MaxSurge, s.RollingUpdate.MaxUnavailable)
			}
			if err != nil || ru.Rejected || ru.Unavailable < int(replicas) {
				continue
			}
			why := ""
			if ru.FencepostBumped {
				why = " (both bounds round to 0, so the controller allows 1)"
			}
			out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc("spec", "strategy"),
				fmt.Sprintf("%d replica(s) with maxUnavailable resolving to %d%s and maxSurge to %d: every serving pod may be down at once", replicas, ru.Unavailable, why, ru.Surge), fix))
		case w.StatefulSet != nil:
			if replicas != 1 {
				continue
			}
			out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc("spec", "replicas"),
				"StatefulSet with 1 replica: a rolling update deletes the only pod before its replacement is ready",
				objectPatch(w.Object, "spec:", "  replicas: 2")))
		}
	}
	return out
}
