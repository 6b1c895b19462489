package lint

import (
	"fmt"
	"strings"
)

// Severity ranks findings. Higher is worse.
type Severity int

// Severities, from least to most severe.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityError
)

// String returns the lower-case name of s.
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity parses "info", "warning" or "error" (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "info":
		return SeverityInfo, nil
	case "warning", "warn":
		return SeverityWarning, nil
	case "error":
		return SeverityError, nil
	}
	return 0, fmt.Errorf("unknown severity %q: want info, warning or error", s)
}

// MarshalText renders s by name, for JSON and YAML.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ObjectRef names a Kubernetes object.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// String renders the reference as Kind/namespace/name.
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Location is where an object (or one of its fields) was read from: a file
// and 1-based line, or for live objects a cluster URI and line 0.
type Location struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
}

// String renders file:line.
func (l Location) String() string {
	if l.Line > 0 {
		return fmt.Sprintf("%s:%d", l.File, l.Line)
	}
	return l.File
}

// Finding is one rule violation on one object.
type Finding struct {
	RuleID   string    `json:"ruleId"`
	Severity Severity  `json:"severity"`
	Title    string    `json:"title"`
	Message  string    `json:"message"`
	Object   ObjectRef `json:"object"`
	Location Location  `json:"location"`
	// Fix is a YAML patch snippet using the object's own names and the
	// computed numbers.
	Fix     string `json:"fix,omitempty"`
	HelpURI string `json:"helpUri"`
}

// InputError is input that could not be read or decoded. Other inputs are
// still checked.
type InputError struct {
	Location Location `json:"location"`
	Message  string   `json:"message"`
}

// Error renders file:line: message.
func (e InputError) Error() string { return e.Location.String() + ": " + e.Message }
