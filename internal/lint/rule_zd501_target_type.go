package lint

import "fmt"

// instanceTargetType: ZD501.
type instanceTargetType struct{}

func (instanceTargetType) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD501", Severity: SeverityWarning, Title: "AWS load balancer registers instances, not pod IPs",
		Why: "With instance targets the load balancer sends traffic to a NodePort on every node and kube-proxy forwards " +
			"it: health checks do not reach the pod, and pod readiness gates do not work, so Kubernetes cannot wait for " +
			"the load balancer (seeds 000/001/002: 'Use IP target-type load balancers'). The AWS controller's default is instance. " +
			"zerodrop's ELBv2 provider, too, works with IP targets only (docs/providers/elbv2.md).",
		HelpURI: docTargetType,
		Fix:     "alb.ingress.kubernetes.io/target-type: ip\n# or, on an NLB Service: service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip",
	}
}

func (r instanceTargetType) Check(c *Context) []Finding {
	var out []Finding
	seen := map[string]bool{}
	for _, s := range c.Model.Services {
		for _, f := range c.Model.FrontendsFor(s) {
			if f.TargetTypeIP || (f.Kind != FrontendALB && f.Kind != FrontendNLB) {
				continue
			}
			key := f.Via.Ref.String() + "|" + s.Ref.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			var loc Location
			var fix string
			if f.Kind == FrontendALB {
				loc = f.Via.FieldLoc("metadata", "annotations", AnnALBTargetType)
				fix = objectPatch(f.Via, "metadata:", "  annotations:", "    "+AnnALBTargetType+": ip")
			} else {
				loc = f.Via.FieldLoc("metadata", "annotations")
				fix = objectPatch(f.Via, "metadata:", "  annotations:", "    "+AnnNLBTargetType+": ip")
			}
			out = append(out, finding(r.Meta(), f.Via, loc,
				fmt.Sprintf("%s registers instance targets for Service %s: readiness gates cannot hold rollouts for the load balancer", f.Kind, s.Ref.Name), fix))
		}
	}
	return out
}
