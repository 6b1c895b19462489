// Package drain tells a terminating pod whether every load-balancer instance
// has let go of it, and lets it go. The controller serves Handler on its own
// listener (Server); the pod's injected preStop (`zerodrop wait-drained`)
// asks through Client until the answer is yes, so SIGTERM reaches the app
// only when no instance sends it anything.
//
// The caller proves who it is with a projected service-account token bound
// to its pod (audience Audience). The handler checks the token with a
// TokenReview (cached by the token's SHA-256 for a short time, so that a
// pod asking every Interval costs one review per ReviewTTL), limits how
// often each pod is answered, and answers about that pod only: a request
// that names another pod is refused.
//
// Any replica of the controller answers, leader or not, and it acts on the
// caller's own targets itself (drains them, then puts them in maintenance
// once their sessions are gone): a terminating pod is drained even while no
// replica leads, for example while a crashed leader's lease runs out. See
// docs/drain.md.
package drain

import (
	"net/netip"
	"time"
)

// Audience is the audience of the projected token a pod presents.
const Audience = "zerodrop.dev/drain"

// Path is where the handler is served.
const Path = "/v1/drained"

// Timing of one ask. The server answers within InstanceTimeout plus its own
// API reads (from the cache, usually), well inside ClientTimeout, so an
// instance that does not answer (blackholed) shows as InstanceUnreachable
// in the answer instead of timing the whole ask out.
const (
	// ClientTimeout bounds one ask of Client, connection included.
	ClientTimeout = 2 * time.Second
	// InstanceTimeout bounds what the handler does on one instance for one
	// ask (its status, and a drain or removal): every instance of every
	// binding is asked in parallel.
	InstanceTimeout = time.Second
)

// Defaults of the handler's protection against floods.
const (
	// DefaultReviewTTL is how long a TokenReview's outcome is reused for
	// the same token.
	DefaultReviewTTL = 10 * time.Second
	// DefaultReviewCacheSize bounds the number of cached reviews.
	DefaultReviewCacheSize = 10000
	// DefaultReviewWait is how long an ask waits for its token's review
	// before it is answered 429 ("ask again"): the review goes on and its
	// outcome is cached for the next ask. Many pods terminating at once
	// thus queue on the review client's rate limit without their asks
	// timing out (which would count towards the fallback).
	DefaultReviewWait = 500 * time.Millisecond
	// DefaultReviewQPS and DefaultReviewBurst are the client-side rate
	// limit of the client that creates TokenReviews, apart from the
	// reconciler's: 500 pods terminating at once are reviewed within
	// (500-burst)/QPS = 8 s, each once per DefaultReviewTTL.
	DefaultReviewQPS   = 50
	DefaultReviewBurst = 100
	// DefaultPodRate and DefaultPodBurst bound how often one pod is
	// answered (the client asks every 100 ms: 10 per second).
	DefaultPodRate  = 20
	DefaultPodBurst = 20
)

// Reasons an Answer gives.
const (
	// ReasonDrained: every instance has removed the target or holds it in
	// maintenance with no open session: no request, persistent ones
	// included, reaches it any more.
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
	// ReasonInstanceUnreachable: an instance did not answer (or refused a
	// drain); not drained.
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

// TargetState is one target of the pod on one instance. Its Error never
// names a load-balancer address: the answer goes to pods, the details to
// the controller's log.
type TargetState struct {
	Binding      string         `json:"binding"`
	LoadBalancer string         `json:"loadBalancer"`
	Instance     string         `json:"instance"`
	Address      netip.AddrPort `json:"address"`
	State        string         `json:"state"`
	Sessions     int64          `json:"sessions"`
	// Action is what this ask did to the target: "drain", "remove" or
	// empty.
	Action string `json:"action,omitempty"`
	Error  string `json:"error,omitempty"`
}
