// Package drain tells a terminating pod whether every load-balancer instance
// has let go of it. The controller serves Handler; the pod's injected preStop
// (`zerodrop wait-drained`) asks through Client until the answer is yes, so
// SIGTERM reaches the app only when no instance sends it anything.
//
// The caller proves who it is with a projected service-account token bound
// to its pod (audience Audience). The handler checks the token with a
// TokenReview and answers about that pod only: a request that names another
// pod is refused.
package drain

import (
	"net/netip"
)

// Audience is the audience of the projected token a pod presents.
const Audience = "zerodrop.dev/drain"

// Path is where the handler is served.
const Path = "/v1/drained"

// Reasons an Answer gives.
const (
	// ReasonDrained: every instance has removed the target or has no open
	// session with it.
	ReasonDrained = "Drained"
	// ReasonDraining: some instance still sends it requests or has
	// sessions open.
	ReasonDraining = "Draining"
	// ReasonNotTerminating: the pod is not being deleted (a preStop run
	// for a container restart): nothing to wait for.
	ReasonNotTerminating = "NotTerminating"
	// ReasonBypass: the pod carries the emergency bypass annotation.
	ReasonBypass = "Bypass"
	// ReasonNoBinding: no binding with drain-waiting selects the pod.
	ReasonNoBinding = "NoBinding"
	// ReasonInstanceUnreachable: an instance did not answer; not drained.
	ReasonInstanceUnreachable = "InstanceUnreachable"
)

// Answer is the handler's reply: JSON, schema zerodrop.dev/drain/v1.
type Answer struct {
	// Pod is namespace/name of the pod the answer is about.
	Pod string `json:"pod"`
	// Drained is true when SIGTERM may go ahead.
	Drained bool `json:"drained"`
	// Reason is one of the Reason* constants.
	Reason string `json:"reason"`
	// Targets lists the pod's target on every instance of every binding.
	Targets []TargetState `json:"targets,omitempty"`
}

// TargetState is one target of the pod on one instance.
type TargetState struct {
	Binding      string         `json:"binding"`
	LoadBalancer string         `json:"loadBalancer"`
	Instance     string         `json:"instance"`
	Address      netip.AddrPort `json:"address"`
	State        string         `json:"state"`
	Sessions     int64          `json:"sessions"`
	Error        string         `json:"error,omitempty"`
}
