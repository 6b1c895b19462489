package lint

import "fmt"

// minReadyBelowHealthy: ZD301.
type minReadyBelowHealthy struct{}

func (minReadyBelowHealthy) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD301", Severity: SeverityWarning, Title: "minReadySeconds shorter than the load balancer's time to mark a target healthy",
		Why: "A new pod is Ready for Kubernetes long before the load balancer has seen enough passing health checks to " +
			"send it traffic (seed 003: Ready at T+12 s, ALB healthy at T+60 s: 48 s of 502s). Without a readiness gate the " +
			"Deployment then removes old pods the load balancer still needs. minReadySeconds makes the controller wait; " +
			"a readiness gate (AWS: namespace label elbv2.k8s.aws/pod-readiness-gate-inject=enabled with IP targets; " +
			"zerodrop: zerodrop.dev/readiness-gate-inject=enabled and a TargetBinding) makes it wait for the real state.",
		HelpURI: docMinReady,
		Formula: "minReadySeconds >= health-check interval × healthy threshold (ALB defaults 15 s × 2, NLB 10 s × 3, TargetBinding 2 s × 2), unless a readiness gate covers the load balancer",
		Fix:     "minReadySeconds: 30",
	}
}

func (r minReadyBelowHealthy) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		if w.Deployment == nil && w.StatefulSet == nil {
			continue
		}
		var worst *Frontend
		for _, f := range m.WorkloadFrontends(w) {
			if m.GateCovers(w, f) {
				continue
			}
			if worst == nil || f.SecondsToHealthy() > worst.SecondsToHealthy() {
				f := f
				worst = &f
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
