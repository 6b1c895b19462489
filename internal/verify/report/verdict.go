package report

import "fmt"

// JudgeInput is what Judge needs beside the Report.
type JudgeInput struct {
	// MinRateRatio is the lowest achieved/requested rate ratio that counts
	// as sustained.
	MinRateRatio float64
	// DuringFailed is true when the during step exited non-zero.
	DuringFailed bool
	// DuringError describes how it failed.
	DuringError string
	// Interrupted is true when the run was cancelled before its end.
	Interrupted bool
}

// Judge decides the verdict of r. A measurement that cannot be trusted
// outranks a budget: interrupted, then rate not sustained, then the during
// step failing, then the error budget. All reasons that apply are listed.
func Judge(r *Report, in JudgeInput) Verdict {
	var v Verdict
	set := func(status string, code int, reason string) {
		if v.Status == "" {
			v.Status, v.ExitCode = status, code
		}
		v.Reasons = append(v.Reasons, reason)
	}
	if in.Interrupted {
		set(StatusInterrupted, ExitInterrupted, "the run was interrupted before its end")
	}
	switch {
	case r.Rate.Aborted:
		set(StatusRateNotSustained, ExitRateNotSustained, fmt.Sprintf(
			"could not sustain %.0f requests/s on this machine: sending fell more than %.0f ms behind schedule, so the run stopped after %d requests (achieved %.1f/s)",
			r.Rate.Requested, r.Config.MaxScheduleLagMs, r.Totals.Requests, r.Rate.Achieved))
	case r.Totals.Requests > 1 && r.Rate.Ratio < in.MinRateRatio:
		set(StatusRateNotSustained, ExitRateNotSustained, fmt.Sprintf(
			"could not sustain %.0f requests/s on this machine: achieved %.1f/s (ratio %.3f < %.2f)",
			r.Rate.Requested, r.Rate.Achieved, r.Rate.Ratio, in.MinRateRatio))
	}
	if in.DuringFailed {
		set(StatusDuringFailed, ExitDuringFailed, "the during command failed: "+in.DuringError)
	}
	if r.Config.MaxErrors >= 0 && r.Totals.Failed > r.Config.MaxErrors {
		set(StatusErrorBudgetExceeded, ExitErrorBudgetExceeded, fmt.Sprintf(
			"%d failed requests exceed --max-errors %d", r.Totals.Failed, r.Config.MaxErrors))
	}
	if r.Config.MaxErrorRate >= 0 && r.Totals.ErrorRate > r.Config.MaxErrorRate {
		set(StatusErrorBudgetExceeded, ExitErrorBudgetExceeded, fmt.Sprintf(
			"error rate %.5f exceeds --max-error-rate %g", r.Totals.ErrorRate, r.Config.MaxErrorRate))
	}
	if v.Status == "" {
		v.Status, v.ExitCode = StatusPass, ExitOK
	}
	return v
}
