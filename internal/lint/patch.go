package lint

import (
	"fmt"
	"strings"
)

// DefaultPreStopSeconds is the preStop sleep suggested when no load
// balancer's deregistration time is known: long enough for kube-proxy and
// ingress controllers to see the endpoint leave (seed 003 uses 15 s).
const DefaultPreStopSeconds = 15

// podSpecPatch renders a patch of w's pod spec: lines are YAML relative to
// the pod spec, indented by two spaces per level.
func podSpecPatch(w *Workload, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", w.Object.Ref)
	indent := ""
	if len(w.templatePath) > 0 {
		b.WriteString("spec:\n  template:\n    spec:\n")
		indent = "      "
	} else {
		b.WriteString("spec:\n")
		indent = "  "
	}
	for _, l := range lines {
		b.WriteString(indent + l + "\n")
	}
	return b.String()
}

// objectPatch renders a patch of o: lines are YAML relative to the object.
func objectPatch(o *Object, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", o.Ref)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// recommendedPreStop is the preStop sleep that covers every load balancer
// in front of w: the longest deregistration time, or DefaultPreStopSeconds.
func (m *Model) recommendedPreStop(w *Workload) int32 {
	var best int32
	for _, f := range m.WorkloadFrontends(w) {
		if f.DeregistrationSeconds > best {
			best = f.DeregistrationSeconds
		}
	}
	if best == 0 {
		return DefaultPreStopSeconds
	}
	return best
}

// maxPreStop is the longest effective preStop among w's containers (hooks
// run in parallel, one per container).
func (m *Model) maxPreStop(w *Workload) (PreStop, string) {
	var best PreStop
	name := ""
	for i := range w.Template.Spec.Containers {
		c := &w.Template.Spec.Containers[i]
		p, _ := m.EffectivePreStop(w, c)
		if p.Present && (!best.Present || p.Seconds > best.Seconds) {
			best, name = p, c.Name
		}
	}
	return best, name
}

// selectorLines renders w's pod labels as matchLabels lines at indent.
func selectorLines(w *Workload, indent string) []string {
	lbls := w.Template.Labels
	if len(w.selector) > 0 {
		lbls = w.selector
	}
	out := []string{indent + "matchLabels:"}
	for _, k := range sortedKeys(lbls) {
		out = append(out, fmt.Sprintf("%s  %s: %s", indent, k, yamlScalar(lbls[k])))
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// yamlScalar quotes s when YAML would read it as something other than a
// string.
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "", "true", "false", "yes", "no", "on", "off", "null", "~":
		return fmt.Sprintf("%q", s)
	}
	if strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	if _, err := fmt.Sscanf(s, "%g", new(float64)); err == nil {
		return fmt.Sprintf("%q", s)
	}
	return s
}
