package lint

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Kubernetes' probe defaults.
const (
	defaultProbePeriodSeconds    = 10
	defaultProbeFailureThreshold = 3
)

// probesIdentical: ZD103.
type probesIdentical struct{}

func (probesIdentical) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD103", Severity: SeverityWarning, Title: "livenessProbe checks the same endpoint as readinessProbe",
		Why: "Readiness takes an overloaded or briefly stuck pod out of the load balancer until it recovers; liveness " +
			"restarts it. When both probe the same endpoint, whatever makes the pod unready also makes it fail liveness: " +
			"after failureThreshold × periodSeconds the container is killed with its requests in flight, and under load " +
			"the restarts cascade across the replicas. Liveness should check only that the process is not wedged " +
			"(a cheaper endpoint, or a much longer threshold). ZD102 reports the worst case, failureThreshold 1; this " +
			"rule any other threshold. kube-score reports the same.",
		HelpURI: docProbes,
		Formula: "liveness.handler == readiness.handler && liveness.failureThreshold != 1",
		Fix:     "livenessProbe:\n  httpGet: {path: /livez, port: 8080}  # not the readiness endpoint\n  failureThreshold: 6",
	}
}

func (r probesIdentical) Check(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Model.Workloads {
		for i := range w.Template.Spec.Containers {
			ctr := &w.Template.Spec.Containers[i]
			l, rd := ctr.LivenessProbe, ctr.ReadinessProbe
			if l == nil || rd == nil || l.FailureThreshold == 1 || !equality.Semantic.DeepEqual(l.ProbeHandler, rd.ProbeHandler) {
				continue
			}
			ft, period := probeFailureThreshold(l), probePeriod(l)
			out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc(w.PodSpecPath("containers", "name="+ctr.Name, "livenessProbe")...),
				fmt.Sprintf("container %q: livenessProbe checks the same endpoint as readinessProbe: whatever takes the pod out of the load balancer also restarts it after %d failed checks (%ds), with its requests in flight",
					ctr.Name, ft, ft*period),
				podSpecPatch(w, "containers:", "- name: "+ctr.Name, "  livenessProbe:",
					"    # probe a cheaper endpoint that fails only when the process is wedged, not the readiness endpoint",
					fmt.Sprintf("    failureThreshold: %d  # or keep the endpoint and wait longer before a restart", 2*ft))))
		}
	}
	return out
}

func probeFailureThreshold(p *corev1.Probe) int32 {
	if p.FailureThreshold <= 0 {
		return defaultProbeFailureThreshold
	}
	return p.FailureThreshold
}

func probePeriod(p *corev1.Probe) int32 {
	if p.PeriodSeconds <= 0 {
		return defaultProbePeriodSeconds
	}
	return p.PeriodSeconds
}
