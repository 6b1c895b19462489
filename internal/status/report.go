// Package status builds the report of `zerodrop status` (and `kubectl
// zerodrop status`) from Kubernetes API objects already read: why pods are
// not Ready (each load-balancer instance's state, since when, the health
// check), why terminating pods' drain waits have not returned (which
// instance still holds sessions, time left to the grace period and the
// drain timeout), pods missing their gate or drain wait, grants refused and
// the load balancers' reachability. It reads only what the controller
// writes into the API (pod conditions, TargetBinding and LoadBalancer
// status), so it works from a laptop that cannot reach a load balancer. It
// does no I/O: Build is pure (objects and a clock in, Report out) and
// Render writes a Report as a table, JSON or YAML.
package status

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// The report's type, versioned on its own: scripts may read -o json.
const (
	// APIVersion is the report's apiVersion.
	APIVersion = "status.zerodrop.dev/v1alpha1"
	// Kind is the report's kind.
	Kind = "StatusReport"
)

// Pod states the report gives.
const (
	// StateGatePending: the pod's readiness gate is not True yet.
	StateGatePending = "GatePending"
	// StateDraining: the pod is terminating and some instance still
	// drains it (its drain wait has not returned).
	StateDraining = "Draining"
	// StateDrained: the pod is terminating and every instance has let go.
	StateDrained = "Drained"
	// StateTerminating: the pod is terminating and the controller has not
	// reported its drain (yet, or the binding does not manage its targets).
	StateTerminating = "Terminating"
)

// Input is what Build reads, already fetched from the API server.
type Input struct {
	// Scope says what was asked for; it is copied into the report.
	Scope Scope
	// Bindings are the TargetBindings in scope.
	Bindings []v1alpha1.TargetBinding
	// Pods are the pods of the bindings' namespaces (or the one pod asked
	// for).
	Pods []corev1.Pod
	// LoadBalancers are the LoadBalancers the bindings refer to that exist.
	LoadBalancers []v1alpha1.LoadBalancer
}

// Scope is what the report covers.
type Scope struct {
	// Namespace is the namespace asked for; empty with AllNamespaces.
	Namespace string `json:"namespace,omitempty"`
	// AllNamespaces is true for -A.
	AllNamespaces bool `json:"allNamespaces,omitempty"`
	// Binding, when set, is the one binding asked for.
	Binding string `json:"binding,omitempty"`
	// Pod, when set, is the one pod asked for.
	Pod string `json:"pod,omitempty"`
}

// Report is the output of `zerodrop status`.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Time is when the report was built: every "since" and "in" is
	// relative to it.
	Time  metav1.Time `json:"time"`
	Scope Scope       `json:"scope"`
	// LoadBalancers are those the bindings in scope use.
	LoadBalancers []LoadBalancerReport `json:"loadBalancers"`
	// Bindings are the TargetBindings in scope.
	Bindings []BindingReport `json:"bindings"`
	// Pods are the pods some binding holds back (gate not True) or drains
	// (terminating); pods in service are not listed. With a pod scope, the
	// pod asked for, with every binding that holds or drains it.
	Pods []PodReport `json:"pods"`
}

// Condition is one condition as the report shows it.
type Condition struct {
	Status  string      `json:"status"`
	Reason  string      `json:"reason,omitempty"`
	Message string      `json:"message,omitempty"`
	Since   metav1.Time `json:"since"`
}

// LoadBalancerReport is one LoadBalancer's reachability.
type LoadBalancerReport struct {
	Name string `json:"name"`
	// Found is false when a binding refers to a LoadBalancer that does not
	// exist.
	Found    bool       `json:"found"`
	Provider string     `json:"provider,omitempty"`
	Ready    *Condition `json:"ready,omitempty"`
	// Instances are each instance as the controller last reached it.
	Instances []InstanceReachability `json:"instances,omitempty"`
}

// InstanceReachability is one instance of a LoadBalancer.
type InstanceReachability struct {
	Name      string `json:"name"`
	Reachable bool   `json:"reachable"`
	// Message is the last failure.
	Message     string       `json:"message,omitempty"`
	LastRestart *metav1.Time `json:"lastRestart,omitempty"`
}

// BindingReport is one TargetBinding.
type BindingReport struct {
	Namespace    string                `json:"namespace"`
	Name         string                `json:"name"`
	LoadBalancer string                `json:"loadBalancer"`
	Backend      string                `json:"backend"`
	Targets      v1alpha1.TargetCounts `json:"targets"`
	// Check is the health check targets are registered with.
	Check HealthCheck `json:"check"`
	// DrainTimeout bounds a drain (spec.drain.timeout, or its default).
	DrainTimeout metav1.Duration `json:"drainTimeout"`
	// Ready, Synced and Accepted are the binding's conditions; Accepted
	// False is a grant refused (docs/grants.md).
	Ready    *Condition `json:"ready,omitempty"`
	Synced   *Condition `json:"synced,omitempty"`
	Accepted *Condition `json:"accepted,omitempty"`
	// PodsMissingGate and PodsWithoutDrainWait list (at most
	// v1alpha1.MaxListedPods of) the pods the controller reports; the
	// counts are exact.
	PodsMissingGate           []string `json:"podsMissingGate,omitempty"`
	PodsMissingGateCount      int32    `json:"podsMissingGateCount"`
	PodsWithoutDrainWait      []string `json:"podsWithoutDrainWait,omitempty"`
	PodsWithoutDrainWaitCount int32    `json:"podsWithoutDrainWaitCount"`
}

