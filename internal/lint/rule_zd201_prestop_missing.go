package lint

import "fmt"

// preStopMissing: ZD201.
type preStopMissing struct{}

func (preStopMissing) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD201", Severity: SeverityWarning, Title: "no preStop hook on a load-balanced container",
		Why: "On deletion the kubelet sends SIGTERM at the same moment the endpoint is removed; kube-proxy, ingress " +
			"controllers and the load balancer learn of it seconds later and keep sending requests to a process that is " +
			"shutting down. A preStop sleep delays SIGTERM until they have stopped (seeds 000/001/002). Not reported when " +
			"zerodrop injects its drain-waiting preStop (namespace labelled zerodrop.dev/readiness-gate-inject=enabled and " +
			"a TargetBinding with drain.wait on selects the pods).",
		HelpURI: docHooks,
		Formula: "suggested preStop = max(LB deregistration seconds) or 15 s",
		Fix:     "lifecycle:\n  preStop:\n    sleep:\n      seconds: 15",
	}
}

func (r preStopMissing) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		if m.InjectedWaitSeconds(w) > 0 {
			continue
		}
		rec := m.recommendedPreStop(w)
		for _, name := range m.LoadBalancedContainers(w) {
			if PreStopSeconds(w.Container(name)).Present {
				continue
			}
			grace := GraceSeconds(&w.Template.Spec)
			need := GraceNeeded(rec, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds)
			lines := []string{}
			if grace < need {
				lines = append(lines, fmt.Sprintf("terminationGracePeriodSeconds: %d  # %d preStop + %d shutdown + %d buffer", need, rec, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds))
			}
			lines = append(lines, "containers:", "- name: "+name, "  lifecycle:", "    preStop:", "      sleep:",
				fmt.Sprintf("        seconds: %d", rec))
			out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc(w.PodSpecPath("containers", "name="+name)...),
				fmt.Sprintf("container %q has no preStop hook: SIGTERM arrives while load balancers still route to it (suggested sleep %ds)", name, rec),
				podSpecPatch(w, lines...)))
		}
	}
	return out
}
