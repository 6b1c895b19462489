package elbv2

import (
	"fmt"
	"regexp"
	"strings"
)

// targetGroupARNPattern matches a target group's ARN:
// arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>.
var targetGroupARNPattern = regexp.MustCompile(`^arn:(aws[-a-z]*):elasticloadbalancing:([a-z0-9-]+):([0-9]{12}):targetgroup/([A-Za-z0-9-]{1,32})/([0-9a-f]{16})$`)

// targetGroupNamePattern matches a target group's name: 1 to 32 letters,
// digits and hyphens, not starting or ending with a hyphen.
var targetGroupNamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$`)

// BackendField names the API field a backend comes from, for error messages.
const BackendField = "spec.backend"

// TargetGroupARN is a parsed target group ARN.
type TargetGroupARN struct {
	Partition, Region, Account, Name, ID string
}

// String returns the ARN.
func (a TargetGroupARN) String() string {
	return "arn:" + a.Partition + ":elasticloadbalancing:" + a.Region + ":" + a.Account + ":targetgroup/" + a.Name + "/" + a.ID
}

// ParseTargetGroupARN parses a target group ARN; ok is false when s is not
// one.
func ParseTargetGroupARN(s string) (TargetGroupARN, bool) {
	m := targetGroupARNPattern.FindStringSubmatch(s)
	if m == nil {
		return TargetGroupARN{}, false
	}
	return TargetGroupARN{Partition: m[1], Region: m[2], Account: m[3], Name: m[4], ID: m[5]}, true
}

// isARN reports whether a backend is meant as an ARN (whether or not it
// parses).
func isARN(backend string) bool { return strings.HasPrefix(backend, "arn:") }

// ValidateBackend checks a binding's backend for an ELBv2 load balancer in
// region: a target group ARN of that region, or a target group name. The
// error names the field (BackendField), so the reconciler can report it as
// it is.
func ValidateBackend(region, backend string) error {
	if isARN(backend) {
		a, ok := ParseTargetGroupARN(backend)
		if !ok {
			return fmt.Errorf("%s %q is not a target group ARN (arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>)", BackendField, backend)
		}
		if a.Region != region {
			return fmt.Errorf("%s %q is a target group of region %s, but the load balancer is in region %s", BackendField, backend, a.Region, region)
		}
		return nil
	}
	if !targetGroupNamePattern.MatchString(backend) {
		return fmt.Errorf("%s %q is neither a target group ARN nor a target group name (1 to 32 letters, digits and hyphens, not starting or ending with a hyphen)", BackendField, backend)
	}
	if strings.HasPrefix(strings.ToLower(backend), "internal-") {
		return fmt.Errorf("%s %q: target group names cannot start with \"internal-\"", BackendField, backend)
	}
	return nil
}
