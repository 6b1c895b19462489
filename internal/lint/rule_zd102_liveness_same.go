package lint

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
)

// livenessSameAsReadiness: ZD102.
type livenessSameAsReadiness struct{}

func (livenessSameAsReadiness) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD102", Severity: SeverityWarning, Title: "livenessProbe identical to readinessProbe with failureThreshold 1",
		Why: "A liveness probe that checks the same endpoint as the readiness probe and gives up after one failure " +
			"restarts the container on the first slow response: a busy pod that should only leave the load balancer " +
			"for a moment is killed instead, and its in-flight requests are dropped (seed 001's example probes).",
		HelpURI: docProbes,
		Formula: "liveness.handler == readiness.handler && liveness.failureThreshold == 1",
		Fix:     "livenessProbe:\n  failureThreshold: 3\n  periodSeconds: 10",
	}
}

func (r livenessSameAsReadiness) Check(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Model.Workloads {
		for i := range w.Template.Spec.Containers {
			ctr := &w.Template.Spec.Containers[i]
			l, rd := ctr.LivenessProbe, ctr.ReadinessProbe
			if l == nil || rd == nil || l.FailureThreshold != 1 || !equality.Semantic.DeepEqual(l.ProbeHandler, rd.ProbeHandler) {
				continue
			}
			out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc(w.PodSpecPath("containers", "name="+ctr.Name, "livenessProbe", "failureThreshold")...),
				fmt.Sprintf("container %q: livenessProbe checks the same endpoint as readinessProbe and restarts the container after 1 failure", ctr.Name),
				podSpecPatch(w, "containers:", "- name: "+ctr.Name, "  livenessProbe:", "    failureThreshold: 3  # restart only after a sustained failure",
					"    periodSeconds: 10", "    # better: a separate, cheaper liveness endpoint than readiness")))
		}
	}
	return out
}
