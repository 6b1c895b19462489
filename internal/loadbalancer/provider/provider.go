// Package provider connects to a load-balancer instance of the provider a
// LoadBalancer's spec sets: one switch over the API's provider union, so
// adding a provider is one case here and one package under
// internal/loadbalancer.
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/elbv2"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
)

// Factory connects to load-balancer instances and owns what the instances
// of one provider share: for ELBv2, one API client, token-bucket budget and
// poller per region and endpoint (an elbv2.Registry). Its New is a
// pool.InstanceFactory. It is safe for concurrent use.
type Factory struct {
	elbv2          *elbv2.Registry
	haproxySharing haproxy.Sharing
	// haproxyTrips is MetricHAProxyRoundTrips (nil without a Registerer).
	haproxyTrips *prometheus.CounterVec
}

// MetricHAProxyRoundTrips counts the Runtime API connections the
// controller opens to each HAProxy instance, by runtime API (its socket
// path or address): the load zerodrop puts on the instance, which shared
// observation keeps independent of the number of bindings.
const MetricHAProxyRoundTrips = "zerodrop_haproxy_round_trips_total"

// Options configure a Factory.
type Options struct {
	// Registerer receives the shared pollers' metrics (none when nil).
	Registerer prometheus.Registerer
	// HAProxySharing is how HAProxy instances answer Status (see
	// Observation); the zero value reads each backend in a round trip of
	// its own per call.
	HAProxySharing haproxy.Sharing
}

// Observation values: how the controller reads an HAProxy instance's
// backends (the controller's --lb-observation).
const (
	// ObservationShared: one reading of every backend per poll, shared by
	// every binding of the instance, so the instance's load does not grow
	// with the number of bindings.
	ObservationShared = "shared"
	// ObservationPerBinding: each binding reads its backend in a round trip
	// of its own on every pass (zerodrop before shared observation; kept
	// for comparison).
	ObservationPerBinding = "per-binding"
)

// HAProxySharing returns the haproxy.Sharing of an observation mode for a
// controller polling every poll while targets move and every resync when
// settled: readings at most poll old while anything moves on the instance,
// at most resync/2 old when settled (so that a reload is seen within 1.5
// resync intervals).
func HAProxySharing(observation string, poll, resync time.Duration) (haproxy.Sharing, error) {
	switch observation {
	case ObservationShared:
		if poll <= 0 {
			return haproxy.Sharing{}, fmt.Errorf("shared observation needs a positive poll interval, got %s", poll)
		}
		return haproxy.Sharing{Moving: poll, Settled: max(resync/2, poll)}, nil
	case ObservationPerBinding:
		return haproxy.Sharing{}, nil
	default:
		return haproxy.Sharing{}, fmt.Errorf("observation %q: want %q or %q", observation, ObservationShared, ObservationPerBinding)
	}
}

// NewFactory returns a Factory whose shared pollers run until Close or
// until ctx ends and log through ctx's logger.
func NewFactory(ctx context.Context, o Options) (*Factory, error) {
	r, err := elbv2.NewRegistry(ctx, elbv2.RegistryOptions{Registerer: o.Registerer})
	if err != nil {
		return nil, err
	}
	f := &Factory{elbv2: r, haproxySharing: o.HAProxySharing}
	if o.Registerer != nil {
		f.haproxyTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricHAProxyRoundTrips,
			Help: "Runtime API connections opened to each HAProxy instance, by runtime API (socket path or address).",
		}, []string{"runtime_api"})
		if err := o.Registerer.Register(f.haproxyTrips); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("registering %s: %w", MetricHAProxyRoundTrips, err)
		}
	}
	return f, nil
}

// New connects to the instance named instance of a load balancer with spec
// lb.
func (f *Factory) New(lb v1alpha1.LoadBalancerSpec, instance string) (loadbalancer.Instance, error) {
	switch {
	case lb.HAProxy != nil:
		return newHAProxy(lb.HAProxy, instance, f.haproxySharing, f.haproxyTrips)
	case lb.ELBv2 != nil:
		return newELBv2(f.elbv2, lb.ELBv2, instance)
	default:
		return nil, errors.New("load balancer spec sets no provider: set spec.haproxy or spec.elbv2")
	}
}

// Close stops the shared pollers; instances it handed out fail afterwards.
func (f *Factory) Close() error { return f.elbv2.Close() }

// New connects to the instance named instance of a load balancer with spec
// lb without a Factory: each ELBv2 instance then has a client, budget and
// poller of its own (stopped by its Close) and no metrics. The controller
// uses a Factory.
func New(lb v1alpha1.LoadBalancerSpec, instance string) (loadbalancer.Instance, error) {
	f, err := NewFactory(context.Background(), Options{})
	if err != nil {
		return nil, err
	}
	return f.New(lb, instance)
}

// errNoInstance says the spec has no instance of that name.
func errNoInstance(instance string) error {
	return fmt.Errorf("load balancer has no instance %q", instance)
}
