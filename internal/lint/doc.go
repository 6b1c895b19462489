// Package lint checks Kubernetes manifests and live clusters for the
// configuration mistakes that drop requests during rollouts behind a load
// balancer: missing probes and preStop hooks, grace periods shorter than
// preStop + shutdown + buffer, preStop hooks shorter than the load
// balancer's deregistration time, minReadySeconds shorter than the load
// balancer's time to mark a target healthy, rolling-update settings with a
// capacity gap, disruption budgets that block drains, instance-mode AWS
// target groups and missing readiness-gate labels.
//
// Input is decoded into a Model (objects and the relations between them:
// workload ↔ Service ↔ Ingress / LoadBalancer Service / TargetBinding ↔
// PodDisruptionBudget ↔ HorizontalPodAutoscaler ↔ Namespace). Each rule is
// one file implementing Rule; Rules lists them explicitly. The timing
// arithmetic lives in pure functions (PreStopSeconds, GraceNeeded,
// ResolveRollingUpdate, and the load-balancer timing in loadbalancer.go).
// Report writers render a Result as human text, JSON, SARIF 2.1.0 or JUnit
// XML.
package lint
