package vnode

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPathMapper_mapCommand(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "zerodrop"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "bin", MountPath: "/zerodrop"},
		{Name: "data", MountPath: "/data/"},
	}}
	m := newPathMapper(c, map[string]string{"bin": "/host/bin", "data": "/host/data"}, root)
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"binary under a mount", []string{"/zerodrop/zerodrop", "wait-drained", "--timeout=30s"},
			[]string{"/host/bin/zerodrop", "wait-drained", "--timeout=30s"}},
		{"flag value under a mount", []string{"cp", "--target=/data/x", "/data"}, []string{"cp", "--target=/host/data/x", "/host/data"}},
		{"image root path", []string{"/zerodrop", "install", "/zerodrop/zerodrop"},
			[]string{"/host/bin", "install", "/host/bin/zerodrop"}},
		{"plain commands stay", []string{"sleep", "2"}, []string{"sleep", "2"}},
		{"prefix that is not a path component stays", []string{"/zerodropper"}, []string{"/zerodropper"}},
		{"shell script words", []string{"/bin/sh", "-c", "sleep 1; /zerodrop/zerodrop wait-drained && echo /data/ok"},
			[]string{"/bin/sh", "-c", "sleep 1; /host/bin/zerodrop wait-drained && echo /host/data/ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.mapCommand(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveEnv(t *testing.T) {
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "TIER", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['tier']"}}},
		{Name: "URL", Value: "http://$(POD_IP):8080/$$(x)/$(UNKNOWN)"},
		{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
	}}
	env, skipped := resolveEnv(c, podFields{name: "p", namespace: "ns", podIP: "127.100.0.2", labels: map[string]string{"tier": "web"}})
	got := map[string]string{}
	for _, e := range env {
		got[e.Name] = e.Value
	}
	want := map[string]string{"POD_NAME": "p", "POD_NAMESPACE": "ns", "POD_IP": "127.100.0.2", "TIER": "web",
		"URL": "http://127.100.0.2:8080/$(x)/$(UNKNOWN)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env %v, want %v", got, want)
	}
	if !reflect.DeepEqual(skipped, []string{"SECRET"}) {
		t.Errorf("skipped %v, want [SECRET]", skipped)
	}
}
