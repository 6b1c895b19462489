package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TargetBindingSpec binds the pods behind one Service port to one backend on
// a LoadBalancer.
// +kubebuilder:validation:XValidation:rule="self.loadBalancerRef == oldSelf.loadBalancerRef && self.backend == oldSelf.backend",message="loadBalancerRef and backend are immutable: create a new TargetBinding instead"
type TargetBindingSpec struct {
	// ServiceRef names the Service (in the binding's namespace) whose pods
	// are the targets, and the port they receive traffic on.
	ServiceRef ServiceReference `json:"serviceRef"`

	// LoadBalancerRef names the cluster-scoped LoadBalancer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	LoadBalancerRef string `json:"loadBalancerRef"`

	// Backend names the group of targets in the provider's terms: HAProxy,
	// the name of a `backend` section present on every instance; ELBv2, a
	// target group of the LoadBalancer's region, by ARN
	// ("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/0123456789abcdef")
	// or by name ("shop"). The controller checks it against the provider
	// and reports a misfit as Accepted=False/InvalidBackend.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.:/-]+$`
	Backend string `json:"backend"`

	// Mode says who registers the targets. Manage (default): zerodrop
	// registers the pods early, gates them on the load balancer's health
	// and drains them on the way out. Observe: someone else registers and
	// deregisters them (the AWS Load Balancer Controller's
	// TargetGroupBinding, Terraform); zerodrop never changes the load
	// balancer, and only gates readiness on the target's health and holds
	// SIGTERM until the load balancer has drained it. Observe needs a
	// provider that can report targets it did not register (ELBv2).
	// +kubebuilder:validation:Enum=Manage;Observe
	// +kubebuilder:default=Manage
	// +optional
	Mode BindingMode `json:"mode,omitempty"`

	// HealthCheck are the check settings targets are registered with.
	// +kubebuilder:default={}
	// +optional
	HealthCheck HealthCheck `json:"healthCheck,omitempty"`

	// Drain says how targets leave service.
	// +kubebuilder:default={}
	// +optional
	Drain Drain `json:"drain,omitempty"`

	// ReadinessGate turns the readiness gate on (default) or off. Off, pods
	// are registered only once Ready and no gate holds them back: a plain
	// endpoint sync.
	// +kubebuilder:default=true
	// +optional
	ReadinessGate *bool `json:"readinessGate,omitempty"`
}

// BindingMode says who registers a binding's targets.
type BindingMode string

// Binding modes.
const (
	// ModeManage: zerodrop registers, drains and removes the targets.
	ModeManage BindingMode = "Manage"
	// ModeObserve: someone else registers and deregisters the targets;
	// zerodrop only gates readiness and holds termination on their state.
	ModeObserve BindingMode = "Observe"
)

// ServiceReference names a Service and one of its ports.
type ServiceReference struct {
	// Name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Port is the Service port, by number or name; the targets are the
	// pods' matching target ports.
	Port intstr.IntOrString `json:"port"`
}

