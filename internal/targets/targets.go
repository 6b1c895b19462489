// Package targets decides which pods a TargetBinding targets and at which
// address. It is the one place that answers "does this binding want this
// pod on its load balancer, and where?": the reconciler, its watches, the
// pod webhook and the drain endpoint all ask it, so they cannot disagree.
// Everything here is pure: no API calls, no load-balancer calls.
package targets

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// Selection is what a binding selects through its Service: the pods the
// Service's selector matches, on the Service port the binding names.
type Selection struct {
	// Selector matches the selected pods; a Service without a selector
	// selects nothing (its endpoints are someone else's to manage).
	Selector labels.Selector
	// Port is the Service port the binding names.
	Port *corev1.ServicePort
}

// Resolve returns what a binding whose serviceRef is ref selects through
// svc. It fails when the Service has no such port.
func Resolve(svc *corev1.Service, ref v1alpha1.ServiceReference) (Selection, error) {
	sp, err := ResolveServicePort(svc, ref.Port)
	if err != nil {
		return Selection{}, err
	}
	return Selection{Selector: SelectorOf(svc), Port: sp}, nil
}

// SelectorOf returns the selector of svc; a Service without one selects
// nothing.
func SelectorOf(svc *corev1.Service) labels.Selector {
	if len(svc.Spec.Selector) == 0 {
		return labels.Nothing()
	}
	return labels.SelectorFromSet(svc.Spec.Selector)
}

// Selects reports whether the Service selects the pod.
func (s Selection) Selects(pod *corev1.Pod) bool {
	return s.Selector != nil && s.Selector.Matches(labels.Set(pod.Labels))
}

// Address returns the pod's target address on the selected port, if the
// pod has an IP and the port resolves for it.
func (s Selection) Address(pod *corev1.Pod) (netip.AddrPort, bool) {
	return PodAddress(pod, s.Port)
}

// ResolveServicePort finds the Service port a binding names, by number or
// by name.
func ResolveServicePort(svc *corev1.Service, port intstr.IntOrString) (*corev1.ServicePort, error) {
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if port.Type == intstr.String && sp.Name == port.StrVal ||
			port.Type == intstr.Int && sp.Port == port.IntVal {
			return sp, nil
		}
	}
	return nil, fmt.Errorf("service %s/%s has no port %s", svc.Namespace, svc.Name, port.String())
}

// PodTargetPort resolves a Service port's targetPort for one pod: a number
// as it is, a name through the pod's container ports (native sidecars
// included, since they serve traffic like any container); an unset
// targetPort means the Service port's own number.
func PodTargetPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal == 0:
		return sp.Port, true
	case tp.Type == intstr.Int:
		return tp.IntVal, true
	}
	for _, c := range ServingContainers(pod) {
		for _, p := range c.Ports {
			if p.Name == tp.StrVal && (p.Protocol == "" || p.Protocol == sp.Protocol || sp.Protocol == "") {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

// ServingContainers returns the pod's containers that can serve traffic:
// its regular containers and its native sidecars (init containers with
// restartPolicy Always, which run for the pod's whole life).
func ServingContainers(pod *corev1.Pod) []*corev1.Container {
	out := make([]*corev1.Container, 0, len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; IsNativeSidecar(c) {
			out = append(out, c)
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// IsNativeSidecar reports whether an init container is a native sidecar.
func IsNativeSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// PodAddress returns the pod's target address for the Service port, if the
// pod has an IP and the port resolves.
func PodAddress(pod *corev1.Pod, sp *corev1.ServicePort) (netip.AddrPort, bool) {
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil {
		return netip.AddrPort{}, false
	}
	port, ok := PodTargetPort(pod, sp)
	if !ok || port <= 0 || port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}

// Wanted reports whether a selected pod should be in service on the load
// balancer now.
//
// With the gate on (gate true, named gateType), a pod is wanted as soon as
// it has an IP and is not leaving (pre-registration: health checks keep
// traffic off it until it answers). Once its gate is True the pod has been
// in service, and from then on its own readiness counts again: a pod whose
// containers turn not ready at runtime (ContainersReady False) is not
// wanted, so it is drained on every instance, and it is wanted again when
// they are ready. With the gate off (a plain endpoint sync) a pod must be
// Ready.
func Wanted(pod *corev1.Pod, gate bool, gateType string) bool {
	if pod.DeletionTimestamp != nil || pod.Status.PodIP == "" {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if !gate {
		return ConditionTrue(pod, corev1.PodReady)
	}
	if ConditionTrue(pod, corev1.PodConditionType(gateType)) && ConditionFalse(pod, corev1.ContainersReady) {
		return false
	}
	return true
}

// ConditionTrue reports whether the pod's condition t is True.
func ConditionTrue(pod *corev1.Pod, t corev1.PodConditionType) bool {
	return conditionStatus(pod, t) == corev1.ConditionTrue
}

// ConditionFalse reports whether the pod's condition t is present and
// False (absent or Unknown is not False).
func ConditionFalse(pod *corev1.Pod, t corev1.PodConditionType) bool {
	return conditionStatus(pod, t) == corev1.ConditionFalse
}

func conditionStatus(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// HasReadinessGate reports whether the pod's spec carries the gate t.
func HasReadinessGate(pod *corev1.Pod, t string) bool {
	for _, g := range pod.Spec.ReadinessGates {
		if string(g.ConditionType) == t {
			return true
		}
	}
	return false
}

// GateDue reports whether the pod carries the gate and it is not True yet.
func GateDue(pod *corev1.Pod, gate string) bool {
	return HasReadinessGate(pod, gate) && !ConditionTrue(pod, corev1.PodConditionType(gate))
}
