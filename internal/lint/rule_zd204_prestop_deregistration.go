package lint

import "fmt"

// preStopBelowDeregistration: ZD204.
type preStopBelowDeregistration struct{}

func (preStopBelowDeregistration) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD204", Severity: SeverityWarning, Title: "preStop shorter than the load balancer's deregistration time",
		Why: "A leaving target stays registered (AWS: draining, for deregistration_delay.timeout_seconds, default 300 s; " +
			"zerodrop: drain.timeout, and at least health-check interval × unhealthy threshold) while the load balancer " +
			"may still send it requests or hold its connections. If the preStop ends first, SIGTERM closes connections the " +
			"load balancer still uses: clients get 5xx and resets (seeds 000/001: 'Be wary of the deregistration delay'). " +
			"Either lengthen preStop or shorten the deregistration delay. zerodrop's ELBv2 provider replaces the fixed preStop: " +
			"its injected wait holds SIGTERM until the target group reports the target out of draining (docs/providers/elbv2.md), " +
			"so the grace period only has to exceed the deregistration delay.",
		HelpURI: docDereg,
		Formula: "preStop seconds >= deregistration seconds (AWS: deregistration_delay.timeout_seconds, default 300; TargetBinding: max(drain.timeout if drain.wait, interval × unhealthyThreshold))",
		Fix:     "alb.ingress.kubernetes.io/target-group-attributes: deregistration_delay.timeout_seconds=30\n# and/or lifecycle.preStop.sleep.seconds: 30",
	}
}

func (r preStopBelowDeregistration) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		fronts := m.WorkloadFrontends(w)
		if len(fronts) == 0 {
			continue
		}
		var worst Frontend
		for _, f := range fronts {
			if f.DeregistrationSeconds > worst.DeregistrationSeconds {
				worst = f
			}
		}
		for _, name := range m.LoadBalancedContainers(w) {
			p, _ := m.EffectivePreStop(w, w.Container(name))
			if !p.Present || p.Seconds >= worst.DeregistrationSeconds {
				continue
			}
			d := worst.DeregistrationSeconds
			need := GraceNeeded(d, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds)
			lines := []string{}
			if GraceSeconds(&w.Template.Spec) < need {
				lines = append(lines, fmt.Sprintf("terminationGracePeriodSeconds: %d  # %d preStop + %d shutdown + %d buffer", need, d, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds))
			}
			lines = append(lines, "containers:", "- name: "+name, "  lifecycle:", "    preStop:", "      sleep:", fmt.Sprintf("        seconds: %d", d))
			fix := podSpecPatch(w, lines...)
			if alt := shortenDeregistrationPatch(worst, p.Seconds); alt != "" {
				fix += "# or shorten the deregistration delay instead:\n" + alt
			}
			out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc(w.PodSpecPath("containers", "name="+name, "lifecycle", "preStop")...),
				fmt.Sprintf("container %q: preStop waits %ds (%s) but %s keeps the target for %ds: SIGTERM comes %ds before the load balancer lets go",
					name, p.Seconds, p.Source, worst.Name(), d, d-p.Seconds),
				fix))
		}
	}
	return out
}

// shortenDeregistrationPatch renders the alternative fix: set the load
// balancer's deregistration delay to the preStop's seconds.
func shortenDeregistrationPatch(f Frontend, seconds int32) string {
	switch f.Kind {
	case FrontendALB:
		return objectPatch(f.Via, "metadata:", "  annotations:", fmt.Sprintf("    %s: %s=%d", AnnALBTargetGroupAttrs, AttrDeregistrationTimeout, seconds))
	case FrontendNLB:
		return objectPatch(f.Via, "metadata:", "  annotations:", fmt.Sprintf("    %s: %s=%d", AnnNLBTargetGroupAttrs, AttrDeregistrationTimeout, seconds))
	case FrontendTargetBinding:
		return objectPatch(f.Via, "spec:", "  drain:", fmt.Sprintf("    timeout: %ds", seconds))
	}
	return ""
}
