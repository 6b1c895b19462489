package provider

import (
	"errors"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// newHAProxy is wired to the HAProxy Runtime API backend once it lands.
func newHAProxy(inst v1alpha1.Instance) (loadbalancer.Instance, error) {
	return nil, errors.New("haproxy backend not built yet")
}
