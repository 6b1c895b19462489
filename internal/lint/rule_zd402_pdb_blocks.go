package lint

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// pdbBlocksEviction: ZD402.
type pdbBlocksEviction struct{}

func (pdbBlocksEviction) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD402", Severity: SeverityWarning, Title: "PodDisruptionBudget allows no eviction",
		Why: "maxUnavailable 0 (or 0%), or minAvailable 100% (or at least the replica count), requires zero voluntary " +
			"evictions: a node running one of these pods cannot be drained, and cluster upgrades stall (seed 001's testing notes).",
		HelpURI: docPDB,
		Formula: "maxUnavailable == 0 || minAvailable (rounded up) >= replicas",
		Fix:     "spec:\n  maxUnavailable: 1",
	}
}

func (r pdbBlocksEviction) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	for _, p := range m.PDBs {
		var replicas int32
		matched := false
		for _, w := range p.workloads {
			if w.Scalable() || w.IsPod() { // a drain skips DaemonSet pods
				replicas += w.Replicas // ZD404 covers the HPA at minReplicas
				matched = true
			}
		}
		blocks := false
		desc := ""
		switch {
		case p.MaxUnavailable != nil:
			blocks = PDBAllowsNoEviction(nil, p.MaxUnavailable, replicas)
			if !matched {
				blocks = isZero(p.MaxUnavailable)
			}
			desc = "maxUnavailable " + p.MaxUnavailable.String()
		case p.MinAvailable != nil:
			if matched {
				blocks = PDBAllowsNoEviction(p.MinAvailable, nil, replicas)
			} else {
				blocks = p.MinAvailable.Type == intstr.String && p.MinAvailable.StrVal == "100%"
			}
			desc = "minAvailable " + p.MinAvailable.String()
			if matched {
				desc += fmt.Sprintf(" with %d replica(s)", replicas)
			}
		}
		if !blocks {
			continue
		}
		out = append(out, finding(r.Meta(), p.Object, p.Object.FieldLoc("spec"),
			fmt.Sprintf("%s allows no voluntary eviction: nodes running these pods cannot be drained", desc),
			objectPatch(p.Object, "spec:", "  minAvailable: null", "  maxUnavailable: 1")))
	}
	return out
}

func isZero(v *intstr.IntOrString) bool {
	return v.Type == intstr.Int && v.IntVal == 0 || v.Type == intstr.String && (v.StrVal == "0%" || v.StrVal == "0")
}
