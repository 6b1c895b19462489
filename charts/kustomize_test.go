package charts

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// defaultBase is the kustomize base hack/genchart renders from the chart.
var defaultBase = filepath.Join("..", "config", "default")

// TestKustomize_defaultBaseIsTheChart builds config/default with kustomize
// (its Go module) and finds exactly the chart's objects with default
// values, plus the Namespace the chart leaves to Helm.
func TestKustomize_defaultBaseIsTheChart(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), defaultBase)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", defaultBase, err)
	}
	var got []string
	for _, r := range m.Resources() {
		got = append(got, r.GetKind()+"/"+r.GetNamespace()+"/"+r.GetName())
	}
	want := []string{"Namespace//zerodrop-system"}
	for _, o := range objects(t, render(t, "")) {
		u := toUnstructured(t, o)
		want = append(want, u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kustomize build gives\n%s\nthe chart\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// overlay is docs/install.md's example overlay: another registry, for the
// controller's image and the injected init container's (a flag, which the
// images transformer does not see).
const overlay = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- BASE
images:
- name: ghcr.io/zerodrop/zerodrop
  newName: registry.example/zerodrop
  newTag: v0.1.0
patches:
- target: {kind: Deployment, name: zerodrop-controller}
  patch: |
    - op: test   # fails the build if the flag ever moves
      path: /spec/template/spec/containers/0/args/9
      value: --injector-image=ghcr.io/zerodrop/zerodrop:v0.1.0
    - op: replace
      path: /spec/template/spec/containers/0/args/9
      value: --injector-image=registry.example/zerodrop:v0.1.0
`

// TestKustomize_overlayChangesBothImages proves the documented overlay
// moves the controller and the injected init container to another
// registry, and that the index it patches is the --injector-image flag.
func TestKustomize_overlayChangesBothImages(t *testing.T) {
	base, err := filepath.Abs(defaultBase)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, base) // kustomize takes no absolute resource paths
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(strings.Replace(overlay, "BASE", rel, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone // the base is outside the overlay's directory
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"image: registry.example/zerodrop:v0.1.0", "--injector-image=registry.example/zerodrop:v0.1.0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("overlay output lacks %q", want)
		}
	}
	if strings.Contains(string(out), "ghcr.io/zerodrop/zerodrop") {
		t.Errorf("overlay output still names ghcr.io/zerodrop/zerodrop")
	}
}
