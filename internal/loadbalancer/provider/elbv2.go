package provider

import (
	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/elbv2"
)

// newELBv2 returns the one instance of an ELBv2 load balancer, named after
// its region, from reg.
func newELBv2(reg *elbv2.Registry, spec *v1alpha1.ELBv2LoadBalancer, instance string) (loadbalancer.Instance, error) {
	if instance != spec.Region {
		return nil, errNoInstance(instance)
	}
	return reg.New(elbv2Config(spec))
}

// elbv2Config converts the API's spec.elbv2.
func elbv2Config(spec *v1alpha1.ELBv2LoadBalancer) elbv2.Config {
	cfg := elbv2.Config{
		Region:   spec.Region,
		Endpoint: spec.Endpoint,
		Budget: elbv2.Budget{
			DescribePerSecond: float64(spec.API.DescribePerSecond),
			DescribeBurst:     int(spec.API.DescribeBurst),
			RegisterPerSecond: float64(spec.API.RegisterPerSecond),
			RegisterBurst:     int(spec.API.RegisterBurst),
		},
	}
	if spec.PollInterval != nil {
		cfg.PollInterval = spec.PollInterval.Duration
	}
	return cfg
}