// HealthCheck are the settings targets are registered with. What is checked
// (method, path, expected status) is the backend's own configuration.
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || !has(self.interval) || duration(self.timeout) < duration(self.interval)",message="healthCheck.timeout must be less than healthCheck.interval"
// +kubebuilder:validation:XValidation:rule="!has(self.interval) || (duration(self.interval) >= duration('100ms') && duration(self.interval) <= duration('5m'))",message="healthCheck.interval must be between 100ms and 5m"
type HealthCheck struct {
	// Interval between two checks of one target, as a duration ("2s",
	// "500ms"; at least 100ms).
	// +kubebuilder:default="2s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Timeout for one check; must be less than the interval.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// HealthyThreshold is how many passing checks make a target healthy.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +kubebuilder:default=2
	// +optional
	HealthyThreshold int32 `json:"healthyThreshold,omitempty"`
	// UnhealthyThreshold is how many failing checks make it unhealthy.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +kubebuilder:default=2
	// +optional
	UnhealthyThreshold int32 `json:"unhealthyThreshold,omitempty"`
	// Port, when set, is checked instead of the target port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// Drain says how a target leaves service.
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || (duration(self.timeout) >= duration('0s') && duration(self.timeout) <= duration('1h'))",message="drain.timeout must be between 0s and 1h"
type Drain struct {
	// Timeout bounds how long a draining target may keep sessions open
	// before it is removed anyway (like AWS's deregistration delay, but
	// ended early as soon as the sessions reach zero).
	// +kubebuilder:default="30s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Wait turns drain-waiting on (default) or off. Off, a leaving target is
	// removed at once, in-flight requests and all: a plain endpoint sync.
	// +kubebuilder:default=true
	// +optional
	Wait *bool `json:"wait,omitempty"`
}

// TargetCounts counts targets by their state on the load balancer. A target
// counts as Healthy only when every instance reports it healthy.
type TargetCounts struct {
	// Desired targets: pods selected by the Service with an IP, not leaving.
	// +optional
	Desired int32 `json:"desired"`
	// Healthy on every instance.
	// +optional
	Healthy int32 `json:"healthy"`
	// Initial: registered, not yet healthy on every instance.
	// +optional
	Initial int32 `json:"initial"`
	// Unhealthy on at least one instance after having been healthy.
	// +optional
	Unhealthy int32 `json:"unhealthy"`
	// Draining on at least one instance.
	// +optional
	Draining int32 `json:"draining"`
}

// PodReference names a pod in the binding's namespace.
type PodReference struct {
	// Name of the pod.
	Name string `json:"name"`
}

// MaxListedPods bounds the pod lists of a binding's status, so a status
// stays small whatever the workload's size; the counts beside them are
// exact.
const MaxListedPods = 20

// TargetBindingStatus reports what zerodrop sees of the binding.
type TargetBindingStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Targets counts targets by state.
	// +optional
	Targets TargetCounts `json:"targets"`
	// PodsMissingGate lists pods the binding selects that do not carry its
	// readiness gate (created before the binding or while the webhook was
	// down), the first MaxListedPods by name; PodsMissingGateCount counts
	// them all. zerodrop never restarts them: roll the workload to fix it.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +optional
	PodsMissingGate []PodReference `json:"podsMissingGate,omitempty"`
	// PodsWithoutDrainWait lists selected pods that have no injected drain
	// wait although the binding waits for drains and the controller injects
	// it: created while the webhook was down or in a namespace without
	// injection, or whose container serving the bound port has a non-exec
	// preStop handler (httpGet, sleep, tcpSocket) the webhook left alone.
	// SIGTERM may reach them while a load balancer still sends requests;
	// roll the workload to fix it. The first MaxListedPods by name;
	// PodsWithoutDrainWaitCount counts them all.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +optional
	PodsWithoutDrainWait []PodReference `json:"podsWithoutDrainWait,omitempty"`
	// PodsMissingGateCount counts the pods missing the gate (all of them,
	// PodsMissingGate lists at most MaxListedPods).
	// +optional
	PodsMissingGateCount int32 `json:"podsMissingGateCount,omitempty"`
	// PodsWithoutDrainWaitCount counts the pods without the drain wait.
	// +optional
	PodsWithoutDrainWaitCount int32 `json:"podsWithoutDrainWaitCount,omitempty"`
	// Conditions: Ready, Synced, GateInjected. See the Condition* constants.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TargetBinding binds the pods behind a Service port to a backend on a
// LoadBalancer, owned by the app team.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tb
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.serviceRef.name`
// +kubebuilder:printcolumn:name="LoadBalancer",type=string,JSONPath=`.spec.loadBalancerRef`
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.backend`
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.targets.desired`
// +kubebuilder:printcolumn:name="Healthy",type=integer,JSONPath=`.status.targets.healthy`
// +kubebuilder:printcolumn:name="Draining",type=integer,JSONPath=`.status.targets.draining`
// +kubebuilder:printcolumn:name="No-Gate",type=integer,JSONPath=`.status.podsMissingGateCount`,description="Pods missing the readiness gate"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TargetBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TargetBindingSpec   `json:"spec"`
	Status TargetBindingStatus `json:"status,omitempty"`
}

// TargetBindingList is a list of TargetBindings.
// +kubebuilder:object:root=true
type TargetBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TargetBinding `json:"items"`
}

// GateEnabled reports whether the binding holds pods back with its gate.
func (b *TargetBinding) GateEnabled() bool {
	return b.Spec.ReadinessGate == nil || *b.Spec.ReadinessGate
}

// Observes reports whether the binding only observes targets someone else
// registers (spec.mode Observe).
func (b *TargetBinding) Observes() bool { return b.Spec.Mode == ModeObserve }

// DrainWaitEnabled reports whether leaving targets are drained before removal.
func (b *TargetBinding) DrainWaitEnabled() bool {
	return b.Spec.Drain.Wait == nil || *b.Spec.Drain.Wait
}

// Defaults the API server applies; the accessors below fall back to them for
// objects that did not go through the API server (unit tests, files).
const (
	DefaultCheckInterval      = 2 * time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 2
	DefaultDrainTimeout       = 30 * time.Second
)

// CheckInterval returns the health-check interval.
func (b *TargetBinding) CheckInterval() time.Duration {
	if i := b.Spec.HealthCheck.Interval; i != nil {
		return i.Duration
	}
	return DefaultCheckInterval
}

// HealthyThreshold returns how many passing checks make a target healthy.
func (b *TargetBinding) HealthyThreshold() int32 {
	if n := b.Spec.HealthCheck.HealthyThreshold; n > 0 {
		return n
	}
	return DefaultHealthyThreshold
}

// UnhealthyThreshold returns how many failing checks make a target unhealthy.
func (b *TargetBinding) UnhealthyThreshold() int32 {
	if n := b.Spec.HealthCheck.UnhealthyThreshold; n > 0 {
		return n
	}
	return DefaultUnhealthyThreshold
}

// DrainTimeout returns how long a draining target may keep sessions open.
func (b *TargetBinding) DrainTimeout() time.Duration {
	if d := b.Spec.Drain.Timeout; d != nil {
		return d.Duration
	}
	return DefaultDrainTimeout
}
