package lint

import "fmt"

// graceShorterThanPreStop: ZD202.
type graceShorterThanPreStop struct{}

func (graceShorterThanPreStop) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD202", Severity: SeverityError, Title: "terminationGracePeriodSeconds shorter than the preStop hook",
		Why: "The grace period counts from the deletion, preStop included. When it ends the kubelet sends SIGKILL, so a " +
			"preStop longer than the grace period is cut short and the application never gets to shut down gracefully.",
		HelpURI: docTermination,
		Formula: "terminationGracePeriodSeconds (default 30) < preStop seconds",
		Fix:     "terminationGracePeriodSeconds: <preStop + shutdown + buffer>",
	}
}

func (r graceShorterThanPreStop) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, w := range m.Workloads {
		p, name := m.maxPreStop(w)
		grace := GraceSeconds(&w.Template.Spec)
		if !p.Present || int64(p.Seconds) <= grace {
			continue
		}
		need := GraceNeeded(p.Seconds, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds)
		out = append(out, finding(r.Meta(), w.Object, graceLoc(w),
			fmt.Sprintf("terminationGracePeriodSeconds %d is shorter than container %q's preStop (%ds, %s): SIGKILL cuts the hook short", grace, name, p.Seconds, p.Source),
			podSpecPatch(w, fmt.Sprintf("terminationGracePeriodSeconds: %d  # %d preStop + %d shutdown + %d buffer", need, p.Seconds, c.Settings.ShutdownSeconds, c.Settings.BufferSeconds))))
	}
	return out
}

// graceLoc is the line of terminationGracePeriodSeconds, or of the pod spec.
func graceLoc(w *Workload) Location {
	return w.Object.FieldLoc(w.PodSpecPath("terminationGracePeriodSeconds")...)
}
