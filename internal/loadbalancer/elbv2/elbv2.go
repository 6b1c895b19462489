package elbv2

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Instance is one ELBv2 "instance" of a LoadBalancer: the target groups of
// one region, reached through the client, budget and poller its Registry
// shares among every Instance of that region and endpoint. It is safe for
// concurrent use.
type Instance struct {
	reg    *Registry
	sh     *shared
	closed atomic.Bool
}

var (
	_ loadbalancer.Instance = (*Instance)(nil)
	_ loadbalancer.Expecter = (*Instance)(nil)
)

// errClosed is returned by a closed Instance's calls.
type errClosed struct{}

func (errClosed) Error() string { return "elbv2: instance closed" }

// Capabilities: AWS counts no sessions, applies the target group's own
// health checks, keeps no owner tag with a target, and reports every
// target of a group (so a binding can observe targets someone else
// registers).
func (i *Instance) Capabilities() loadbalancer.Capabilities {
	return loadbalancer.Capabilities{Observe: true}
}

// Status reports every IP target of the target group backend (an ARN or a
// name) from the shared poller's latest view; it calls AWS only when the
// poller has no view of it yet. Owner and Settings are empty, Sessions is
// loadbalancer.SessionsUnknown, Generation is empty. A target group AWS
// does not know is an error wrapping loadbalancer.ErrNoBackend.
func (i *Instance) Status(ctx context.Context, backend string) (loadbalancer.BackendStatus, error) {
	if i.closed.Load() {
		return loadbalancer.BackendStatus{}, errClosed{}
	}
	return i.sh.poller.Status(ctx, backend)
}

// Register registers the targets (Id = IP, Port) with RegisterTargets, at
// most MaxTargetsPerCall per call; check is ignored (the target group's
// own health checks apply). Registering a target AWS is draining cancels
// its drain and puts it back in service: callers decide whether to.
func (i *Instance) Register(ctx context.Context, backend string, _ loadbalancer.CheckSettings, targets ...loadbalancer.Target) error {
	if i.closed.Load() {
		return errClosed{}
	}
	return i.sh.poller.Register(ctx, backend, targets)
}

// Drain deregisters the targets: AWS stops sending them new requests and
// ends the drain on its own timer (the target group's deregistration
// delay), after which it no longer lists them (Absent). Targets already
// draining, or known absent, cost no call.
func (i *Instance) Drain(ctx context.Context, backend string, targets ...loadbalancer.Target) error {
	if i.closed.Load() {
		return errClosed{}
	}
	return i.sh.poller.Deregister(ctx, backend, targets)
}

// Remove is Drain: AWS has no way to end a drain early, and removing a
// draining or absent target is a no-op (no call).
func (i *Instance) Remove(ctx context.Context, backend string, targets ...loadbalancer.Target) error {
	return i.Drain(ctx, backend, targets...)
}

// Expect has the poller describe the targets at addrs of backend at the
// poll interval until each has settled (Healthy, Unhealthy, Misconfigured
// or Absent, as seen by a describe after this call) or ExpectFor passed.
func (i *Instance) Expect(backend string, addrs ...netip.AddrPort) {
	if i.closed.Load() {
		return
	}
	i.sh.poller.Expect(backend, addrs...)
}

// Close releases the Instance's share of its region's client and poller;
// the poller stops with the last share.
func (i *Instance) Close() error {
	if i.closed.Swap(true) {
		return nil
	}
	i.reg.release(i)
	return nil
}