// HealthCheck is a binding's health-check settings.
type HealthCheck struct {
	Interval           metav1.Duration `json:"interval"`
	HealthyThreshold   int32           `json:"healthyThreshold"`
	UnhealthyThreshold int32           `json:"unhealthyThreshold"`
}

// String says the check in words: "every 2s, healthy after 2 passes,
// unhealthy after 2 failures".
func (h HealthCheck) String() string {
	return "every " + h.Interval.Duration.String() + ", healthy after " + itoa(h.HealthyThreshold) +
		" passes, unhealthy after " + itoa(h.UnhealthyThreshold) + " failures"
}

// PodReport is one pod held back or drained by one binding.
type PodReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Binding   string `json:"binding"`
	// State is one of the State* constants.
	State string `json:"state"`
	// Reason and Message are those of the binding's gate or drain
	// condition on the pod.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Since is when the gate condition last changed (the pod has waited
	// since), or when the drain started (or ended, once Drained).
	Since *metav1.Time `json:"since,omitempty"`
	// Instances are each instance's state, read from Message; empty when
	// the controller has not written one.
	Instances []InstanceState `json:"instances,omitempty"`
	// Check is the binding's health check (for a pending gate).
	Check *HealthCheck `json:"check,omitempty"`
	// GraceEndsIn is how long until the pod's grace period ends (its
	// deletionTimestamp, which the API server set to deletion + grace):
	// the kubelet kills it then, drained or not. Negative once past.
	GraceEndsIn *metav1.Duration `json:"graceEndsIn,omitempty"`
	// DrainTimeoutIn is how long until the binding's drain timeout,
	// counted from the drain's start, ends the drain with sessions open.
	// Negative once past.
	DrainTimeoutIn *metav1.Duration `json:"drainTimeoutIn,omitempty"`
}

// InstanceState is what one instance reports about a pod's target.
type InstanceState struct {
	Instance string `json:"instance"`
	State    string `json:"state"`
}

// Build makes the report of in at now.
func Build(in Input, now time.Time) Report {
	r := Report{APIVersion: APIVersion, Kind: Kind, Time: metav1.NewTime(now), Scope: in.Scope,
		LoadBalancers: []LoadBalancerReport{}, Bindings: []BindingReport{}, Pods: []PodReport{}}
	bindings := slices.Clone(in.Bindings)
	if in.Scope.Pod != "" {
		bindings = slices.DeleteFunc(bindings, func(b v1alpha1.TargetBinding) bool {
			return !slices.ContainsFunc(in.Pods, func(p corev1.Pod) bool { return concerns(&b, &p) })
		})
	}
	slices.SortFunc(bindings, func(a, b v1alpha1.TargetBinding) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	lbs := map[string]*v1alpha1.LoadBalancer{}
	for i := range in.LoadBalancers {
		lbs[in.LoadBalancers[i].Name] = &in.LoadBalancers[i]
	}
	used := map[string]bool{}
	for i := range bindings {
		b := &bindings[i]
		r.Bindings = append(r.Bindings, bindingReport(b))
		used[b.Spec.LoadBalancerRef] = true
		for j := range in.Pods {
			if p := &in.Pods[j]; p.Namespace == b.Namespace {
				if pr, ok := podReport(p, b, now); ok {
					r.Pods = append(r.Pods, pr)
				}
			}
		}
	}
	for _, name := range sortedKeys(used) {
		r.LoadBalancers = append(r.LoadBalancers, loadBalancerReport(name, lbs[name]))
	}
	slices.SortStableFunc(r.Pods, func(a, b PodReport) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name), strings.Compare(a.Binding, b.Binding))
	})
	return r
}

// concerns reports whether binding b gates, drains or reports pod p.
func concerns(b *v1alpha1.TargetBinding, p *corev1.Pod) bool {
	if p.Namespace != b.Namespace {
		return false
	}
	gate := v1alpha1.GateConditionType(b.Name)
	if slices.ContainsFunc(p.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return string(g.ConditionType) == gate }) ||
		podCondition(p, v1alpha1.DrainConditionType(b.Name)) != nil {
		return true
	}
	named := func(r v1alpha1.PodReference) bool { return r.Name == p.Name }
	return slices.ContainsFunc(b.Status.PodsMissingGate, named) || slices.ContainsFunc(b.Status.PodsWithoutDrainWait, named)
}

