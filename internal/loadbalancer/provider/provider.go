// Package provider connects to a load-balancer instance of the provider a
// LoadBalancer's spec sets: one switch over the API's provider union, so
// adding a provider is one case here and one package under
// internal/loadbalancer.
package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/elbv2"
)

// Factory connects to load-balancer instances and owns what the instances
// of one provider share: for ELBv2, one API client, token-bucket budget and
// poller per region and endpoint (an elbv2.Registry). Its New is a
// pool.InstanceFactory. It is safe for concurrent use.
type Factory struct {
	elbv2 *elbv2.Registry
}

// NewFactory returns a Factory whose shared pollers run until Close or
// until ctx ends, log through ctx's logger and register their metrics
// with reg (none when nil).
func NewFactory(ctx context.Context, reg prometheus.Registerer) (*Factory, error) {
	r, err := elbv2.NewRegistry(ctx, elbv2.RegistryOptions{Registerer: reg})
	if err != nil {
		return nil, err
	}
	return &Factory{elbv2: r}, nil
}

// New connects to the instance named instance of a load balancer with spec
// lb.
func (f *Factory) New(lb v1alpha1.LoadBalancerSpec, instance string) (loadbalancer.Instance, error) {
	switch {
	case lb.HAProxy != nil:
		return newHAProxy(lb.HAProxy, instance)
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
	f, err := NewFactory(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	return f.New(lb, instance)
}

// errNoInstance says the spec has no instance of that name.
func errNoInstance(instance string) error {
	return fmt.Errorf("load balancer has no instance %q", instance)
}
