package v1alpha1

import "time"

// Labels and annotations zerodrop reads or writes.
const (
	// LabelInject on a Namespace, set to "enabled", asks the webhook to give
	// pods that a TargetBinding selects their readiness gate at creation.
	LabelInject = "zerodrop.dev/readiness-gate-inject"
	// LabelInjectEnabled is the value of LabelInject that turns injection on.
	LabelInjectEnabled = "enabled"

	// GateConditionPrefix starts the readiness-gate condition type of every
	// binding: GateConditionPrefix + binding name.
	GateConditionPrefix = "target-health.zerodrop.dev/"

	// DrainConditionPrefix starts the pod condition type in which the
	// binding's reconciler reports a terminating pod's drain:
	// DrainConditionPrefix + binding name. It is not a readiness gate.
	DrainConditionPrefix = "drain.zerodrop.dev/"

	// FinalizerTargetBinding holds a TargetBinding until its targets are
	// removed from every instance and its gates are released.
	FinalizerTargetBinding = "zerodrop.dev/targets"
)

// GateConditionType returns the pod readiness-gate condition type of the
// binding named name.
func GateConditionType(name string) string { return GateConditionPrefix + name }

// DrainConditionType returns the pod condition type in which the binding
// named name reports a terminating pod's drain on every instance: False
// (ReasonDraining) while some instance still drains it, True
// (ReasonDrained) once every instance has let go; the message gives each
// instance's state ("i0: Draining, 3 sessions; i1: Removed") and
// lastTransitionTime when the drain started (False) or ended (True).
func DrainConditionType(name string) string { return DrainConditionPrefix + name }

// Reasons of the drain pod condition (DrainConditionType).
const (
	// ReasonDraining: some instance still has the pod's target in rotation
	// or with sessions open, or did not answer.
	ReasonDraining = "Draining"
	// ReasonDrained: every instance has taken the pod's target out of
	// rotation with no session left.
	ReasonDrained = "Drained"
)

// Condition types of TargetBinding and LoadBalancer. Each is True when all is
// well ("positive polarity").
const (
	// ConditionReady: every desired target is healthy on every instance.
	ConditionReady = "Ready"
	// ConditionSynced: the last plan was applied to every instance.
	ConditionSynced = "Synced"
	// ConditionGateInjected: every selected pod carries the readiness gate.
	ConditionGateInjected = "GateInjected"
)

// Condition reasons.
const (
	// ReasonAllHealthy: every desired target is healthy on every instance.
	ReasonAllHealthy = "AllTargetsHealthy"
	// ReasonTargetsPending: some targets are not yet healthy everywhere.
	ReasonTargetsPending = "TargetsPending"
	// ReasonNoTargets: the Service selects no pod with an IP.
	ReasonNoTargets = "NoTargets"
	// ReasonApplied: the plan was applied to every instance.
	ReasonApplied = "Applied"
	// ReasonInstanceUnreachable: at least one instance could not be reached.
	ReasonInstanceUnreachable = "InstanceUnreachable"
	// ReasonBackendMissing: the backend does not exist on an instance.
	ReasonBackendMissing = "BackendMissing"
	// ReasonServiceNotFound: the referenced Service does not exist.
	ReasonServiceNotFound = "ServiceNotFound"
	// ReasonPortNotFound: the Service has no such port.
	ReasonPortNotFound = "PortNotFound"
	// ReasonLoadBalancerNotFound: the referenced LoadBalancer does not exist.
	ReasonLoadBalancerNotFound = "LoadBalancerNotFound"
	// ReasonAllGated: every selected pod carries the gate.
	ReasonAllGated = "AllPodsGated"
	// ReasonPodsMissingGate: some selected pods lack the gate.
	ReasonPodsMissingGate = "PodsMissingGate"
	// ReasonGateDisabled: the binding runs as a plain endpoint sync.
	ReasonGateDisabled = "GateDisabled"
	// ReasonTargetsMisconfigured: the load balancer reports some desired
	// targets registered but unable to get traffic because of its own
	// configuration (ELBv2: target group on no load balancer, zone not
	// enabled); the message gives its reason. They are never gated Ready.
	ReasonTargetsMisconfigured = "TargetsMisconfigured"
	// ReasonAllReachable: every LoadBalancer instance answered.
	ReasonAllReachable = "AllInstancesReachable"
)

