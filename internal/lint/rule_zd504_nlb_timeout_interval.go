package lint

import corev1 "k8s.io/api/core/v1"

// nlbTimeoutAndInterval: ZD504.
type nlbTimeoutAndInterval struct{}

func (nlbTimeoutAndInterval) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD504", Severity: SeverityError, Title: "NLB health-check timeout and interval both set",
		Why: "Seed 001 observed the ELB API answer 400 when a Service sets both " + AnnNLBHealthTimeout + " and " +
			AnnNLBHealthInterval + " for an NLB: the load balancer is not updated. Setting only the interval sets both. " +
			"zerodrop's ELBv2 provider never changes a target group's health-check settings; it reads the states they produce.",
		HelpURI: docNLBHealth,
		Fix:     "remove " + AnnNLBHealthTimeout,
	}
}

func (r nlbTimeoutAndInterval) Check(c *Context) []Finding {
	var out []Finding
	for _, s := range c.Model.Services {
		svc := s.Obj.(*corev1.Service)
		_, t := svc.Annotations[AnnNLBHealthTimeout]
		_, i := svc.Annotations[AnnNLBHealthInterval]
		if !t || !i {
			continue
		}
		out = append(out, finding(r.Meta(), s, s.FieldLoc("metadata", "annotations", AnnNLBHealthTimeout),
			"Service sets both "+AnnNLBHealthTimeout+" and "+AnnNLBHealthInterval+": the ELB API rejects the pair with 400 (seed 001)",
			objectPatch(s, "metadata:", "  annotations:", "    "+AnnNLBHealthTimeout+": null  # keep only the interval")))
	}
	return out
}
