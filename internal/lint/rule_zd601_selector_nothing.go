package lint

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

// selectorMatchesNothing: ZD601.
type selectorMatchesNothing struct{}

func (selectorMatchesNothing) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD601", Severity: SeverityWarning, Title: "Service or TargetBinding selects no pods",
		Why: "A Service whose selector matches no pod template (files) or no pod (live) has no endpoints: the load " +
			"balancer in front of it has no targets. Usually a label typo or a workload renamed without its Service. " +
			"A TargetBinding is checked through its Service.",
		HelpURI: docService,
		Fix:     "spec:\n  selector:\n    app: <the pod template's label>",
	}
}

func (r selectorMatchesNothing) Check(c *Context) []Finding {
	var out []Finding
	m := c.Model
	matches := func(s *Object) bool {
		if m.Live {
			return len(m.PodsFor(s)) > 0 || len(m.WorkloadsFor(s)) > 0
		}
		return len(m.WorkloadsFor(s)) > 0
	}
	where := "no workload in the input"
	if m.Live {
		where = "no pod in the cluster"
	}
	for _, s := range m.Services {
		svc := s.Obj.(*corev1.Service)
		if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName || matches(s) {
			continue
		}
		out = append(out, finding(r.Meta(), s, s.FieldLoc("spec", "selector"),
			fmt.Sprintf("selector %v matches %s", svc.Spec.Selector, where),
			objectPatch(s, "spec:", "  selector:", "    # the labels of the pods this Service should reach")))
	}
	for _, o := range m.TargetBindings {
		tb := o.Obj.(*zdv1alpha1.TargetBinding)
		s := m.Service(o.Ref.Namespace, tb.Spec.ServiceRef.Name)
		switch {
		case s == nil:
			if m.Live || len(m.Services) > 0 {
				out = append(out, finding(r.Meta(), o, o.FieldLoc("spec", "serviceRef", "name"),
					fmt.Sprintf("serviceRef %q names no Service in namespace %s", tb.Spec.ServiceRef.Name, nsOrDefault(o.Ref.Namespace)),
					objectPatch(o, "spec:", "  serviceRef:", "    name: <an existing Service>")))
			}
		case len(s.Obj.(*corev1.Service).Spec.Selector) > 0 && !matches(s):
			out = append(out, finding(r.Meta(), o, o.FieldLoc("spec", "serviceRef"),
				fmt.Sprintf("Service %s selects %s: the binding has no targets", s.Ref.Name, where), ""))
		}
	}
	return out
}
