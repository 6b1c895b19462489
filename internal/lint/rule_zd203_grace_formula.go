package lint

import "fmt"

// graceBelowFormula: ZD203.
type graceBelowFormula struct{}

func (graceBelowFormula) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD203", Severity: SeverityWarning, Title: "terminationGracePeriodSeconds below preStop + shutdown + buffer",
		Why: "After the preStop hook the application needs time to finish in-flight requests and close connections " +
			"before SIGKILL. Seed 003's formula sizes the grace period from the preStop sleep, the application's " +
			"maximum shutdown time and a safety buffer (defaults 10 s and 10 s; set shutdownSeconds and bufferSeconds " +
			"in --config). zerodrop's injected wait counts as the preStop when it applies.",
		HelpURI: docTermination,
		Formula: "terminationGracePeriodSeconds >= preStop + shutdownSeconds + bufferSeconds",
		Fix:     "terminationGracePeriodSeconds: 60  # preStop(15) + shutdown(30) + buffer(15)",
	}
}

func (r graceBelowFormula) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.loadBalanced() {
		p, name := m.maxPreStop(w)
		grace := GraceSeconds(&w.Template.Spec)
		if p.Present && int64(p.Seconds) > grace {
			continue // ZD202 reports it.
		}
		need := GraceNeeded(p.Seconds, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds)
		if grace >= need {
			continue
		}
		what := "no preStop"
		if p.Present {
			what = fmt.Sprintf("container %q's preStop %ds (%s)", name, p.Seconds, p.Source)
		}
		out = append(out, finding(r.Meta(), w.Object, graceLoc(w),
			fmt.Sprintf("terminationGracePeriodSeconds %d < %d = %s + %ds shutdown + %ds buffer: the application has only %ds after preStop before SIGKILL",
				grace, need, what, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds, grace-int64(p.Seconds)),
			podSpecPatch(w, fmt.Sprintf("terminationGracePeriodSeconds: %d  # %d preStop + %d shutdown + %d buffer", need, p.Seconds, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds))))
	}
	return out
}
