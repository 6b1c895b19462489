package lint

import "fmt"

// duplicateObject: ZD602.
type duplicateObject struct{}

func (duplicateObject) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD602", Severity: SeverityWarning, Title: "object defined more than once",
		Why: "Two documents with the same kind, namespace and name are one object in the cluster: `kubectl apply` " +
			"applies both and keeps the last, so the first definition's settings (probes, preStop, replicas) silently " +
			"never take effect; kustomize and Helm refuse the input. Usually a copy-paste or two overlays rendering the " +
			"same object. lint checks only the last definition.",
		HelpURI: docObjectNames,
		Fix:     "metadata:\n  name: <a unique name>  # or delete one of the definitions",
	}
}

func (r duplicateObject) Check(c *Context) []Finding {
	var out []Finding
	for _, d := range c.Model.Duplicates {
		out = append(out, finding(r.Meta(), d.Dropped, d.Dropped.Loc,
			fmt.Sprintf("%s is defined here and again at %s: applied together, the later definition replaces this one (lint checks only that one)",
				d.Kept.Ref, d.Kept.Loc),
			objectPatch(d.Dropped, "# delete this definition, or rename it:", "metadata:", "  name: "+d.Dropped.Ref.Name+"-2")))
	}
	return out
}
