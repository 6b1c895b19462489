package lint

import (
	"fmt"
	"sort"
)

// RuleMeta describes a rule for reports and --explain.
type RuleMeta struct {
	ID       string
	Severity Severity
	Title    string
	// Why explains the mistake and what it costs.
	Why string
	// HelpURI links the Kubernetes, AWS or HAProxy documentation page.
	HelpURI string
	// Formula is the arithmetic the rule checks, if any.
	Formula string
	// Fix is a generic example fix; findings carry one with real names.
	Fix string
}

// Rule checks one mistake across a Model.
type Rule interface {
	Meta() RuleMeta
	Check(c *Context) []Finding
}

// Context is what a rule checks: the model and the settings.
type Context struct {
	Model    *Model
	Settings Settings
	// Disabled lists the rule IDs the config switches off, so that a rule
	// folding its finding into another's reports it itself when that one
	// is off.
	Disabled map[string]bool
}

// Rules returns every rule, in ID order. New rules are added here, by hand.
func Rules() []Rule {
	return []Rule{
		readinessProbeMissing{},      // ZD101
		livenessSameAsReadiness{},    // ZD102
		probesIdentical{},            // ZD103
		preStopMissing{},             // ZD201
		graceShorterThanPreStop{},    // ZD202
		graceBelowFormula{},          // ZD203
		preStopBelowDeregistration{}, // ZD204
		minReadyBelowHealthy{},       // ZD301
		rollingUpdateRejected{},      // ZD302
		rollingUpdateCapacityGap{},   // ZD303
		pdbMissing{},                 // ZD401
		pdbBlocksEviction{},          // ZD402
		pdbDeprecatedAPI{},           // ZD403
		hpaBelowPDB{},                // ZD404
		singleReplica{},              // ZD405
		replicasNotSpread{},          // ZD406
		instanceTargetType{},         // ZD501
		gateLabelMissing{},           // ZD502
		podsMissingGate{},            // ZD503
		nlbTimeoutAndInterval{},      // ZD504
		selectorMatchesNothing{},     // ZD601
		duplicateObject{},            // ZD602
		unsupportedWorkload{},        // ZD603
	}
}

// RuleByID returns the rule with id, or an error listing the known IDs.
func RuleByID(id string) (Rule, error) {
	var ids []string
	for _, r := range Rules() {
		if r.Meta().ID == id {
			return r, nil
		}
		ids = append(ids, r.Meta().ID)
	}
	sort.Strings(ids)
	return nil, fmt.Errorf("unknown rule %q (known: %v)", id, ids)
}

// finding builds a finding of rule meta on object o at loc.
func finding(meta RuleMeta, o *Object, loc Location, msg, fix string) Finding {
	return Finding{RuleID: meta.ID, Severity: meta.Severity, Title: meta.Title, Message: msg,
		Object: o.Ref, Location: loc, Fix: fix, HelpURI: meta.HelpURI}
}

// Documentation links used by rules.
const (
	docProbes      = "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/"
	docTermination = "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination"
	docHooks       = "https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/"
	docDereg       = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay"
	docMinReady    = "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#min-ready-seconds"
	docRolling     = "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment"
	docPDB         = "https://kubernetes.io/docs/tasks/run-application/configure-pdb/"
	docPDBv1beta1  = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/#poddisruptionbudget-v125"
	docHPA         = "https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"
	docTargetType  = "https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/#target-type"
	docGate        = "https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/"
	docGateK8s     = "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-readiness-gate"
	docNLBHealth   = "https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/#health-check"
	docService     = "https://kubernetes.io/docs/concepts/services-networking/service/#defining-a-service"
	docSpread      = "https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/"
	docObjectNames = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"
)
