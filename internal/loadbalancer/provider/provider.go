// Package provider connects to a load-balancer instance of the provider a
// LoadBalancer names: one switch over the API's enum, so adding a provider
// is one case here and one package under internal/loadbalancer.
package provider

import (
	"fmt"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// New connects to one instance of a load balancer of the given provider.
func New(p v1alpha1.Provider, inst v1alpha1.Instance) (loadbalancer.Instance, error) {
	switch p {
	case v1alpha1.ProviderHAProxy:
		return newHAProxy(inst)
	default:
		return nil, fmt.Errorf("unknown load-balancer provider %q", p)
	}
}
