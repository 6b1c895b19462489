package demo

import (
	"k8s.io/apimachinery/pkg/util/intstr"
	"net/http"

	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// defaultScenario is the scenario `zerodrop demo` runs without --scenario.
//
//go:embed scenario.yaml
var defaultScenario []byte

// elbv2Scenario is the scenario `zerodrop demo --provider elbv2` runs
// without --scenario.
//
//go:embed scenario-elbv2.yaml
var elbv2Scenario []byte

// Providers the demo can run against.
const (
	// ProviderHAProxy: one HAProxy, a frontend and backend per mode.
	ProviderHAProxy = "haproxy"
	// ProviderELBv2: emulated ALB target groups (test/elbv2emu: AWS's
	// Query API and target states, a real HAProxy doing the health checks
	// and carrying the traffic), one per mode, driven through the AWS SDK.
	ProviderELBv2 = "elbv2"
)

// RolloutKind names a kind of rollout the demo runs under load.
type RolloutKind string

// Rollout kinds.
const (
	// RollingUpdate changes a pod-template annotation: every pod is
	// replaced, one surge pod at a time.
	RollingUpdate RolloutKind = "rolling-update"
	// ScaleIn lowers the replicas by one (and raises them again after the
	// measurement).
	ScaleIn RolloutKind = "scale-in"
	// NodeDrain cordons a node and evicts its pods through the eviction
	// API, honouring the PodDisruptionBudget.
	NodeDrain RolloutKind = "node-drain"
)

// RolloutKinds lists every kind, in the order the demo runs them.
func RolloutKinds() []RolloutKind { return []RolloutKind{RollingUpdate, ScaleIn, NodeDrain} }

// Scenario is what the demo runs. Durations are Go durations ("500ms").
type Scenario struct {
	// Nodes is the number of virtual nodes.
	Nodes int `json:"nodes"`
	// Replicas of the app in every mode.
	Replicas int32 `json:"replicas"`
	// Load is the traffic sent through each mode's HAProxy frontend.
	Load Load `json:"load"`
	// App is the app's behaviour (virtual-node annotations).
	App App `json:"app"`
	// LoadBalancer are HAProxy's health-check settings (every mode).
	LoadBalancer LoadBalancer `json:"loadBalancer"`
	// Drain are zerodrop's drain settings (mode zerodrop).
	Drain Drain `json:"drain"`
	// StaticRecipe is the seeds' recipe (mode static-recipe).
	StaticRecipe StaticRecipe `json:"staticRecipe"`
	// MaxSurge is the Deployment's rolling-update surge in modes
	// no-zerodrop and zerodrop (maxUnavailable is 0); the static recipe
	// keeps the seeds' maxSurge 1. A large surge is how teams speed up
	// rollouts: every new pod turns Ready at once and Kubernetes removes
	// the old ones while the load balancer is still checking the new ones.
	MaxSurge intstr.IntOrString `json:"maxSurge"`
	// Rollouts are the kinds to run, in order.
	Rollouts []RolloutKind `json:"rollouts"`
	// Provider is the load balancer: haproxy (default) or elbv2.
	Provider string `json:"provider,omitempty"`
	// ELBv2 are the emulated target groups' own timings (provider elbv2;
	// their health checks follow loadBalancer).
	ELBv2 ELBv2 `json:"elbv2,omitempty"`
}

// ELBv2 are the emulated target groups' timings, AWS's scaled down.
type ELBv2 struct {
	// RegistrationLag is how long a new target stays
	// initial/Elb.RegistrationInProgress before its checks count.
	RegistrationLag Duration `json:"registrationLag"`
	// DeregistrationDelay is deregistration_delay.timeout_seconds: an ALB
	// target stays draining for all of it, idle or not.
	DeregistrationDelay Duration `json:"deregistrationDelay"`
}

// Modes lists the scenario's modes in the order the demo shows them: every
// provider's three, and for ELBv2 zerodrop observing a target group that a
// plain syncer (the AWS Load Balancer Controller's stand-in) registers.
func (s *Scenario) Modes() []Mode {
	if s != nil && s.Provider == ProviderELBv2 {
		return []Mode{ModeNone, ModeStatic, ModeZerodrop, ModeObserve}
	}
	return Modes()
}

// Load is the open-model load of one mode.
type Load struct {
	// Rate in requests per second.
	Rate int `json:"rate"`
	// KeepAlive reuses client connections.
	KeepAlive *bool `json:"keepAlive,omitempty"`
	// Method is the requests' HTTP method: POST or GET (empty: GET). A
	// client resends a GET whose kept-alive connection broke before the
	// answer (it is idempotent), which hides most requests a dying pod
	// cuts; a POST nobody resends, as with real non-idempotent traffic.
	Method string `json:"method,omitempty"`
	// MinDuration is the least time load runs per rollout kind.
	MinDuration Duration `json:"minDuration"`
	// Warmup is the steady load before the rollout starts.
	Warmup Duration `json:"warmup"`
	// Cooldown is the load after the rollout has settled.
	Cooldown Duration `json:"cooldown"`
	// Timeout bounds each request.
	Timeout Duration `json:"timeout"`
}

// App is the app's behaviour.
type App struct {
	StartupDelay Duration `json:"startupDelay"`
	Latency      Duration `json:"latency"`
	// Shutdown is "immediate" or "graceful".
	Shutdown vnode.ShutdownMode `json:"shutdown"`
	// ShutdownBudget is what the app needs after SIGTERM.
	ShutdownBudget Duration `json:"shutdownBudget"`
}

// LoadBalancer are HAProxy's check settings.
type LoadBalancer struct {
	CheckInterval Duration `json:"checkInterval"`
	Rise          int32    `json:"rise"`
	Fall          int32    `json:"fall"`
}

// Drain are zerodrop's drain settings.
type Drain struct {
	Timeout Duration `json:"timeout"`
}

// StaticRecipe is the seeds' preStop-sleep recipe.
type StaticRecipe struct {
	PreStopSleep Duration `json:"preStopSleep"`
}

// keepAlive reports whether client connections are reused (default true).
func (l Load) keepAlive() bool { return l.KeepAlive == nil || *l.KeepAlive }

// DefaultScenario returns the embedded default scenario.
func DefaultScenario() (*Scenario, error) { return ParseScenario(defaultScenario) }

// DefaultScenarioFor returns the built-in scenario of a provider.
func DefaultScenarioFor(provider string) (*Scenario, error) {
	switch provider {
	case "", ProviderHAProxy:
		return DefaultScenario()
	case ProviderELBv2:
		return ParseScenario(elbv2Scenario)
	}
	return nil, fmt.Errorf("provider %q: want %q or %q", provider, ProviderHAProxy, ProviderELBv2)
}

// DefaultScenarioYAMLFor returns the built-in scenario of a provider, as
// written.
func DefaultScenarioYAMLFor(provider string) []byte {
	if provider == ProviderELBv2 {
		return append([]byte(nil), elbv2Scenario...)
	}
	return DefaultScenarioYAML()
}

// DefaultScenarioYAML returns the embedded default scenario's text.
func DefaultScenarioYAML() []byte { return append([]byte(nil), defaultScenario...) }

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	s, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return s, nil
}

