package provider

import (
	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
)

// newHAProxy connects to one HAProxy through its Runtime API.
func newHAProxy(inst v1alpha1.Instance) (loadbalancer.Instance, error) {
	return haproxy.New(haproxy.Config{SocketPath: inst.Socket, Address: inst.Address})
}
