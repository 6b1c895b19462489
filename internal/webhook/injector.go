package webhook

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// InjectorUID is the user and group the injected init container runs as: a
// fixed non-root number (distroless' "nonroot"), so that PodSecurity
// `restricted` admits the container on its own, whatever the pod's
// securityContext says.
const InjectorUID = 65532

// Defaults of the injected init container's resources: it copies one
// static binary and exits. With requests and limits set, a namespace with a
// ResourceQuota on requests and limits but no LimitRange admits the pod.
const (
	DefaultInjectorCPURequest    = "10m"
	DefaultInjectorMemoryRequest = "16Mi"
	DefaultInjectorCPULimit      = "100m"
	DefaultInjectorMemoryLimit   = "64Mi"
)

// DefaultInjectorResources returns the injected init container's default
// requests and limits (the Default* quantities above).
func DefaultInjectorResources() corev1.ResourceRequirements {
	const mi = 1 << 20
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(10, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(16*mi, resource.BinarySI),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(100, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(64*mi, resource.BinarySI),
		},
	}
}

// InjectorResources parses the injected init container's requests and
// limits; an empty string leaves that one unset.
func InjectorResources(cpuRequest, memoryRequest, cpuLimit, memoryLimit string) (corev1.ResourceRequirements, error) {
	var r corev1.ResourceRequirements
	for _, q := range []struct {
		list  *corev1.ResourceList
		name  corev1.ResourceName
		value string
	}{
		{&r.Requests, corev1.ResourceCPU, cpuRequest},
		{&r.Requests, corev1.ResourceMemory, memoryRequest},
		{&r.Limits, corev1.ResourceCPU, cpuLimit},
		{&r.Limits, corev1.ResourceMemory, memoryLimit},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return corev1.ResourceRequirements{}, fmt.Errorf("%s %q: %w", q.name, q.value, err)
		}
		if *q.list == nil {
			*q.list = corev1.ResourceList{}
		}
		(*q.list)[q.name] = v
	}
	for name, limit := range r.Limits {
		if req, ok := r.Requests[name]; ok && req.Cmp(limit) > 0 {
			return corev1.ResourceRequirements{}, fmt.Errorf("%s request %s is above its limit %s", name, req.String(), limit.String())
		}
	}
	return r, nil
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidateImage checks that image is pinned: a digest (`…@sha256:<64 hex>`,
// with or without a tag) or a tag other than `latest`. An untagged image
// means `:latest`, and a moving tag would put a different binary into pods
// of the same workload. Empty (injection off) is valid.
func ValidateImage(image string) error {
	if image == "" {
		return nil
	}
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		if !digestRE.MatchString(digest) {
			return fmt.Errorf("image %q: digest %q is not sha256:<64 lowercase hex>", image, digest)
		}
		return nil
	}
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	switch tag {
	case "":
		return fmt.Errorf("image %q has no tag or digest, which means :latest; pin it (name:tag or name@sha256:…)", image)
	case "latest":
		return fmt.Errorf("image %q uses the moving tag latest; pin it (name:tag or name@sha256:…)", image)
	}
	return nil
}

// initContainer returns the injected init container: it copies zerodrop into
// the shared emptyDir and exits. Its securityContext passes PodSecurity
// `restricted` on its own (non-root with a numeric UID, no privilege
// escalation, every capability dropped, RuntimeDefault seccomp, read-only
// root filesystem); it writes only to the emptyDir.
func initContainer(cfg DrainInjection) corev1.Container {
	uid := int64(InjectorUID)
	yes, no := true, false
	res := DefaultInjectorResources()
	if cfg.Resources != nil {
		res = *cfg.Resources
	}
	return corev1.Container{
		Name:            InitContainer,
		Image:           cfg.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{cfg.BinaryInImage, "install", BinPath},
		VolumeMounts:    []corev1.VolumeMount{{Name: BinVolume, MountPath: BinDir}},
		Resources:       res,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             &yes,
			RunAsUser:                &uid,
			RunAsGroup:               &uid,
			AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem:   &yes,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}
