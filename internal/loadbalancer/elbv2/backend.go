package elbv2

import (
	"strings"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

// BackendField names the API field a backend comes from, for error messages.
const BackendField = "spec.backend"

// TargetGroupARN is a parsed target group ARN.
type TargetGroupARN = v1alpha1.TargetGroupARN

// ParseTargetGroupARN parses a target group ARN; ok is false when s is not
// one.
func ParseTargetGroupARN(s string) (TargetGroupARN, bool) { return v1alpha1.ParseTargetGroupARN(s) }

// isARN reports whether a backend is meant as an ARN (whether or not it
// parses).
func isARN(backend string) bool { return strings.HasPrefix(backend, "arn:") }

// ValidateBackend checks a binding's backend for an ELBv2 load balancer in
// region: a target group ARN of that region, or a target group name (the
// API's rule, v1alpha1.LoadBalancerSpec.ValidateBackend). The error names
// the field (BackendField), so the reconciler can report it as it is.
func ValidateBackend(region, backend string) error {
	return v1alpha1.LoadBalancerSpec{ELBv2: &v1alpha1.ELBv2LoadBalancer{Region: region}}.ValidateBackend(backend)
}
