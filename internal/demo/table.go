package demo

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the side-by-side table: one row per rollout kind,
// failed/sent and rollout duration per mode.
func WriteTable(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"rollout"}
	for _, m := range res.Scenario.Modes() {
		header = append(header, m.Title()+" failed/sent", "rollout")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, k := range res.Kinds {
		row := []string{string(k.Kind)}
		for _, m := range res.Scenario.Modes() {
			r := k.Mode(m)
			if r == nil || r.Report == nil {
				row = append(row, "-", "-")
				continue
			}
			cell := fmt.Sprintf("%d/%d", r.Failed, r.Sent)
			if r.Err != nil {
				cell += " (!)"
			}
			row = append(row, cell, formatDuration(r.Rollout))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

// WriteDetails prints failures by class and per-pod deletion→SIGTERM
// times per kind and mode, and where the reports are.
func WriteDetails(w io.Writer, res *Result) error {
	for _, k := range res.Kinds {
		for _, r := range k.Modes {
			var classes []string
			for c, n := range r.ByClass {
				if n > 0 && c != "ok" {
					classes = append(classes, fmt.Sprintf("%s=%d", c, n))
				}
			}
			slices.Sort(classes)
			var pods []string
			for _, p := range r.Pods {
				s := fmt.Sprintf("%s deletion→SIGTERM %s", p.Name, formatDuration(p.DeletionToSIGTERM))
				if p.HasLBDrain {
					s += fmt.Sprintf(" (LB drained after %s)", formatDuration(p.LBDrain))
				}
				if p.CutRequests > 0 {
					s += fmt.Sprintf(", %d requests cut by its exit", p.CutRequests)
				}
				pods = append(pods, s)
			}
			line := fmt.Sprintf("%s / %s: failures %s", k.Kind, r.Mode, orNone(strings.Join(classes, " ")))
			if r.Err != nil {
				line += "; error: " + r.Err.Error()
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
			for _, p := range pods {
				if _, err := fmt.Fprintln(w, "    "+p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// formatDuration prints a duration with 0.1 s resolution ("12.3s").
func formatDuration(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}
