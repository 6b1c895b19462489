package lint

import "fmt"

// minReadyBelowHealthy: ZD301.
type minReadyBelowHealthy struct{}

func (minReadyBelowHealthy) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD301", Severity: SeverityWarning, Title: "minReadySeconds shorter than the load balancer's time to mark a target healthy",
		Why: "A new pod is Ready for Kubernetes long before the load balancer has seen enough passing health checks to " +
			"send it traffic (seed 003: Ready at T+12 s, ALB healthy at T+60 s: 48 s of 502s). Without a readiness gate the " +
			"rollout (Deployment, StatefulSet, DaemonSet) then removes old pods the load balancer still needs. " +
			"minReadySeconds makes the controller wait; a readiness gate (AWS: namespace label " +
			"elbv2.k8s.aws/pod-readiness-gate-inject=enabled with IP targets; zerodrop: zerodrop.dev/readiness-gate-inject=enabled " +
			"and a TargetBinding) makes it wait for the real state. Not reported for an AWS load balancer with instance " +
			"targets (its targets are nodes, whose health checks do not follow new pods: ZD501 reports the target type), " +
			"nor when ZD502 reports the missing gate label behind the same load balancer (the same root cause). " +
			"zerodrop's ELBv2 provider gates on the target group's own healthy state (mode Observe beside the AWS controller, " +
			"docs/providers/elbv2.md), so no minReadySeconds guess is needed.",
		HelpURI: docMinReady,
		Formula: "minReadySeconds >= health-check interval × healthy threshold (ALB defaults 15 s × 2, NLB 10 s × 3, TargetBinding 2 s × 2), for IP-target load balancers no readiness gate covers",
		Fix:     "minReadySeconds: 30",
	}
}

func (r minReadyBelowHealthy) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		if !w.HasRollout() {
			continue
		}
		var worst *Frontend
		fronts := m.WorkloadFrontends(w)
		for i := range fronts {
			f := &fronts[i]
			if !f.TargetTypeIP || m.GateCovers(w, *f) || !c.Disabled["ZD502"] && m.gateLabelMissing(w, *f) {
				continue
			}
			if worst == nil || f.SecondsToHealthy() > worst.SecondsToHealthy() {
				worst = f
			}
		}
		if worst == nil || w.MinReadySeconds >= worst.SecondsToHealthy() {
			continue
		}
		need := worst.SecondsToHealthy()
		out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc("spec", "minReadySeconds"),
			fmt.Sprintf("minReadySeconds %d < %d = %ds interval × %d healthy checks of %s, and no readiness gate covers it: old pods go before the load balancer sends to new ones",
				w.MinReadySeconds, need, worst.HealthInterval, worst.HealthyThreshold, worst.Name()),
			objectPatch(w.Object, "spec:", fmt.Sprintf("  minReadySeconds: %d  # %d s × %d checks", need, worst.HealthInterval, worst.HealthyThreshold),
				fmt.Sprintf("# better: label namespace %s with %s=enabled (IP targets) so a readiness gate waits for the real target health", nsOrDefault(w.Object.Ref.Namespace), worst.GateLabel))))
	}
	return out
}
