// Package provider connects to a load-balancer instance of the provider a
// LoadBalancer's spec sets: one switch over the API's provider union, so
// adding a provider is one case here and one package under
// internal/loadbalancer.
package provider

import (
	"errors"
	"fmt"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// New connects to the instance named instance of a load balancer with spec
// lb.
func New(lb v1alpha1.LoadBalancerSpec, instance string) (loadbalancer.Instance, error) {
	switch {
	case lb.HAProxy != nil:
		return newHAProxy(lb.HAProxy, instance)
	default:
		return nil, errors.New("load balancer spec sets no provider: set spec.haproxy or spec.elbv2")
	}
}

// errNoInstance says the spec has no instance of that name.
func errNoInstance(instance string) error {
	return fmt.Errorf("load balancer has no instance %q", instance)
}
