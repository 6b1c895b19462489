package v1alpha1

import (
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provider names a kind of load balancer zerodrop can drive: the member of
// LoadBalancerSpec's provider union that is set.
type Provider string

// Providers.
const (
	// ProviderHAProxy drives HAProxy 2.6+ through its Runtime API.
	ProviderHAProxy Provider = "HAProxy"
	// ProviderELBv2 drives AWS Elastic Load Balancing v2 target groups (ALB
	// and NLB, IP targets) through the AWS API.
	ProviderELBv2 Provider = "ELBv2"
)

// LoadBalancerSpec says which load balancer this is and how to reach it:
// exactly one provider member (haproxy or elbv2) is set, in the style of
// cert-manager's Issuer.
// +kubebuilder:validation:XValidation:rule="(has(self.haproxy) ? 1 : 0) + (has(self.elbv2) ? 1 : 0) == 1",message="set exactly one provider: spec.haproxy or spec.elbv2"
type LoadBalancerSpec struct {
	// HAProxy is an HAProxy load balancer of one or more instances, driven
	// through their Runtime API.
	// +optional
	HAProxy *HAProxyLoadBalancer `json:"haproxy,omitempty"`

	// ELBv2 is AWS Elastic Load Balancing v2 (ALB and NLB target groups of
	// target type ip) in one account and region.
	// +optional
	ELBv2 *ELBv2LoadBalancer `json:"elbv2,omitempty"`

	// AllowedBindings says which TargetBindings may use this load balancer:
	// a binding is accepted when at least one grant admits both its
	// namespace and its backend. Empty or omitted, no binding may use it
	// (the secure default: the platform team lists who may). See
	// docs/grants.md.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	AllowedBindings []BindingGrant `json:"allowedBindings,omitempty"`
}

// ProviderName returns the provider whose member is set ("" when none is,
// which the API server's validation refuses).
func (s LoadBalancerSpec) ProviderName() Provider {
	switch {
	case s.HAProxy != nil:
		return ProviderHAProxy
	case s.ELBv2 != nil:
		return ProviderELBv2
	}
	return ""
}

// InstanceNames lists the names of the load balancer's instances: those of
// spec.haproxy.instances; for ELBv2, one instance named after the region
// (AWS aggregates the health its load-balancer nodes see into one state per
// target).
func (s LoadBalancerSpec) InstanceNames() []string {
	switch {
	case s.HAProxy != nil:
		names := make([]string, len(s.HAProxy.Instances))
		for i, inst := range s.HAProxy.Instances {
			names[i] = inst.Name
		}
		return names
	case s.ELBv2 != nil:
		return []string{s.ELBv2.Region}
	}
	return nil
}

// HAProxyLoadBalancer is one or more HAProxy instances that share their
// backends' configuration.
// +kubebuilder:validation:XValidation:rule="self.instances.all(i, self.instances.exists_one(j, j.name == i.name))",message="instance names must be unique"
type HAProxyLoadBalancer struct {
	// Instances are the load balancer's instances. zerodrop registers every
	// target on each of them, and a pod is in service only when every
	// instance reports it healthy.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Instances []HAProxyInstance `json:"instances"`

	// RemoveDelay is how long a removed target stays in maintenance, with
	// no session, before it is deleted: Debian's HAProxy 2.6 can crash when
	// "del server" frees a server a client keep-alive stream still refers
	// to, so the delay must be longer than the frontends' "timeout
	// http-keep-alive". Default 5s; 0s deletes at once.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="removeDelay must be between 0s and 10m"
	// +optional
	RemoveDelay *metav1.Duration `json:"removeDelay,omitempty"`
}

// HAProxyInstance is one HAProxy process and how to reach its Runtime API.
// +kubebuilder:validation:XValidation:rule="has(self.socket) != has(self.address)",message="set exactly one of socket and address"
type HAProxyInstance struct {
	// Name identifies the instance in statuses, events and metrics.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Socket is the path of the instance's HAProxy Runtime API unix socket.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Socket string `json:"socket,omitempty"`

	// Address is the host:port of the instance's HAProxy Runtime API on TCP.
	// +kubebuilder:validation:MaxLength=261
	// +optional
	Address string `json:"address,omitempty"`
}

// RuntimeAPIOverTCP reports whether the instance's Runtime API is reached
// over TCP (it then has admin level and no authentication).
func (i HAProxyInstance) RuntimeAPIOverTCP() bool { return i.Address != "" }

// ELBv2LoadBalancer is AWS Elastic Load Balancing v2 in one account and
// region. Credentials come from the AWS SDK's default chain (environment,
// IRSA web identity, EKS Pod Identity, shared profile); see
// docs/providers/elbv2.md for the IAM policy.
type ELBv2LoadBalancer struct {
	// Region of the target groups ("eu-west-1"). Bindings name target groups
	// of this region, by ARN or by name.
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-[a-z]+)+-[0-9]+$`
	// +kubebuilder:validation:MaxLength=32
	Region string `json:"region"`

	// Endpoint overrides the ELBv2 API endpoint (a VPC endpoint, or a test
	// emulator). Omitted, the SDK's default applies, which honours
	// AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// PollInterval is how often target groups with targets on the move
	// (registering, draining) are described. Settled target groups cost no
	// call until their slow resync. Default 2s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms') && duration(self) <= duration('1m')",message="pollInterval must be between 100ms and 1m"
	// +optional
	PollInterval *metav1.Duration `json:"pollInterval,omitempty"`

	// API bounds zerodrop's share of the account and region's ELB API
	// budget (AWS: 10/s describe, 4/s register, shared with every other
	// tool).
	// +kubebuilder:default={}
	// +optional
	API ELBv2APIBudget `json:"api,omitempty"`
}

// ELBv2APIBudget is a client-side token bucket per kind of call.
type ELBv2APIBudget struct {
	// DescribePerSecond is the steady rate of Describe* calls. Default 5:
	// half of AWS's budget, leaving the rest to other tools.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=5
	// +optional
	DescribePerSecond int32 `json:"describePerSecond,omitempty"`
	// DescribeBurst is how many Describe* calls may go at once. Default 10.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	// +kubebuilder:default=10
	// +optional
	DescribeBurst int32 `json:"describeBurst,omitempty"`
	// RegisterPerSecond is the steady rate of Register/DeregisterTargets
	// calls. Default 2: half of AWS's budget.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=2
	// +optional
	RegisterPerSecond int32 `json:"registerPerSecond,omitempty"`
	// RegisterBurst is how many Register/DeregisterTargets calls may go at
	// once. Default 10.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	// +kubebuilder:default=10
	// +optional
	RegisterBurst int32 `json:"registerBurst,omitempty"`
}

// BindingGrant lets the TargetBindings of some namespaces register targets
// in some of the load balancer's backends, in the style of Gateway API's
// allowedRoutes.
type BindingGrant struct {
	// Namespaces whose TargetBindings the grant admits.
	Namespaces NamespaceGrant `json:"namespaces"`

	// Backends the grant admits: exact backend names (ELBv2: target-group
	// names or ARNs, as bindings name them), or prefixes ending in "*"
	// ("shop-*"; "*" alone is every backend). Omitted, every backend.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_.:/-]*[*]?$`
	// +listType=set
	// +optional
	Backends []string `json:"backends,omitempty"`
}

