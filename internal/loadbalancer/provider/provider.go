// Package provider connects to a load-balancer instance of the provider a
// LoadBalancer names: one switch over the API's enum, so adding a provider
// is one case here and one package under internal/loadbalancer.
package provider

import (
	"fmt"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// New connects to one instance of a load balancer with spec lb.
func New(lb v1alpha1.LoadBalancerSpec, inst v1alpha1.Instance) (loadbalancer.Instance, error) {
	switch lb.Provider {
	case v1alpha1.ProviderHAProxy:
		return newHAProxy(lb, inst)
	default:
		return nil, fmt.Errorf("unknown load-balancer provider %q", lb.Provider)
	}
}
