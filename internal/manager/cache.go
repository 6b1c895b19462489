package manager

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cacheOptions trims what the controller caches: no object keeps its
// managedFields, and a Pod keeps only what the reconcilers, the drain
// endpoint and their reports read (labels, ports, readiness gates, preStop
// handlers, node, grace period, IPs, phase, conditions), not its volumes,
// environment, resources or container statuses. Every pod write of the
// controller is a patch of status conditions, never an update of a cached
// object, so nothing trimmed here is ever written back.
func cacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Transform: trimPod},
		},
	}
}

// trimPod is the Pod cache's transform (see cacheOptions).
func trimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone: leave it to the informer
	}
	pod.ManagedFields = nil
	pod.Spec.Volumes = nil
	pod.Spec.EphemeralContainers = nil
	trimContainers(pod.Spec.InitContainers)
	trimContainers(pod.Spec.Containers)
	pod.Status.ContainerStatuses = nil
	pod.Status.InitContainerStatuses = nil
	pod.Status.EphemeralContainerStatuses = nil
	return pod, nil
}

// trimContainers drops what no reconciler reads from containers.
func trimContainers(cs []corev1.Container) {
	for i := range cs {
		c := &cs[i]
		c.Env, c.EnvFrom, c.VolumeMounts, c.VolumeDevices = nil, nil, nil, nil
		c.Resources, c.ResizePolicy = corev1.ResourceRequirements{}, nil
		c.Command, c.Args = nil, nil
		c.LivenessProbe, c.StartupProbe = nil, nil
		c.SecurityContext = nil
	}
}