// NamespacesFrom says how a grant picks namespaces.
// +kubebuilder:validation:Enum=All;Selector;Names
type NamespacesFrom string

// Ways a grant picks namespaces.
const (
	// NamespacesFromAll admits every namespace.
	NamespacesFromAll NamespacesFrom = "All"
	// NamespacesFromSelector admits the namespaces whose labels match the
	// grant's selector.
	NamespacesFromSelector NamespacesFrom = "Selector"
	// NamespacesFromNames admits the namespaces the grant lists by name.
	NamespacesFromNames NamespacesFrom = "Names"
)

// NamespaceGrant picks namespaces: all of them, those matching a label
// selector, or those listed by name.
// +kubebuilder:validation:XValidation:rule="(self.from == 'Selector') == has(self.selector)",message="set namespaces.selector exactly when namespaces.from is Selector"
// +kubebuilder:validation:XValidation:rule="(self.from == 'Names') == has(self.names)",message="set namespaces.names exactly when namespaces.from is Names"
type NamespaceGrant struct {
	// From is how namespaces are picked: All, Selector or Names.
	From NamespacesFrom `json:"from"`

	// Selector picks namespaces by their labels (from: Selector). Every
	// namespace carries kubernetes.io/metadata.name, its own name.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Names lists namespaces by name (from: Names).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	// +optional
	Names []string `json:"names,omitempty"`
}

