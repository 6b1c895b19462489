// Package krew renders and checks the krew plugin manifest of `kubectl
// zerodrop` (plugins/zerodrop.yaml, a text/template filled in by `make
// dist` with the release archives' checksums). Plugin is a minimal copy of
// krew's index.Plugin and Validate ports the rules of krew v0.4.3's
// internal/index/validation: sigs.k8s.io/krew v0.4.3 cannot be a
// dependency here, since it requires k8s.io/client-go v11.0.0+incompatible,
// which Go's version selection would take over client-go v0.37.
package krew

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

// What krew v0.4.3 accepts.
const (
	// APIVersion of a plugin manifest.
	APIVersion = "krew.googlecontainertools.github.com/v1alpha2"
	// Kind of a plugin manifest.
	Kind = "Plugin"
	// PluginName is zerodrop's plugin name: `kubectl krew install
	// zerodrop`, then `kubectl zerodrop`.
	PluginName = "zerodrop"
	// Binary is the executable in every release archive, the name kubectl
	// looks for.
	Binary = "kubectl-zerodrop"
)

// Plugin is a krew plugin manifest (krew's index.Plugin, the fields it
// validates).
type Plugin struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec PluginSpec `json:"spec"`
}

// PluginSpec is the plugin's specification.
type PluginSpec struct {
	Version          string     `json:"version,omitempty"`
	ShortDescription string     `json:"shortDescription,omitempty"`
	Description      string     `json:"description,omitempty"`
	Caveats          string     `json:"caveats,omitempty"`
	Homepage         string     `json:"homepage,omitempty"`
	Platforms        []Platform `json:"platforms,omitempty"`
}

// Platform is one installable archive and the os/arch it is for.
type Platform struct {
	URI      string                `json:"uri,omitempty"`
	Sha256   string                `json:"sha256,omitempty"`
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	Files    []FileOperation       `json:"files,omitempty"`
	Bin      string                `json:"bin"`
}

// FileOperation copies files from the archive into the installation.
type FileOperation struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Decode reads a manifest strictly: an unknown field is an error.
func Decode(data []byte) (Plugin, error) {
	var p Plugin
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return p, fmt.Errorf("decoding the krew manifest: %w", err)
	}
	return p, nil
}

var (
	safePluginName = regexp.MustCompile(`^[\w-]+$`)
	validSHA256    = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// Validate checks p as krew v0.4.3's ValidatePlugin does for a manifest
// named name.
func Validate(name string, p Plugin) error {
	switch {
	case p.APIVersion != APIVersion:
		return fmt.Errorf("plugin manifest has apiVersion=%q, want %q", p.APIVersion, APIVersion)
	case p.Kind != Kind:
		return fmt.Errorf("plugin manifest has kind=%q, want %q", p.Kind, Kind)
	case !safePluginName.MatchString(name):
		return fmt.Errorf("the plugin name %q is not allowed, must match %q", name, safePluginName)
	case p.Metadata.Name != name:
		return fmt.Errorf("plugin should be named %q, not %q", name, p.Metadata.Name)
	case p.Spec.ShortDescription == "":
		return errors.New("should have a short description")
	case strings.ContainsAny(p.Spec.ShortDescription, "\r\n"):
		return errors.New("should not have line breaks in short description")
	case len(p.Spec.Platforms) == 0:
		return errors.New("should have a platform specified")
	case p.Spec.Version == "":
		return errors.New("should have a version specified")
	case !strings.HasPrefix(p.Spec.Version, "v"):
		return fmt.Errorf("version %q does not start with 'v'", p.Spec.Version)
	}
	if _, err := version.ParseSemantic(p.Spec.Version); err != nil {
		return fmt.Errorf("failed to parse plugin version: %w", err)
	}
	for _, pl := range p.Spec.Platforms {
		if err := validatePlatform(pl); err != nil {
			return fmt.Errorf("platform %s is badly constructed: %w", pl.URI, err)
		}
	}
	return nil
}

func validatePlatform(p Platform) error {
	switch {
	case p.URI == "":
		return errors.New("`uri` has to be set")
	case p.Sha256 == "":
		return errors.New("`sha256` sum has to be set")
	case !validSHA256.MatchString(p.Sha256):
		return fmt.Errorf("`sha256` value %s is not valid, must match pattern %s", p.Sha256, validSHA256)
	case p.Bin == "":
		return errors.New("`bin` has to be set")
	case p.Files != nil && len(p.Files) == 0:
		return errors.New("`files` has to be unspecified or non-empty")
	}
	for _, op := range p.Files {
		if op.From == "" || op.To == "" {
			return errors.New("`files`: `from` and `to` have to be set")
		}
	}
	sel := p.Selector
	if sel == nil {
		return errors.New("nil selector is not supported")
	}
	if sel.MatchLabels == nil && len(sel.MatchExpressions) == 0 {
		return errors.New("empty selector is not supported")
	}
	for k := range sel.MatchLabels {
		if k != "os" && k != "arch" {
			return fmt.Errorf("selector key %q not supported", k)
		}
	}
	for _, e := range sel.MatchExpressions {
		if e.Key != "os" && e.Key != "arch" {
			return fmt.Errorf("selector key %q not supported", e.Key)
		}
	}
	return nil
}

// Release is what the manifest template is filled with.
type Release struct {
	// Version is the release's tag ("v0.1.0").
	Version string
	// Archives are the release's archives, one per platform.
	Archives []Archive
}

// Archive is one release archive.
type Archive struct {
	OS, Arch string
	// Name is the archive's file name (ArchiveName).
	Name string
	// Sha256 is its checksum, in hex.
	Sha256 string
}

// ArchiveName is the file name of the release archive for os and arch:
// kubectl-zerodrop_v0.1.0_linux_amd64.tar.gz. It holds Binary at its root.
func ArchiveName(version, os, arch string) string {
	return Binary + "_" + version + "_" + os + "_" + arch + ".tar.gz"
}

// Render fills the manifest template tmpl with r and checks the result.
func Render(tmpl []byte, r Release) ([]byte, error) {
	t, err := template.New("krew").Option("missingkey=error").Parse(string(tmpl))
	if err != nil {
		return nil, fmt.Errorf("parsing the krew manifest template: %w", err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, r); err != nil {
		return nil, fmt.Errorf("filling the krew manifest template: %w", err)
	}
	p, err := Decode(out.Bytes())
	if err != nil {
		return nil, err
	}
	if err := Validate(PluginName, p); err != nil {
		return nil, fmt.Errorf("the rendered krew manifest: %w", err)
	}
	return out.Bytes(), nil
}
