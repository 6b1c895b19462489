package controller

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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
// as it is, a name through the pod's container ports; an unset targetPort
// means the Service port's own number.
func PodTargetPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal == 0:
		return sp.Port, true
	case tp.Type == intstr.Int:
		return tp.IntVal, true
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == tp.StrVal && (p.Protocol == "" || p.Protocol == sp.Protocol || sp.Protocol == "") {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
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

// WantsTarget reports whether a selected pod should be a target now. With
// the gate on, a pod is registered as soon as it has an IP and is not
// leaving (pre-registration: health checks keep traffic off it until it
// answers). With the gate off (a plain endpoint sync) it must be Ready.
func WantsTarget(pod *corev1.Pod, gate bool) bool {
	if pod.DeletionTimestamp != nil || pod.Status.PodIP == "" {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return gate || PodConditionTrue(pod, corev1.PodReady)
}

// PodConditionTrue reports whether the pod's condition t is True.
func PodConditionTrue(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// HasReadinessGate reports whether the pod's spec carries the gate t.
func HasReadinessGate(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, g := range pod.Spec.ReadinessGates {
		if g.ConditionType == t {
			return true
		}
	}
	return false
}
