package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Output formats of Render.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// Formats lists the formats Render accepts.
func Formats() []string { return []string{FormatTable, FormatJSON, FormatYAML} }

// Render writes r to w in format (one of Formats).
func Render(w io.Writer, r Report, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("writing the report as JSON: %w", err)
		}
		return nil
	case FormatYAML:
		out, err := yaml.Marshal(r)
		if err != nil {
			return fmt.Errorf("writing the report as YAML: %w", err)
		}
		_, err = w.Write(out)
		return err
	case FormatTable, "":
		return renderTable(w, r)
	}
	return fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats(), ", "))
}

// renderTable writes the human table: load balancers, bindings, pods held
// back or draining, then the bindings' findings (grants refused, pods
// missing their gate or drain wait).
func renderTable(w io.Writer, r Report) error {
	now := r.Time.Time
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch {
	case len(r.Bindings) == 0 && r.Scope.Pod != "":
		fmt.Fprintf(tw, "Pod %s: no TargetBinding gates, drains or reports it.\n", r.Scope.Pod)
		return tw.Flush()
	case len(r.Bindings) == 0:
		fmt.Fprintln(tw, "No TargetBindings in scope.")
		return tw.Flush()
	}
	fmt.Fprintln(tw, "LOADBALANCER\tPROVIDER\tINSTANCE\tREACHABLE\tSINCE\tMESSAGE")
	for _, lb := range r.LoadBalancers {
		if !lb.Found {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tnot found\n", lb.Name)
			continue
		}
		since := "-"
		if lb.Ready != nil {
			since = ago(now, lb.Ready.Since.Time)
		}
		if len(lb.Instances) == 0 {
			msg := "no instance probed yet"
			if lb.Ready != nil && lb.Ready.Message != "" {
				msg = lb.Ready.Message
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%s\t%s\n", lb.Name, dash(lb.Provider), since, msg)
		}
		for i, in := range lb.Instances {
			name, prov := lb.Name, dash(lb.Provider)
			if i > 0 {
				name, prov = "", ""
			}
			reach := "yes"
			if !in.Reachable {
				reach = "NO"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, prov, in.Name, reach, since, dash(in.Message))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "BINDING\tLOADBALANCER\tBACKEND\tREADY\tDESIRED\tHEALTHY\tDRAINING\tNO-GATE\tNO-DRAIN-WAIT\tACCEPTED")
	for _, b := range r.Bindings {
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", b.Namespace, b.Name, b.LoadBalancer, b.Backend,
			condWord(b.Ready), b.Targets.Desired, b.Targets.Healthy, b.Targets.Draining,
			b.PodsMissingGateCount, b.PodsWithoutDrainWaitCount, condWord(b.Accepted))
	}
	fmt.Fprintln(tw)
	if len(r.Pods) == 0 {
		if r.Scope.Pod != "" {
			fmt.Fprintf(tw, "Pod %s: no binding holds it back or drains it.\n", r.Scope.Pod)
		} else {
			fmt.Fprintln(tw, "No pod held back or draining.")
		}
	} else {
		fmt.Fprintln(tw, "POD\tBINDING\tSTATE\tSINCE\tINSTANCE\tINSTANCE STATE\tDETAIL")
		for _, p := range r.Pods {
			name := p.Namespace + "/" + p.Name
			since := "-"
			if p.Since != nil {
				since = ago(now, p.Since.Time)
			}
			detail := podDetail(p)
			if len(p.Instances) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t%s\t%s\n", name, p.Binding, p.State, since, dash(p.Message), detail)
				continue
			}
			for i, in := range p.Instances {
				if i > 0 {
					fmt.Fprintf(tw, "\t\t\t\t%s\t%s\t\n", in.Instance, in.State)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Binding, p.State, since, in.Instance, in.State, detail)
			}
		}
	}
	var findings []string
	for _, b := range r.Bindings {
		key := b.Namespace + "/" + b.Name
		if b.Accepted != nil && b.Accepted.Status != "True" {
			findings = append(findings, fmt.Sprintf("%s: grant refused (%s): %s", key, b.Accepted.Reason, b.Accepted.Message))
		}
		if b.Ready != nil && b.Ready.Status != "True" {
			findings = append(findings, fmt.Sprintf("%s: not Ready (%s) for %s: %s", key, b.Ready.Reason, ago(now, b.Ready.Since.Time), b.Ready.Message))
		}
		if b.Synced != nil && b.Synced.Status != "True" {
			findings = append(findings, fmt.Sprintf("%s: not Synced (%s): %s", key, b.Synced.Reason, b.Synced.Message))
		}
		if b.PodsMissingGateCount > 0 {
			findings = append(findings, fmt.Sprintf("%s: %d pods missing the readiness gate (created before the binding or while the webhook was down; roll the workload): %s",
				key, b.PodsMissingGateCount, listed(b.PodsMissingGate, b.PodsMissingGateCount)))
		}
		if b.PodsWithoutDrainWaitCount > 0 {
			findings = append(findings, fmt.Sprintf("%s: %d pods without the drain wait (SIGTERM may reach them while a load balancer still sends requests; roll the workload): %s",
				key, b.PodsWithoutDrainWaitCount, listed(b.PodsWithoutDrainWait, b.PodsWithoutDrainWaitCount)))
		}
	}
	if len(findings) > 0 {
		fmt.Fprintln(tw)
		for _, f := range findings {
			fmt.Fprintln(tw, f)
		}
	}
	return tw.Flush()
}

// podDetail is the check of a pending gate, or a drain's time left.
func podDetail(p PodReport) string {
	var parts []string
	if p.Check != nil {
		parts = append(parts, "check "+p.Check.String())
	}
	if p.GraceEndsIn != nil {
		parts = append(parts, "grace ends "+in(p.GraceEndsIn.Duration))
	}
	if p.DrainTimeoutIn != nil {
		parts = append(parts, "drain timeout "+in(p.DrainTimeoutIn.Duration))
	}
	return strings.Join(parts, ", ")
}

func condWord(c *Condition) string {
	if c == nil {
		return "-"
	}
	if c.Reason == "" || c.Status == "True" {
		return c.Status
	}
	return c.Status + " (" + c.Reason + ")"
}

func listed(names []string, n int32) string {
	s := strings.Join(names, ", ")
	if more := int(n) - len(names); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago says how long ago t was, to the second ("12s", "3m4s").
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String()
}

// in says when a deadline d from now is: "in 12s", or "12s ago".
func in(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		return (-d).String() + " ago"
	}
	return "in " + d.String()
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
