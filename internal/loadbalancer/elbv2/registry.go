package elbv2

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of RegistryOptions and Config.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultResync       = 10 * time.Minute
	DefaultExpectFor    = 10 * time.Minute
	DefaultInfoTTL      = 5 * time.Minute
	// DefaultMaxAttempts is how many attempts the SDK's retryer makes per
	// call (throttled ones included).
	DefaultMaxAttempts = 5
)

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// Registerer receives the provider's metrics; nil registers none.
	Registerer prometheus.Registerer
	// LoadOptions are added to config.LoadDefaultConfig's (tests: static
	// credentials, no shared files).
	LoadOptions []func(*config.LoadOptions) error
	// MaxAttempts per call, retries included; zero means
	// DefaultMaxAttempts. MaxBackoff bounds the wait between two attempts;
	// zero means the SDK's 20 s.
	MaxAttempts int
	MaxBackoff  time.Duration
	// Resync is how often a settled target group is described; zero means
	// DefaultResync. ExpectFor bounds how long a target stays moving after
	// a call or an Expect; zero means DefaultExpectFor. InfoTTL is how
	// long a target group's deregistration delay is kept; zero means
	// DefaultInfoTTL.
	Resync, ExpectFor, InfoTTL time.Duration
}

// Registry hands out Instances that share, per region and endpoint, one API
// client (with the registry's credential chain), one Budget and one
// Poller. It is safe for concurrent use.
type Registry struct {
	opts    RegistryOptions
	metrics *metrics
	// base is the parent context of every poller; it carries the logger.
	base context.Context

	mu     sync.Mutex
	shared map[sharedKey]*shared
	closed bool
}

// sharedKey identifies what Instances share.
type sharedKey struct{ region, endpoint string }

// shared is one region and endpoint's client, budget and poller, and the
// Instances using them.
type shared struct {
	key      sharedKey
	client   *elb.Client
	limiters *limiters
	poller   *Poller
	users    map[*Instance]Config
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewRegistry returns an empty Registry. Its pollers run until their last
// Instance is closed, the Registry is closed or ctx ends, and log through
// ctx's logger.
func NewRegistry(ctx context.Context, o RegistryOptions) (*Registry, error) {
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("elbv2: registering metrics: %w", err)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	if o.ExpectFor <= 0 {
		o.ExpectFor = DefaultExpectFor
	}
	if o.InfoTTL <= 0 {
		o.InfoTTL = DefaultInfoTTL
	}
	return &Registry{opts: o, metrics: m, base: ctx, shared: map[sharedKey]*shared{}}, nil
}

// Config is one Instance's settings: the LoadBalancer's spec.elbv2.
type Config struct {
	// Region of the target groups (required).
	Region string
	// Endpoint overrides the API endpoint; empty means the SDK's default,
	// which honours AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2.
	Endpoint string
	// PollInterval between two describes of a moving target group; zero
	// means DefaultPollInterval.
	PollInterval time.Duration
	// Budget is zerodrop's share of the API budget; zero fields take the
	// defaults.
	Budget Budget
}

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	c.Budget = c.Budget.withDefaults()
	return c
}

// New returns an Instance for cfg, sharing the client, budget and poller
// of every other open Instance of the same region and endpoint. When their
// settings differ, the shared ones are the smallest of each (the tightest
// budget, the shortest interval).
func (r *Registry) New(cfg Config) (*Instance, error) {
	if cfg.Region == "" {
		return nil, errors.New("elbv2 config: Region is required")
	}
	cfg = cfg.withDefaults()
	key := sharedKey{cfg.Region, cfg.Endpoint}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("elbv2: registry closed")
	}
	sh := r.shared[key]
	if sh == nil {
		var err error
		if sh, err = r.start(key, cfg); err != nil {
			return nil, err
		}
		r.shared[key] = sh
	}
	inst := &Instance{reg: r, sh: sh}
	sh.users[inst] = cfg
	sh.apply()
	return inst, nil
}

// start builds a region's client and starts its poller; r.mu must be held.
func (r *Registry) start(key sharedKey, cfg Config) (*shared, error) {
	ctx, cancel := context.WithCancel(r.base)
	lim := newLimiters(cfg.Budget)
	opts := append([]func(*config.LoadOptions) error{
		config.WithRegion(key.region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
					so.MaxAttempts = r.opts.MaxAttempts
					if r.opts.MaxBackoff > 0 {
						so.MaxBackoff = r.opts.MaxBackoff
					}
					// The budget and the adaptive rate limit bound retries;
					// a retry quota would fail calls during a throttling
					// episode instead of slowing them down.
					so.RateLimiter = ratelimit.None
				})
			})
		}),
	}, r.opts.LoadOptions...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("elbv2: loading AWS configuration for region %s: %w", key.region, err)
	}
	client := elb.NewFromConfig(awsCfg, func(o *elb.Options) {
		if key.endpoint != "" {
			o.BaseEndpoint = aws.String(key.endpoint)
		}
		o.APIOptions = append(o.APIOptions, budgetMiddleware(key.region, lim, r.metrics))
	})
	sh := &shared{
		key:      key,
		client:   client,
		limiters: lim,
		poller: newPoller(pollerConfig{
			region: key.region, api: client, metrics: r.metrics,
			interval: cfg.PollInterval, resync: r.opts.Resync, expectFor: r.opts.ExpectFor,
			infoTTL: r.opts.InfoTTL, forgetAfter: 2 * r.opts.Resync,
		}),
		users:  map[*Instance]Config{},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(sh.done)
		sh.poller.run(ctx)
	}()
	return sh, nil
}

// apply sets the shared budget and interval from the open Instances'.
func (sh *shared) apply() {
	first := true
	var b Budget
	var interval time.Duration
	for _, c := range sh.users {
		if first {
			b, interval, first = c.Budget, c.PollInterval, false
			continue
		}
		b, interval = b.min(c.Budget), min(interval, c.PollInterval)
	}
	if first {
		return
	}
	sh.limiters.set(b)
	sh.poller.setInterval(interval)
}

// release drops inst's share, stopping the poller after the last one.
func (r *Registry) release(inst *Instance) {
	r.mu.Lock()
	sh := inst.sh
	if _, ok := sh.users[inst]; !ok {
		r.mu.Unlock()
		return
	}
	delete(sh.users, inst)
	last := len(sh.users) == 0
	if last {
		delete(r.shared, sh.key)
	} else {
		sh.apply()
	}
	r.mu.Unlock()
	if last {
		sh.stop()
	}
}

// stop stops the poller and closes the client's idle connections.
func (sh *shared) stop() {
	sh.cancel()
	<-sh.done
	if c, ok := sh.client.Options().HTTPClient.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Close stops every poller; Instances handed out fail afterwards.
func (r *Registry) Close() error {
	r.mu.Lock()
	r.closed = true
	all := make([]*shared, 0, len(r.shared))
	for k, sh := range r.shared {
		all = append(all, sh)
		for inst := range sh.users {
			inst.closed.Store(true)
		}
		delete(r.shared, k)
	}
	r.mu.Unlock()
	for _, sh := range all {
		sh.stop()
	}
	return nil
}
