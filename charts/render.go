// Package charts holds zerodrop's Helm chart (zerodrop/) and renders it through Helm's Go module the way `helm template` does: values
// coalesced with the chart's defaults and checked against
// values.schema.json, the chart's kubeVersion checked, templates rendered
// and the manifests sorted in Helm's install order. hack/genchart uses it
// to write the kustomize base (config/default), the tests to render every
// documented combination of values.
package charts

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// Name is the chart's name and its directory under charts/.
const Name = "zerodrop"

// KubeVersion is the Kubernetes version the chart is rendered for: the one
// hack/cluster pins.
const KubeVersion = "v1.37.1"

// Load reads the chart from dir (charts/zerodrop), honouring its
// .helmignore, as helm does.
func Load(dir string) (*chart.Chart, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	return ch, nil
}

// Release says which release the chart is rendered as.
type Release struct {
	Name, Namespace string
}

// Rendered is the output of one rendering.
type Rendered struct {
	// CRDs are the files of the chart's crds/ directory, installed before
	// everything else and never upgraded by Helm.
	CRDs []chart.CRD
	// Manifests are the rendered templates in Helm's install order.
	Manifests []releaseutil.Manifest
	// Notes is the rendered NOTES.txt.
	Notes string
}

// YAML returns every CRD and manifest as one multi-document YAML stream.
func (r Rendered) YAML() string {
	var b strings.Builder
	for _, c := range r.CRDs {
		b.WriteString("---\n")
		b.Write(c.File.Data)
	}
	for _, m := range r.Manifests {
		b.WriteString("---\n# Source: " + m.Name + "\n")
		b.WriteString(strings.TrimSpace(m.Content) + "\n")
	}
	return b.String()
}

// Render renders ch as rel with values over the chart's defaults for
// KubeVersion, as `helm template` would; values that do not meet
// values.schema.json are an error naming the field.
func Render(ch *chart.Chart, rel Release, values map[string]any) (Rendered, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return Rendered{}, err
	}
	caps.KubeVersion = *kv
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, kv.Version) {
		return Rendered{}, fmt.Errorf("chart requires kubeVersion %s, rendering for %s", c, kv.Version)
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return Rendered{}, err
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		return Rendered{}, err
	}
	r := Rendered{CRDs: ch.CRDObjects()}
	for name, content := range out {
		if path.Base(name) == "NOTES.txt" {
			r.Notes = content
			delete(out, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(out, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return Rendered{}, fmt.Errorf("sorting the manifests: %w", err)
	}
	if len(hooks) > 0 {
		return Rendered{}, errors.New("the chart has hooks, which Render does not return")
	}
	r.Manifests = manifests
	return r, nil
}
