package webhook

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestValidateImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		image   string
		wantErr bool
	}{
		{"", false},
		{"ghcr.io/zerodrop/zerodrop:v0.3.1", false},
		{"ghcr.io/zerodrop/zerodrop@" + digest, false},
		{"ghcr.io/zerodrop/zerodrop:v0.3.1@" + digest, false},
		{"localhost:5000/zerodrop:v1", false},
		{"ghcr.io/zerodrop/zerodrop", true},
		{"localhost:5000/zerodrop", true},
		{"ghcr.io/zerodrop/zerodrop:latest", true},
		{"ghcr.io/zerodrop/zerodrop@sha256:abc", true},
		{"ghcr.io/zerodrop/zerodrop@md5:" + strings.Repeat("ab", 32), true},
	}
	for _, tt := range tests {
		if err := ValidateImage(tt.image); (err != nil) != tt.wantErr {
			t.Errorf("ValidateImage(%q) = %v, want error %v", tt.image, err, tt.wantErr)
		}
	}
}

func TestInjectorResources(t *testing.T) {
	got, err := InjectorResources(DefaultInjectorCPURequest, DefaultInjectorMemoryRequest, DefaultInjectorCPULimit, DefaultInjectorMemoryLimit)
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultInjectorResources()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if g, w := got.Requests[name], def.Requests[name]; g.Cmp(w) != 0 {
			t.Errorf("%s request: flags default %s, DefaultInjectorResources %s", name, g.String(), w.String())
		}
		if g, w := got.Limits[name], def.Limits[name]; g.Cmp(w) != 0 {
			t.Errorf("%s limit: flags default %s, DefaultInjectorResources %s", name, g.String(), w.String())
		}
	}
	if r, err := InjectorResources("", "32Mi", "", ""); err != nil || len(r.Requests) != 1 || r.Limits != nil {
		t.Errorf("only a memory request: %+v, %v", r, err)
	}
	for _, bad := range [][4]string{{"ten", "", "", ""}, {"200m", "", "100m", ""}} {
		if _, err := InjectorResources(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("InjectorResources(%q) accepted", bad)
		}
	}
}
