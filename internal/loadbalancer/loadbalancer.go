// Package loadbalancer defines what zerodrop needs from one load-balancer
// instance: register targets with health-check settings, report each target's
// state, drain a target and remove it. One package per provider implements it
// (haproxy/), fake/ holds a hand-written fake for unit tests, and
// conformance/ is the suite every real implementation must pass.
//
// The interface is per instance on purpose: an HAProxy pair (or more) is the
// normal on-premises set-up, and zerodrop's guarantees hold only when every
// instance agrees, so the reconciler fans out over instances itself.
package loadbalancer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// State is the state of one target on one load-balancer instance.
type State string

// Target states, from the load balancer's own point of view.
const (
	// StateAbsent: the instance does not know the target.
	StateAbsent State = "Absent"
	// StateInitial: registered, health checks have not yet passed "rise"
	// times since registration; the instance sends it no client traffic.
	StateInitial State = "Initial"
	// StateHealthy: the instance sends it client traffic.
	StateHealthy State = "Healthy"
	// StateUnhealthy: it was healthy and has since failed "fall" checks.
	StateUnhealthy State = "Unhealthy"
	// StateDraining: no new requests, but sessions are still open.
	StateDraining State = "Draining"
	// StateDrained: no new requests and no open sessions; safe to remove.
	StateDrained State = "Drained"
	// StateMaintenance: administratively out of service (not draining).
	StateMaintenance State = "Maintenance"
	// StateMisconfigured: registered, but the load balancer cannot send it
	// traffic because of its own configuration (ELBv2: the target group is
	// on no load balancer, or the target's zone is not enabled). Never
	// grants readiness; receives no client traffic.
	StateMisconfigured State = "Misconfigured"
	// StateUnknown: the load balancer cannot tell (ELBv2 "unavailable").
	// Never grants readiness, never counts as drained.
	StateUnknown State = "Unknown"
)

// SessionsUnknown is TargetStatus.Sessions for a provider that cannot count
// a target's sessions (Capabilities.Sessions false).
const SessionsUnknown int64 = -1

// Capabilities says what a provider can do and report. The reconciler's
// plan, the ownership rules and the drain verdict read them instead of
// assuming HAProxy; the conformance suite runs the checks each provider's
// capabilities call for.
type Capabilities struct {
	// Sessions: Status counts each target's open sessions. Without it
	// Sessions is SessionsUnknown and a draining target is out of rotation
	// only once the load balancer itself reports it gone (Absent or
	// Drained): the load balancer, not zerodrop, ends the drain.
	Sessions bool
	// PerTargetChecks: Register applies CheckSettings to each target and
	// reports them back as Target.Settings (HAProxy). Without it the
	// backend's own settings apply (ELBv2: the target group's), Register
	// ignores its check argument and Target.Settings is empty.
	PerTargetChecks bool
	// OwnerTags: the load balancer stores Target.Owner with each target.
	// Without it every target is reported with an empty Owner, and a
	// backend belongs to one binding at a time (the oldest; others on the
	// same backend register nothing and report the conflict).
	OwnerTags bool
	// Observe: a binding may gate and wait on targets someone else
	// registers (mode Observe): Status then reports every target of the
	// backend, not only zerodrop's.
	Observe bool
}

// Target is one pod endpoint in a backend, registered by one owner. Within
// one owner the address is the key: one IP:port is one pod at a time.
type Target struct {
	// Address is the pod IP and port the load balancer sends requests to.
	Address netip.AddrPort
	// Owner is the tag of the binding that registered the target
	// (targets.Owner); the provider stores it with the target so that it
	// survives controller restarts. Empty for targets registered before
	// zerodrop had owners ("legacy").
	Owner string
	// Settings is the tag (CheckSettings.Tag) of the check settings the
	// target was registered with, for providers whose check settings are
	// per target and cannot be changed in place (HAProxy): a target whose
	// tag differs from the binding's current settings is replaced. Empty
	// for providers with group-level settings, and for targets registered
	// before settings tags.
	Settings string
}

// String returns the target's address.
func (t Target) String() string { return t.Address.String() }

// CheckSettings are the per-target health-check settings used at
// registration. What is checked (HTTP method, path, expected status) belongs
// to the backend's own configuration on the load balancer.
type CheckSettings struct {
	// Interval between two checks.
	Interval time.Duration
	// Rise is how many consecutive passing checks make a target healthy.
	Rise int32
	// Fall is how many consecutive failing checks make a target unhealthy.
	Fall int32
	// Port, when not zero, is checked instead of the target's own port.
	Port int32
}

// Tag returns a short stable tag of the settings: 6 hex digits of their
// SHA-256. Equal settings have equal tags; a change of any field changes
// the tag (but for a one-in-16-million collision).
func (c CheckSettings) Tag() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("inter=%d,rise=%d,fall=%d,port=%d", c.Interval, c.Rise, c.Fall, c.Port)))
	return hex.EncodeToString(sum[:])[:SettingsTagLen]
}

// SettingsTagLen is the length of a CheckSettings tag.
const SettingsTagLen = 6

// TargetStatus is what an instance reports about one target.
type TargetStatus struct {
	Target
	// State is the target's state on the instance.
	State State
	// Sessions is the number of sessions (in-flight requests or open
	// connections) the instance currently has with the target, or
	// SessionsUnknown.
	Sessions int64
	// Reason is the provider's own word for the state, when it gives one
	// (ELBv2: "Elb.RegistrationInProgress: Target registration is in
	// progress"); empty otherwise.
	Reason string
}

// BackendStatus is what an instance reports about one backend.
type BackendStatus struct {
	// Targets lists every target zerodrop registered in the backend, of
	// every owner; targets zerodrop did not create are never listed.
	Targets []TargetStatus
	// Generation identifies the running load-balancer process; it changes
	// when the instance is reloaded or restarted (dynamic targets are lost
	// then). Empty when the provider cannot tell.
	Generation string
}

// Instance knows how to manage the targets of one load-balancer instance.
// Implementations batch the targets of one call into as few round trips as
// they can and are safe for concurrent use.
type Instance interface {
	// Status reports the targets zerodrop manages in backend. A backend that
	// does not exist on the instance is an error wrapping ErrNoBackend.
	Status(ctx context.Context, backend string) (BackendStatus, error)
	// Register adds the targets to backend with the given check settings and
	// puts them in service; the load balancer's health checks decide when
	// they receive traffic. Registering a target that is present (in any
	// state, including draining) puts it back in service.
	Register(ctx context.Context, backend string, check CheckSettings, targets ...Target) error
	// Drain stops new requests to the targets; open sessions go on.
	Drain(ctx context.Context, backend string, targets ...Target) error
	// Remove takes the targets out of backend. Removing an absent target is
	// not an error.
	Remove(ctx context.Context, backend string, targets ...Target) error
	// Capabilities says what the instance can do and report.
	Capabilities() Capabilities
	// Close releases the instance's connections.
	Close() error
}

// Expecter is implemented by providers that poll the load balancer on their
// own, within an API budget (ELBv2), instead of asking it on every Status
// call. Expect tells the provider that the caller waits for the targets at
// addrs in backend to change (come into service, or leave it), so that it
// refreshes them quickly until each one has settled (Healthy, Unhealthy,
// Misconfigured or Absent) or a while has passed; Status then reports from
// the refreshed view. Without it, a provider refreshes only what it
// registered or deregistered itself, and the rest slowly.
type Expecter interface {
	Expect(backend string, addrs ...netip.AddrPort)
}

// ErrNoBackend says the named backend does not exist on the instance.
var ErrNoBackend = errors.New("backend not found")
