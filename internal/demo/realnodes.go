package demo

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/internal/image"
	"github.com/zerodrop/zerodrop/internal/localcluster/podapp"
)

// Files of the real nodes' images, as `make demo-real` writes them into
// bin/ and BuildRealNodeImages into its directory.
const (
	PodAppImageFile   = "podapp-image.tar"
	InjectorImageFile = "zerodrop-demo-image.tar"
)

// RealNodeImages returns the paths of the real nodes' images in dir.
func RealNodeImages(dir string) []string {
	return []string{filepath.Join(dir, PodAppImageFile), filepath.Join(dir, InjectorImageFile)}
}

// BuildRealNodeImages builds, for this machine's platform, the images real
// nodes run: podapp (the app, the sandboxes' pause and the static recipe's
// sleep) and zerodrop as InjectorImage (the injected init container copies
// it into pods), from the module in moduleDir into dir, and returns their
// paths (RealNodeImages).
func BuildRealNodeImages(ctx context.Context, moduleDir, dir string) ([]string, error) {
	paths := RealNodeImages(dir)
	for _, o := range []image.Options{
		{Package: podapp.Package, InImage: podapp.BinaryPath, Ref: podapp.Image, Output: paths[0]},
		{Package: "./cmd/zerodrop", Ref: InjectorImage, Output: paths[1]},
	} {
		o.Dir = moduleDir
		o.Platforms = []image.Platform{{OS: runtime.GOOS, Arch: runtime.GOARCH}}
		o.Created = time.Unix(0, 0).UTC()
		if _, err := image.Build(ctx, o); err != nil {
			return nil, fmt.Errorf("building the %s image: %w", o.Ref, err)
		}
	}
	return paths, nil
}

// ForRealNodes turns a mode's objects built for virtual nodes into the same
// for real ones: the app container runs podapp (the app annotations reach
// it through downward-API environment variables, the image is never
// pulled), and the static recipe's `sleep` preStop is podapp's own (the
// image has no shell and no sleep).
func ForRealNodes(objs Objects) {
	spec := &objs.Deployment.Spec.Template.Spec
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.Image = podapp.Image
		c.ImagePullPolicy = corev1.PullNever
		var ports []string
		for _, p := range c.Ports {
			if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
				ports = append(ports, strconv.Itoa(int(p.ContainerPort)))
			}
		}
		c.Args = []string{podapp.CommandServe, "--ports=" + strings.Join(ports, ",")}
		c.Env = append(c.Env, corev1.EnvVar{Name: podapp.EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
		var keys []string
		env := podapp.AnnotationEnv()
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c.Env = append(c.Env, corev1.EnvVar{Name: env[k], ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + k + "']"}}})
		}
		if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Exec != nil {
			if cmd := h.PreStop.Exec.Command; len(cmd) > 0 && cmd[0] == podapp.CommandSleep {
				h.PreStop.Exec.Command = append([]string{podapp.BinaryPath}, cmd...)
			}
		}
	}
}

// NodeSummary names the nodes' kubelet and container runtime versions as
// the nodes report them, and runc's version.
func (e *Environment) NodeSummary(ctx context.Context) (string, error) {
	nodes, err := e.Cluster.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing nodes: %w", err)
	}
	count := map[string]int{}
	for _, n := range nodes.Items {
		info := n.Status.NodeInfo
		count[fmt.Sprintf("kubelet %s, runtime %s", info.KubeletVersion, info.ContainerRuntimeVersion)]++
	}
	var parts []string
	for k, n := range count {
		parts = append(parts, fmt.Sprintf("%d × %s", n, k))
	}
	sort.Strings(parts)
	out := strings.Join(parts, "; ")
	if v, err := exec.CommandContext(ctx, "runc", "--version").Output(); err == nil {
		out += ", OCI runtime " + strings.SplitN(strings.TrimSpace(string(v)), "\n", 2)[0]
	}
	return out, nil
}