// InstanceStatus is what zerodrop last saw of one instance.
type InstanceStatus struct {
	// Name of the instance.
	Name string `json:"name"`
	// Reachable says whether the last call to the instance succeeded.
	Reachable bool `json:"reachable"`
	// Message explains the last failure, if any.
	// +optional
	Message string `json:"message,omitempty"`
	// LastRestart is when zerodrop last saw the instance reload or restart.
	// +optional
	LastRestart *metav1.Time `json:"lastRestart,omitempty"`
}

// LoadBalancerStatus reports what zerodrop sees of the load balancer.
type LoadBalancerStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Provider is the provider of spec's union that is set.
	// +optional
	Provider Provider `json:"provider,omitempty"`
	// Instances reports each instance.
	// +listType=map
	// +listMapKey=name
	// +optional
	Instances []InstanceStatus `json:"instances,omitempty"`
	// ReachableInstances counts instances whose last call succeeded.
	// +optional
	ReachableInstances int32 `json:"reachableInstances"`
	// Conditions: Ready (every instance reachable).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LoadBalancer is a load balancer in front of the cluster's pods, owned by
// the platform team. TargetBindings refer to it by name.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=zlb
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.status.provider`
// +kubebuilder:printcolumn:name="Instances",type=integer,JSONPath=`.status.reachableInstances`,description="Reachable instances"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LoadBalancer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LoadBalancerSpec   `json:"spec"`
	Status LoadBalancerStatus `json:"status,omitempty"`
}

// LoadBalancerList is a list of LoadBalancers.
// +kubebuilder:object:root=true
type LoadBalancerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancer `json:"items"`
}

// ValidateBackend checks a TargetBinding's spec.backend against the
// provider: an HAProxy backend name (letters, digits, "_.:-"), or an ELBv2
// target group of the spec's region, by ARN or by name. The error names the
// field and says what is expected.
func (s LoadBalancerSpec) ValidateBackend(backend string) error {
	switch {
	case s.HAProxy != nil:
		if !haproxyBackendName.MatchString(backend) {
			return fmt.Errorf("spec.backend %q is not an HAProxy backend name: use the name of a backend section (letters, digits and _.:-)", backend)
		}
	case s.ELBv2 != nil:
		return validateTargetGroup(s.ELBv2.Region, backend)
	}
	return nil
}

var haproxyBackendName = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// targetGroupARNPattern matches a target group's ARN:
// arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>.
var targetGroupARNPattern = regexp.MustCompile(`^arn:(aws[-a-z]*):elasticloadbalancing:([a-z0-9-]+):([0-9]{12}):targetgroup/([A-Za-z0-9-]{1,32})/([0-9a-f]{16})$`)

// targetGroupNamePattern matches a target group's name: 1 to 32 letters,
// digits and hyphens, not starting or ending with a hyphen.
var targetGroupNamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$`)

// TargetGroupARN is a parsed ELBv2 target group ARN.
// +kubebuilder:object:generate=false
type TargetGroupARN struct {
	Partition, Region, Account, Name, ID string
}

// String returns the ARN.
func (a TargetGroupARN) String() string {
	return "arn:" + a.Partition + ":elasticloadbalancing:" + a.Region + ":" + a.Account + ":targetgroup/" + a.Name + "/" + a.ID
}

// ParseTargetGroupARN parses a target group ARN; ok is false when s is not
// one.
func ParseTargetGroupARN(s string) (TargetGroupARN, bool) {
	m := targetGroupARNPattern.FindStringSubmatch(s)
	if m == nil {
		return TargetGroupARN{}, false
	}
	return TargetGroupARN{Partition: m[1], Region: m[2], Account: m[3], Name: m[4], ID: m[5]}, true
}

// validateTargetGroup checks an ELBv2 binding's backend: a target group ARN
// of region, or a target group name.
func validateTargetGroup(region, backend string) error {
	if strings.HasPrefix(backend, "arn:") {
		a, ok := ParseTargetGroupARN(backend)
		if !ok {
			return fmt.Errorf("spec.backend %q is not a target group ARN (arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>)", backend)
		}
		if a.Region != region {
			return fmt.Errorf("spec.backend %q is a target group of region %s, but the load balancer is in region %s (spec.elbv2.region)", backend, a.Region, region)
		}
		return nil
	}
	if !targetGroupNamePattern.MatchString(backend) {
		return fmt.Errorf("spec.backend %q is neither a target group ARN nor a target group name (1 to 32 letters, digits and hyphens, not starting or ending with a hyphen)", backend)
	}
	if strings.HasPrefix(strings.ToLower(backend), "internal-") {
		return fmt.Errorf("spec.backend %q: target group names cannot start with \"internal-\"", backend)
	}
	return nil
}
