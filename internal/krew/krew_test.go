package krew

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func release(version string) Release {
	r := Release{Version: version}
	for _, p := range [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}} {
		r.Archives = append(r.Archives, Archive{OS: p[0], Arch: p[1], Name: ArchiveName(version, p[0], p[1]), Sha256: strings.Repeat("ab", 32)})
	}
	return r
}

func TestRender_theRepositorysManifestIsValidForKrew(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "plugins", "zerodrop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(tmpl, release("v0.1.0"))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	p, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Platforms) != 4 || p.Spec.Platforms[0].URI != "https://github.com/zerodrop/zerodrop/releases/download/v0.1.0/kubectl-zerodrop_v0.1.0_linux_amd64.tar.gz" ||
		p.Spec.Platforms[0].Bin != Binary || p.Spec.Platforms[0].Selector.MatchLabels["os"] != "linux" {
		t.Errorf("rendered platforms %+v", p.Spec.Platforms)
	}
	if _, err := Render(tmpl, release("56d5adf-dirty")); err == nil {
		t.Error("Render accepted a version that is not a v-prefixed semantic version")
	}
}

func TestValidate(t *testing.T) {
	valid := func() Plugin {
		var p Plugin
		p.APIVersion, p.Kind, p.Metadata.Name = APIVersion, Kind, PluginName
		p.Spec = PluginSpec{Version: "v0.1.0", ShortDescription: "short", Platforms: []Platform{{
			URI: "https://example.com/a.tar.gz", Sha256: strings.Repeat("0", 64), Bin: Binary,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"os": "linux"}}}}}
		return p
	}
	for _, tc := range []struct {
		name string
		mod  func(*Plugin)
		want string // "" valid
	}{
		{"valid", func(*Plugin) {}, ""},
		{"apiVersion", func(p *Plugin) { p.APIVersion = "krew.googlecontainertools.github.com/v1alpha1" }, "apiVersion"},
		{"kind", func(p *Plugin) { p.Kind = "Plugins" }, "kind"},
		{"name", func(p *Plugin) { p.Metadata.Name = "other" }, "should be named"},
		{"short description with a line break", func(p *Plugin) { p.Spec.ShortDescription = "a\nb" }, "line breaks"},
		{"no platform", func(p *Plugin) { p.Spec.Platforms = nil }, "platform"},
		{"version without v", func(p *Plugin) { p.Spec.Version = "0.1.0" }, "'v'"},
		{"bad sha256", func(p *Plugin) { p.Spec.Platforms[0].Sha256 = "XYZ" }, "sha256"},
		{"no bin", func(p *Plugin) { p.Spec.Platforms[0].Bin = "" }, "bin"},
		{"no selector", func(p *Plugin) { p.Spec.Platforms[0].Selector = nil }, "selector"},
		{"selector key", func(p *Plugin) { p.Spec.Platforms[0].Selector.MatchLabels["distro"] = "debian" }, "distro"},
		{"empty files", func(p *Plugin) { p.Spec.Platforms[0].Files = []FileOperation{} }, "files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := valid()
			tc.mod(&p)
			err := Validate(PluginName, p)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