// ParseScenario decodes a scenario strictly (an unknown or duplicate field
// is an error) and validates it.
func ParseScenario(data []byte) (*Scenario, error) {
	var s Scenario
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("decoding scenario: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Limits of a scenario: generous, but no typo may make the demo run for
// hours or overload the machine by orders of magnitude.
const (
	maxNodes    = 10
	maxReplicas = 20
	maxRate     = 20_000
	maxDuration = 10 * time.Minute
)

// Validate checks every field and names the first wrong one.
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	durationIn := func(field string, d Duration, lo, hi time.Duration) {
		if d.err != nil {
			bad(field, "%s is not a duration such as \"2s\" or \"500ms\"", d.raw)
			return
		}
		if d.Duration < lo || d.Duration > hi {
			bad(field, "%s is outside [%s, %s]", d.Duration, lo, hi)
		}
	}
	if s.Nodes < 2 || s.Nodes > maxNodes {
		bad("nodes", "%d: want 2 to %d (a node drain needs somewhere to go)", s.Nodes, maxNodes)
	}
	if s.Replicas < 2 || s.Replicas > maxReplicas {
		bad("replicas", "%d: want 2 to %d (a scale-in needs a replica left)", s.Replicas, maxReplicas)
	}
	if s.Load.Rate < 1 || s.Load.Rate > maxRate {
		bad("load.rate", "%d: want 1 to %d requests per second", s.Load.Rate, maxRate)
	}
	switch s.Load.Method {
	case "", http.MethodGet, http.MethodPost:
	default:
		bad("load.method", "%q: want %q or %q", s.Load.Method, http.MethodGet, http.MethodPost)
	}
	durationIn("load.minDuration", s.Load.MinDuration, time.Second, maxDuration)
	durationIn("load.warmup", s.Load.Warmup, 0, maxDuration)
	durationIn("load.cooldown", s.Load.Cooldown, 0, maxDuration)
	durationIn("load.timeout", s.Load.Timeout, 10*time.Millisecond, time.Minute)
	durationIn("app.startupDelay", s.App.StartupDelay, 0, time.Minute)
	durationIn("app.latency", s.App.Latency, 0, 10*time.Second)
	durationIn("app.shutdownBudget", s.App.ShutdownBudget, 0, 5*time.Minute)
	switch s.App.Shutdown {
	case vnode.ShutdownImmediate, vnode.ShutdownGraceful:
	default:
		bad("app.shutdown", "%q: want %q or %q", s.App.Shutdown, vnode.ShutdownImmediate, vnode.ShutdownGraceful)
	}
	durationIn("loadBalancer.checkInterval", s.LoadBalancer.CheckInterval, 100*time.Millisecond, 5*time.Minute)
	if s.LoadBalancer.Rise < 1 || s.LoadBalancer.Rise > 10 {
		bad("loadBalancer.rise", "%d: want 1 to 10", s.LoadBalancer.Rise)
	}
	if s.LoadBalancer.Fall < 1 || s.LoadBalancer.Fall > 10 {
		bad("loadBalancer.fall", "%d: want 1 to 10", s.LoadBalancer.Fall)
	}
	durationIn("drain.timeout", s.Drain.Timeout, 0, time.Hour)
	durationIn("staticRecipe.preStopSleep", s.StaticRecipe.PreStopSleep, time.Second, time.Hour)
	if d := s.StaticRecipe.PreStopSleep.Duration; d%time.Second != 0 {
		bad("staticRecipe.preStopSleep", "%s: the recipe's `sleep N` takes whole seconds", d)
	}
	if surge, err := intstr.GetScaledValueFromIntOrPercent(&s.MaxSurge, int(s.Replicas), true); err != nil || surge < 1 {
		bad("maxSurge", "%q: want a number or percentage giving at least one pod", s.MaxSurge.String())
	}
	switch s.Provider {
	case "", ProviderHAProxy:
	case ProviderELBv2:
		durationIn("elbv2.registrationLag", s.ELBv2.RegistrationLag, 0, time.Minute)
		durationIn("elbv2.deregistrationDelay", s.ELBv2.DeregistrationDelay, 0, 10*time.Minute)
		if s.ELBv2.DeregistrationDelay.err == nil && s.StaticRecipe.PreStopSleep.Duration < s.ELBv2.DeregistrationDelay.Duration {
			bad("staticRecipe.preStopSleep", "%s is shorter than elbv2.deregistrationDelay %s: the recipe sleeps at least the delay",
				s.StaticRecipe.PreStopSleep.Duration, s.ELBv2.DeregistrationDelay.Duration)
		}
	default:
		bad("provider", "%q: want %q or %q", s.Provider, ProviderHAProxy, ProviderELBv2)
	}
	if len(s.Rollouts) == 0 {
		bad("rollouts", "empty: want one or more of %v", RolloutKinds())
	}
	seen := map[RolloutKind]bool{}
	for i, k := range s.Rollouts {
		switch {
		case k != RollingUpdate && k != ScaleIn && k != NodeDrain:
			bad(fmt.Sprintf("rollouts[%d]", i), "%q: want one of %v", k, RolloutKinds())
		case seen[k]:
			bad(fmt.Sprintf("rollouts[%d]", i), "%q is listed twice", k)
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

// Batches is how many rounds a rolling update of the zerodrop mode takes:
// replicas ÷ maxSurge, rounded up (maxUnavailable is 0).
func (s *Scenario) Batches() int {
	surge, err := intstr.GetScaledValueFromIntOrPercent(&s.MaxSurge, int(s.Replicas), true)
	if err != nil || surge < 1 {
		surge = 1
	}
	return (int(s.Replicas) + surge - 1) / surge
}

// MinReadySeconds is the static recipe's minReadySeconds: at least the time
// the load balancer needs to see a new pod healthy (interval × rise).
func (s *Scenario) MinReadySeconds() int32 {
	need := s.LoadBalancer.CheckInterval.Duration * time.Duration(s.LoadBalancer.Rise)
	return int32(max(1, math.Ceil(need.Seconds())))
}

// StaticGraceSeconds is the static recipe's terminationGracePeriodSeconds:
// the preStop sleep, the app's shutdown budget and a 5 s buffer.
func (s *Scenario) StaticGraceSeconds() int64 {
	return int64(math.Ceil((s.StaticRecipe.PreStopSleep.Duration + s.App.ShutdownBudget.Duration + staticGraceBuffer).Seconds()))
}

// staticGraceBuffer is the static recipe's margin on top of sleep + shutdown.
const staticGraceBuffer = 5 * time.Second

// Duration is a Go duration written as a string ("500ms"). A malformed one
// decodes without error and is reported by Validate with its field name.
type Duration struct {
	time.Duration
	raw string
	err error
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	d.raw = string(b)
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		d.err = err
		return nil
	}
	d.Duration, d.err = time.ParseDuration(s)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }
