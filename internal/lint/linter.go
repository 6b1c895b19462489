package lint

import (
	"sort"
)

// Result is the outcome of one lint run.
type Result struct {
	// Findings, sorted by file, line, rule and object.
	Findings []Finding
	// Errors are inputs that could not be read or decoded.
	Errors []InputError
	// Rules are the rules that ran (enabled ones), in ID order.
	Rules []RuleMeta
	// Objects counts the objects checked.
	Objects int
	// Suppressed counts findings dropped by annotations or the config.
	Suppressed int
}

// Lint runs every enabled rule over objs. cfg may be nil.
func Lint(objs []*Object, live bool, cfg *Config) Result {
	m := NewModel(objs, live)
	ctx := &Context{Model: m, Settings: cfg.Settings(), Disabled: map[string]bool{}}
	for _, r := range Rules() {
		if id := r.Meta().ID; cfg.disabled(id) {
			ctx.Disabled[id] = true
		}
	}
	res := Result{Objects: len(objs)}
	byRef := map[ObjectRef]*Object{}
	for _, o := range objs {
		byRef[o.Ref] = o
	}
	for _, r := range Rules() {
		meta := r.Meta()
		if cfg.disabled(meta.ID) {
			continue
		}
		if sev, ok := cfg.severityOverride(meta.ID); ok {
			meta.Severity = sev
		}
		res.Rules = append(res.Rules, meta)
		for _, f := range r.Check(ctx) {
			f.Severity = meta.Severity
			if o := byRef[f.Object]; o != nil && annotationIgnores(o, f.RuleID) || cfg.ignored(f) {
				res.Suppressed++
				continue
			}
			res.Findings = append(res.Findings, f)
		}
	}
	SortFindings(res.Findings)
	return res
}

// SortFindings orders findings by file, line, rule ID and object.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Location.File != b.Location.File {
			return a.Location.File < b.Location.File
		}
		if a.Location.Line != b.Location.Line {
			return a.Location.Line < b.Location.Line
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.Object.String() < b.Object.String()
	})
}

// MaxSeverity returns the highest severity among the findings, 0 if none.
func (r Result) MaxSeverity() Severity {
	var s Severity
	for _, f := range r.Findings {
		if f.Severity > s {
			s = f.Severity
		}
	}
	return s
}

// CountAtLeast counts findings of severity sev or worse.
func (r Result) CountAtLeast(sev Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= sev {
			n++
		}
	}
	return n
}

func (c *Config) severityOverride(id string) (Severity, bool) {
	if c == nil {
		return 0, false
	}
	for k, v := range c.SeverityOverrides {
		if k == id {
			return v, true
		}
	}
	return 0, false
}
