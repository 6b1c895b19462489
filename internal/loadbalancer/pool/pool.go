// Package pool keeps one connection per load-balancer instance, shared by
// the reconcilers, the drain endpoint and anything else in the controller
// process that talks to load balancers, and notices when an instance's
// process changed (a reload or restart).
package pool

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// InstanceFactory knows how to connect to the instance named instance (one
// of lb.InstanceNames()) of a load balancer with the given spec.
type InstanceFactory func(lb v1alpha1.LoadBalancerSpec, instance string) (loadbalancer.Instance, error)

// NamedInstance is a connected load-balancer instance and its name.
type NamedInstance struct {
	// Name is the instance's name in the LoadBalancer's spec.
	Name string
	loadbalancer.Instance
}

// Pool keeps one connection per load-balancer instance, shared by every
// binding that uses it, and notices when an instance's process changed
// (reload or restart). It is safe for concurrent use.
type Pool struct {
	factory InstanceFactory

	mu      sync.Mutex
	entries map[string]*poolEntry
}

type poolEntry struct {
	// config is what the connection was made from (see configKey).
	config string
	inst   loadbalancer.Instance
	// generations holds the last generation each observer saw.
	generations map[string]string
}

// New returns an empty pool that connects through factory.
func New(factory InstanceFactory) *Pool {
	return &Pool{factory: factory, entries: map[string]*poolEntry{}}
}

// Instances returns a connection to every instance of lb, reconnecting the
// ones whose spec changed.
func (p *Pool) Instances(lb *v1alpha1.LoadBalancer) ([]NamedInstance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := lb.Spec.InstanceNames()
	out := make([]NamedInstance, 0, len(names))
	for _, name := range names {
		key := lb.Name + "/" + name
		e := p.entries[key]
		config := configKey(lb.Spec, name)
		if e != nil && e.config != config {
			_ = e.inst.Close()
			delete(p.entries, key)
			e = nil
		}
		if e == nil {
			inst, err := p.factory(lb.Spec, name)
			if err != nil {
				return nil, fmt.Errorf("connecting to instance %q of load balancer %q: %w", name, lb.Name, err)
			}
			e = &poolEntry{config: config, inst: inst}
			p.entries[key] = e
		}
		out = append(out, NamedInstance{Name: name, Instance: e.inst})
	}
	return out, nil
}

// configKey renders what a connection to the named instance depends on:
// the provider member of the spec (grants are not part of it).
func configKey(lb v1alpha1.LoadBalancerSpec, instance string) string {
	b, _ := json.Marshal(struct {
		HAProxy  *v1alpha1.HAProxyLoadBalancer `json:"haproxy,omitempty"`
		ELBv2    *v1alpha1.ELBv2LoadBalancer   `json:"elbv2,omitempty"`
		Instance string                        `json:"instance"`
	}{lb.HAProxy, lb.ELBv2, instance})
	return string(b)
}

// ObserveGeneration records the process generation an instance reported to
// observer and returns true when it changed from the one that observer saw
// before, so that each observer (a binding, the LoadBalancer's status)
// reports a restart once.
func (p *Pool) ObserveGeneration(observer, lbName, instance, generation string) bool {
	if generation == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.entries[lbName+"/"+instance]
	if e == nil {
		return false
	}
	if e.generations == nil {
		e.generations = map[string]string{}
	}
	last := e.generations[observer]
	e.generations[observer] = generation
	return last != "" && last != generation
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.entries {
		_ = e.inst.Close()
		delete(p.entries, k)
	}
	return nil
}
