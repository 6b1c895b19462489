package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provider names a kind of load balancer zerodrop can drive.
// +kubebuilder:validation:Enum=HAProxy
type Provider string

// Providers.
const (
	// ProviderHAProxy drives HAProxy 2.6+ through its Runtime API.
	ProviderHAProxy Provider = "HAProxy"
)

// LoadBalancerSpec says which load balancer this is and how to reach each
// of its instances.
// +kubebuilder:validation:XValidation:rule="self.instances.all(i, self.instances.exists_one(j, j.name == i.name))",message="instance names must be unique"
type LoadBalancerSpec struct {
	// Provider is the kind of load balancer.
	Provider Provider `json:"provider"`

	// Instances are the load balancer's instances. zerodrop registers every
	// target on each of them, and a pod is in service only when every
	// instance reports it healthy.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Instances []Instance `json:"instances"`

	// RemoveDelay (HAProxy) is how long a removed target stays in
	// maintenance, with no session, before it is deleted: Debian's HAProxy
	// 2.6 can crash when "del server" frees a server a client keep-alive
	// stream still refers to, so the delay must be longer than the
	// frontends' "timeout http-keep-alive". Default 5s; 0s deletes at
	// once.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="removeDelay must be between 0s and 10m"
	// +optional
	RemoveDelay *metav1.Duration `json:"removeDelay,omitempty"`

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

// BindingGrant lets the TargetBindings of some namespaces register targets
// in some of the load balancer's backends, in the style of Gateway API's
// allowedRoutes.
type BindingGrant struct {
	// Namespaces whose TargetBindings the grant admits.
	Namespaces NamespaceGrant `json:"namespaces"`

	// Backends the grant admits: exact backend names, or prefixes ending in
	// "*" ("shop-*"; "*" alone is every backend). Omitted, every backend.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_.:-]*[*]?$`
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

// Instance is one load-balancer instance and how to reach its management API.
// +kubebuilder:validation:XValidation:rule="has(self.socket) != has(self.address)",message="set exactly one of socket and address"
type Instance struct {
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

// RuntimeAPIOverTCP reports whether the instance's management API is
// reached over TCP (HAProxy's runtime API then has admin level and no
// authentication).
func (i Instance) RuntimeAPIOverTCP() bool { return i.Address != "" }

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
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
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
