package lint

import "fmt"

// readinessProbeMissing: ZD101.
type readinessProbeMissing struct{}

func (readinessProbeMissing) Meta() RuleMeta {
	return RuleMeta{
		ID: "ZD101", Severity: SeverityError, Title: "readinessProbe missing on a load-balanced container",
		Why: "Without a readinessProbe a container is Ready as soon as it starts, so the Service and the load " +
			"balancer send it requests before the application listens, and a rolling update removes old pods " +
			"before the new ones can serve (seeds 000/001: 'Ensure Pods have Readiness Probes').",
		HelpURI: docProbes,
		Fix:     "containers:\n- name: app\n  readinessProbe:\n    httpGet: {path: /healthz, port: 8080}\n    periodSeconds: 5",
	}
}

func (r readinessProbeMissing) Check(c *Context) []Finding {
	var out []Finding
	for _, w := range c.Model.loadBalanced() {
		for _, name := range c.Model.LoadBalancedContainers(w) {
			ctr := w.Container(name)
			if ctr.ReadinessProbe != nil {
				continue
			}
			port := "8080"
			if len(ctr.Ports) > 0 {
				port = fmt.Sprint(ctr.Ports[0].ContainerPort)
			}
			out = append(out, finding(r.Meta(), w.Object, w.Object.FieldLoc(w.PodSpecPath("containers", "name="+name)...),
				fmt.Sprintf("container %q receives Service traffic but has no readinessProbe: it counts as Ready before the application can serve", name),
				podSpecPatch(w, "containers:", "- name: "+name, "  readinessProbe:", "    httpGet:", "      path: /healthz  # your readiness endpoint",
					"      port: "+port, "    periodSeconds: 5", "    failureThreshold: 2")))
		}
	}
	return out
}