func bindingReport(b *v1alpha1.TargetBinding) BindingReport {
	br := BindingReport{
		Namespace: b.Namespace, Name: b.Name, LoadBalancer: b.Spec.LoadBalancerRef, Backend: b.Spec.Backend,
		Targets:      b.Status.Targets,
		Check:        checkOf(b),
		DrainTimeout: metav1.Duration{Duration: b.DrainTimeout()},
		Ready:        condition(b.Status.Conditions, v1alpha1.ConditionReady),
		Synced:       condition(b.Status.Conditions, v1alpha1.ConditionSynced),
		Accepted:     condition(b.Status.Conditions, v1alpha1.ConditionAccepted),

		PodsMissingGateCount:      b.Status.PodsMissingGateCount,
		PodsWithoutDrainWaitCount: b.Status.PodsWithoutDrainWaitCount,
	}
	for _, p := range b.Status.PodsMissingGate {
		br.PodsMissingGate = append(br.PodsMissingGate, p.Name)
	}
	for _, p := range b.Status.PodsWithoutDrainWait {
		br.PodsWithoutDrainWait = append(br.PodsWithoutDrainWait, p.Name)
	}
	return br
}

func checkOf(b *v1alpha1.TargetBinding) HealthCheck {
	return HealthCheck{Interval: metav1.Duration{Duration: b.CheckInterval()},
		HealthyThreshold: b.HealthyThreshold(), UnhealthyThreshold: b.UnhealthyThreshold()}
}

// podReport says why binding b holds pod p back or what its drain waits
// for; ok is false when b neither holds nor drains it.
func podReport(p *corev1.Pod, b *v1alpha1.TargetBinding, now time.Time) (PodReport, bool) {
	pr := PodReport{Namespace: p.Namespace, Name: p.Name, Binding: b.Name}
	gateType := v1alpha1.GateConditionType(b.Name)
	gate := podCondition(p, v1alpha1.GateConditionType(b.Name))
	drain := podCondition(p, v1alpha1.DrainConditionType(b.Name))
	hasGate := slices.ContainsFunc(p.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return string(g.ConditionType) == gateType })
	switch {
	case p.DeletionTimestamp != nil:
		if !hasGate && drain == nil {
			return pr, false
		}
		pr.State = StateTerminating
		pr.GraceEndsIn = &metav1.Duration{Duration: p.DeletionTimestamp.Sub(now)}
		if drain == nil {
			pr.Message = "the controller has not reported this pod's drain (yet)"
			return pr, true
		}
		pr.State, pr.Reason, pr.Message = StateDraining, drain.Reason, drain.Message
		since := drain.LastTransitionTime
		pr.Since = &since
		pr.Instances = ParseInstanceStates(drain.Message)
		if drain.Status == corev1.ConditionTrue {
			pr.State = StateDrained
		} else if b.DrainWaitEnabled() {
			pr.DrainTimeoutIn = &metav1.Duration{Duration: since.Add(b.DrainTimeout()).Sub(now)}
		}
		return pr, true
	case hasGate && b.GateEnabled() && (gate == nil || gate.Status != corev1.ConditionTrue):
		pr.State = StateGatePending
		check := checkOf(b)
		pr.Check = &check
		if gate == nil {
			pr.Message = "the controller has not written the gate condition yet"
			since := p.CreationTimestamp
			pr.Since = &since
			return pr, true
		}
		since := gate.LastTransitionTime
		pr.Since, pr.Reason, pr.Message = &since, gate.Reason, gate.Message
		pr.Instances = ParseInstanceStates(gate.Message)
		return pr, true
	}
	return pr, false
}

func loadBalancerReport(name string, lb *v1alpha1.LoadBalancer) LoadBalancerReport {
	if lb == nil {
		return LoadBalancerReport{Name: name}
	}
	lr := LoadBalancerReport{Name: name, Found: true, Provider: string(lb.Status.Provider),
		Ready: condition(lb.Status.Conditions, v1alpha1.ConditionReady)}
	for _, is := range lb.Status.Instances {
		lr.Instances = append(lr.Instances, InstanceReachability{Name: is.Name, Reachable: is.Reachable, Message: is.Message, LastRestart: is.LastRestart})
	}
	return lr
}

func condition(conds []metav1.Condition, t string) *Condition {
	c := meta.FindStatusCondition(conds, t)
	if c == nil {
		return nil
	}
	return &Condition{Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime}
}

func podCondition(p *corev1.Pod, t string) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if string(p.Status.Conditions[i].Type) == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// pendingPrefixEnd ends the prefix of controller.PendingMessage before the
// instances' states.
const pendingPrefixEnd = "not healthy on every instance: "

// ParseInstanceStates reads the instances' states from the message of a
// gate condition ("target 10.0.0.1:8080 not healthy on every instance: i0:
// Healthy; i1: Initial (health checks have not passed yet)") or a drain
// condition ("i0: Draining, 3 sessions; i1: Removed"), both written by the
// controller. It returns nil for a message of another shape.
func ParseInstanceStates(msg string) []InstanceState {
	if _, rest, ok := strings.Cut(msg, pendingPrefixEnd); ok {
		msg = rest
	}
	if msg == "" {
		return nil
	}
	var out []InstanceState
	for _, part := range strings.Split(msg, "; ") {
		name, state, ok := strings.Cut(part, ": ")
		if !ok || name == "" || strings.ContainsAny(name, " ,()") {
			return nil
		}
		out = append(out, InstanceState{Instance: name, State: state})
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
