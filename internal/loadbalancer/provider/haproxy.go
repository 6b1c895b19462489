package provider

import (
	"cmp"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
)

// newHAProxy connects to one HAProxy of spec through its Runtime API,
// answering Status as sharing says.
func newHAProxy(spec *v1alpha1.HAProxyLoadBalancer, instance string, sharing haproxy.Sharing, trips *prometheus.CounterVec) (loadbalancer.Instance, error) {
	for _, inst := range spec.Instances {
		if inst.Name != instance {
			continue
		}
		cfg := haproxy.Config{SocketPath: inst.Socket, Address: inst.Address, Sharing: sharing}
		if trips != nil {
			cfg.RoundTrips = trips.WithLabelValues(cmp.Or(inst.Socket, inst.Address))
		}
		if d := spec.RemoveDelay; d != nil {
			cfg.RemoveDelay = d.Duration
			if d.Duration == 0 {
				cfg.RemoveDelay = -1 // "0s" in the API: delete at once
			}
		}
		return haproxy.New(cfg)
	}
	return nil, errNoInstance(instance)
}
