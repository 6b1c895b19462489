package lint

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// AnnotationIgnore on an object lists rule IDs (comma-separated, or "all")
// not to report on it.
const AnnotationIgnore = "lint.zerodrop.dev/ignore"

// Defaults of seed 003's formula: most web apps shut down in about 10 s,
// and the safety buffer is 10-20 s. With them the seeds' own examples come
// out as the seeds label them (sleep 180 + grace 200 passes: 180+10+10).
const (
	DefaultShutdownSeconds = 10
	DefaultBufferSeconds   = 10
)

// Settings tune the rules.
type Settings struct {
	// ShutdownSeconds is the application's maximum shutdown time after
	// SIGTERM, used by the grace-period formula.
	ShutdownSeconds int32
	// BufferSeconds is the formula's safety buffer.
	BufferSeconds int32
}

// DefaultSettings returns the formula's defaults.
func DefaultSettings() Settings {
	return Settings{ShutdownSeconds: DefaultShutdownSeconds, BufferSeconds: DefaultBufferSeconds}
}

// Config is the --config file.
//
//	disabledRules: [ZD401]
//	severityOverrides: {ZD201: error}
//	ignores:
//	- rules: [ZD101]
//	  kind: Deployment
//	  namespace: shop
//	  name: legacy
//	shutdownSeconds: 20
//	bufferSeconds: 15
type Config struct {
	DisabledRules     []string            `json:"disabledRules,omitempty"`
	SeverityOverrides map[string]Severity `json:"severityOverrides,omitempty"`
	Ignores           []Ignore            `json:"ignores,omitempty"`
	ShutdownSeconds   *int32              `json:"shutdownSeconds,omitempty"`
	BufferSeconds     *int32              `json:"bufferSeconds,omitempty"`
}

// Ignore suppresses rules on matching objects. Empty fields match
// anything; rules empty or ["all"] matches every rule.
type Ignore struct {
	Rules     []string `json:"rules,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
}

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading lint config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig parses config YAML strictly: unknown fields and unknown rule
// IDs are errors.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("parsing lint config: %w", err)
	}
	check := func(ids []string) error {
		for _, id := range ids {
			if strings.EqualFold(id, "all") {
				continue
			}
			if _, err := RuleByID(id); err != nil {
				return fmt.Errorf("lint config: %w", err)
			}
		}
		return nil
	}
	if err := check(c.DisabledRules); err != nil {
		return nil, err
	}
	for id := range c.SeverityOverrides {
		if err := check([]string{id}); err != nil {
			return nil, err
		}
	}
	for _, ig := range c.Ignores {
		if err := check(ig.Rules); err != nil {
			return nil, err
		}
	}
	if c.ShutdownSeconds != nil && *c.ShutdownSeconds < 0 || c.BufferSeconds != nil && *c.BufferSeconds < 0 {
		return nil, fmt.Errorf("lint config: shutdownSeconds and bufferSeconds must not be negative")
	}
	return &c, nil
}

// Settings returns the formula settings, defaults filled in.
func (c *Config) Settings() Settings {
	s := DefaultSettings()
	if c == nil {
		return s
	}
	if c.ShutdownSeconds != nil {
		s.ShutdownSeconds = *c.ShutdownSeconds
	}
	if c.BufferSeconds != nil {
		s.BufferSeconds = *c.BufferSeconds
	}
	return s
}

func (c *Config) disabled(id string) bool {
	if c == nil {
		return false
	}
	for _, d := range c.DisabledRules {
		if strings.EqualFold(d, id) {
			return true
		}
	}
	return false
}

func (c *Config) ignored(f Finding) bool {
	if c == nil {
		return false
	}
	for _, ig := range c.Ignores {
		if ig.Kind != "" && ig.Kind != f.Object.Kind || ig.Name != "" && ig.Name != f.Object.Name ||
			ig.Namespace != "" && !sameNamespace(ig.Namespace, f.Object.Namespace) {
			continue
		}
		if ruleListed(ig.Rules, f.RuleID, true) {
			return true
		}
	}
	return false
}

// ruleListed reports whether id is in ids ("all" matches everything; an
// empty list matches everything when emptyMeansAll).
func ruleListed(ids []string, id string, emptyMeansAll bool) bool {
	if len(ids) == 0 {
		return emptyMeansAll
	}
	for _, x := range ids {
		x = strings.TrimSpace(x)
		if strings.EqualFold(x, "all") || strings.EqualFold(x, id) {
			return true
		}
	}
	return false
}

// annotationIgnores reports whether o's ignore annotation lists id.
func annotationIgnores(o *Object, id string) bool {
	v, ok := o.Annotations[AnnotationIgnore]
	if !ok {
		return false
	}
	return ruleListed(strings.Split(v, ","), id, false)
}