// Grants: the condition that says whether a LoadBalancer's
// spec.allowedBindings admit a TargetBinding, and its reasons.
const (
	// ConditionAccepted: the binding's LoadBalancer grants its namespace and
	// backend. While it is not True the binding registers, drains and
	// removes nothing and sets no gate; Unknown means the pass stopped
	// before the grant could be checked (Service or LoadBalancer missing).
	ConditionAccepted = "Accepted"
	// ReasonAccepted: a grant of the LoadBalancer admits the binding.
	ReasonAccepted = "Accepted"
	// ReasonNamespaceNotAllowed: no grant of the LoadBalancer admits the
	// binding's namespace (or the LoadBalancer has no grant at all).
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonBackendNotAllowed: grants admit the binding's namespace, but
	// none of them its backend.
	ReasonBackendNotAllowed = "BackendNotAllowed"
	// ReasonInvalidBackend: spec.backend is not a backend of the
	// LoadBalancer's provider (an ELBv2 ARN of another region, an HAProxy
	// backend name with a "/"); the message names the field.
	ReasonInvalidBackend = "InvalidBackend"
	// ReasonModeUnsupported: spec.mode is Observe, and the LoadBalancer's
	// provider cannot report targets zerodrop did not register.
	ReasonModeUnsupported = "ModeUnsupported"
)

// Annotations on pods.
const (
	// AnnotationSkipDrainWait on a pod, set to "true", makes its injected
	// preStop return at once: the emergency bypass. Requests the load
	// balancer still sends the pod after SIGTERM fail.
	AnnotationSkipDrainWait = "zerodrop.dev/skip-drain-wait"
	// AnnotationShutdownBudget on a pod (template) is how long the app
	// needs after SIGTERM, as a duration; see DefaultShutdownBudget.
	AnnotationShutdownBudget = "zerodrop.dev/shutdown-budget"
	// AnnotationOriginalGracePeriod records the terminationGracePeriodSeconds
	// a pod had before the webhook raised it to fit the drain.
	AnnotationOriginalGracePeriod = "zerodrop.dev/original-grace-period-seconds"
	// AnnotationDrainWait records what the webhook did about the drain wait
	// of a pod: see the DrainWait* values.
	AnnotationDrainWait = "zerodrop.dev/drain-wait"
	// AnnotationPreStopBudget on a pod (template) is how long the pod's own
	// exec preStop hook runs, as a duration; the injected wait runs it after
	// the drain, so the grace period must hold both. See
	// DefaultPreStopBudget for what counts when it is absent.
	AnnotationPreStopBudget = "zerodrop.dev/prestop-budget"
)

// Values of AnnotationDrainWait.
const (
	// DrainWaitInjected: the preStop wait was injected.
	DrainWaitInjected = "injected"
	// DrainWaitExistingHandler: a container serving a bound port has a
	// non-exec preStop handler (httpGet, sleep, tcpSocket), left alone.
	DrainWaitExistingHandler = "existing-handler"
)

// DefaultShutdownBudget is the app's shutdown time after SIGTERM when the pod
// does not say (seed 003: "~10s (most web apps)").
const DefaultShutdownBudget = 10 * time.Second

// Target ownership: the ConflictFree condition of a TargetBinding (True
// when all is well) and its reasons.
const (
	// ConditionConflictFree: no other owner (binding of this or another
	// cluster) wants one of this binding's target addresses in its backend.
	ConditionConflictFree = "ConflictFree"
	// ReasonNoConflicts: no address of the binding is wanted by another
	// owner.
	ReasonNoConflicts = "NoConflicts"
	// ReasonAddressConflict: another owner wants some of the binding's
	// addresses in the same backend; the owner with the smaller tag keeps
	// each one (the message says which).
	ReasonAddressConflict = "AddressConflict"
	// ReasonBackendShared: the provider keeps no owner with a target
	// (ELBv2), so a backend belongs to one managing binding, the oldest;
	// this one registers nothing there (the message names the owner).
	ReasonBackendShared = "BackendShared"
)

// The RuntimeAPIPrivate condition of a LoadBalancer (True when all is well)
// and its reasons.
const (
	// ConditionRuntimeAPIPrivate: no instance's management API is reached
	// over TCP, where HAProxy's runtime API has admin level and no
	// authentication.
	ConditionRuntimeAPIPrivate = "RuntimeAPIPrivate"
	// ReasonUnixSockets: every instance is reached through a unix socket.
	ReasonUnixSockets = "UnixSockets"
	// ReasonRuntimeAPIOverTCP: some instances are reached over TCP; the
	// message names them and says how to protect them.
	ReasonRuntimeAPIOverTCP = "RuntimeAPIOverTCP"
)

// DefaultPreStopBudget is what the webhook counts for a pod's own exec
// preStop hook, beyond the sleeps it can read in the command, when the pod
// has no AnnotationPreStopBudget: a hook that is nothing but `sleep N`
// counts N, any other hook its sleeps plus DefaultPreStopBudget.
const DefaultPreStopBudget = 10 * time.Second
