package provider

import (
	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
)

// newHAProxy connects to one HAProxy through its Runtime API.
func newHAProxy(lb v1alpha1.LoadBalancerSpec, inst v1alpha1.Instance) (loadbalancer.Instance, error) {
	cfg := haproxy.Config{SocketPath: inst.Socket, Address: inst.Address}
	if d := lb.RemoveDelay; d != nil {
		cfg.RemoveDelay = d.Duration
		if d.Duration == 0 {
			cfg.RemoveDelay = -1 // "0s" in the API: delete at once
		}
	}
	return haproxy.New(cfg)
}
