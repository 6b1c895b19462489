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
		out = append(out, finding(r.Meta(), w.Object, graceLoc(w), graceFormulaMessage(grace, need, p, name, c.Settings),
			podSpecPatch(w, "terminationGracePeriodSeconds: "+fmt.Sprint(need)+"  # "+graceFormulaTerms(p, c.Settings))))
	}
	return out
}

// graceFormulaTerms renders the terms of seed 003's formula that apply:
// "20 preStop + 10 shutdown + 10 buffer", without the preStop when there is
// none.
func graceFormulaTerms(p PreStop, s Settings) string {
	t := fmt.Sprintf("%d shutdown + %d buffer", s.ShutdownSeconds, s.BufferSeconds)
	if p.Present {
		t = fmt.Sprintf("%d preStop + ", p.Seconds) + t
	}
	return t
}

// graceFormulaMessage explains ZD203 for the object at hand: with or
// without a preStop, and for a grace period of 0 (immediate SIGKILL).
func graceFormulaMessage(grace, need int64, p PreStop, container string, s Settings) string {
	terms := fmt.Sprintf("%ds shutdown + %ds buffer", s.ShutdownSeconds, s.BufferSeconds)
	if p.Present {
		terms = fmt.Sprintf("container %q's preStop %ds (%s) + ", container, p.Seconds, p.Source) + terms
	}
	left := grace - int64(p.Seconds)
	var what string
	switch {
	case grace == 0:
		what = "0 asks for an immediate SIGKILL (the kubelet still allows its 2 s minimum): requests in flight are cut off"
	case !p.Present:
		what = fmt.Sprintf("the application has only %ds after SIGTERM before SIGKILL", grace)
	case !p.Exact:
		what = fmt.Sprintf("the application has at most %ds after preStop before SIGKILL", left)
	default:
		what = fmt.Sprintf("the application has only %ds after preStop before SIGKILL", left)
	}
	return fmt.Sprintf("terminationGracePeriodSeconds %d < %d = %s: %s", grace, need, terms, what)
}
