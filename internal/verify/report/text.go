package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
)

// WriteJSON writes r as indented JSON (the documented v1 schema).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	return nil
}

// maxTextSeconds bounds the per-second table of the terminal summary; the
// JSON and HTML reports have every second.
const maxTextSeconds = 40

// WriteText writes the terminal summary of r: totals by class, rate,
// latency, the seconds that had errors, the timeline and the verdict.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	ka := "keep-alive"
	if !r.Config.KeepAlive {
		ka = "new connection per request"
	}
	fmt.Fprintf(&b, "zerodrop verify: %d requests, %s %s, %d target(s), %s, timeout %gs\n",
		r.Totals.Requests, r.Config.Method, strings.Join(r.Config.Targets, " "), len(r.Config.Targets), ka, r.Config.TimeoutSeconds)
	fmt.Fprintf(&b, "rate:     requested %.0f/s, achieved %.1f/s (ratio %.3f), max schedule lag %.1f ms, over %.1f s\n",
		r.Rate.Requested, r.Rate.Achieved, r.Rate.Ratio, r.Rate.MaxScheduleLagMs, r.DurationSeconds)
	fmt.Fprintf(&b, "latency:  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max)
	fmt.Fprintf(&b, "outcome:  %d ok, %d failed (error rate %.4f%%)\n", r.Totals.OK, r.Totals.Failed, 100*r.Totals.ErrorRate)
	for _, c := range classify.Failures() {
		if n := r.Totals.ByClass[c]; n > 0 {
			fmt.Fprintf(&b, "  %-16s %8d  %s\n", c, n, c.Description())
		}
	}

	classes := usedClasses(r)
	var errSeconds []Second
	for _, s := range r.Seconds {
		if s.Failed > 0 {
			errSeconds = append(errSeconds, s)
		}
	}
	if len(errSeconds) > 0 {
		fmt.Fprintf(&b, "\nseconds with errors (%d of %d):\n", len(errSeconds), len(r.Seconds))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "second\tsent\tfailed\t")
		for _, c := range classes {
			fmt.Fprintf(tw, "%s\t", strings.TrimPrefix(string(c), "http_"))
		}
		fmt.Fprint(tw, "p99 ms\t\n")
		for i, s := range errSeconds {
			if i == maxTextSeconds {
				fmt.Fprintf(tw, "... %d more seconds with errors: see the JSON or HTML report\t\n", len(errSeconds)-maxTextSeconds)
				break
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t", s.Second, s.Sent, s.Failed)
			for _, c := range classes {
				fmt.Fprintf(tw, "%d\t", s.ByClass[c])
			}
			fmt.Fprintf(tw, "%.1f\t\n", s.LatencyMs.P99)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(r.Events) > 0 {
		fmt.Fprintf(&b, "\ntimeline:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, e := range r.Events {
			fmt.Fprintf(tw, "%+9.3fs\t%s\t%s\t%s\n", e.AtSeconds, e.Kind, e.Subject, e.Message)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(&b, "\nverdict: %s (exit %d)\n", r.Verdict.Status, r.Verdict.ExitCode)
	for _, reason := range r.Verdict.Reasons {
		fmt.Fprintf(&b, "  - %s\n", reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// usedClasses lists the failure classes that occurred, in report order.
func usedClasses(r *Report) []classify.Class {
	var out []classify.Class
	for _, c := range classify.Failures() {
		if r.Totals.ByClass[c] > 0 {
			out = append(out, c)
		}
	}
	return out
}

// ProgressLine formats one live progress line (no newline).
func ProgressLine(elapsedSeconds float64, phase string, rate int, c Counts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.1fs %-8s %d/s  sent %d  failed %d", elapsedSeconds, phase, rate, c.Requests, c.Failed)
	for _, cl := range classify.Failures() {
		if n := c.ByClass[cl]; n > 0 {
			fmt.Fprintf(&b, "  %s %d", strings.TrimPrefix(string(cl), "http_"), n)
		}
	}
	return b.String()
}
