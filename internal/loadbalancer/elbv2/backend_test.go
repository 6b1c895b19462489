package elbv2

import (
	"strings"
	"testing"
)

func TestValidateBackend(t *testing.T) {
	const arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/0123456789abcdef"
	cases := []struct {
		backend string
		// wantErr is a substring of the error; "" means valid.
		wantErr string
	}{
		{arn, ""},
		{"arn:aws-cn:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/0123456789abcdef", ""},
		{"arn:aws-us-gov:elasticloadbalancing:eu-west-1:123456789012:targetgroup/a/0123456789abcdef", ""},
		{"shop", ""},
		{"shop-web-8080", ""},
		{"a", ""},
		{strings.Repeat("a", 32), ""},
		{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop/0123456789abcdef", "region us-east-1, but the load balancer is in region eu-west-1 (spec.elbv2.region)"},
		{"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop/0123456789abcdef", "is not a target group ARN"},
		{"arn:aws:elasticloadbalancing:eu-west-1:1234:targetgroup/shop/0123456789abcdef", "is not a target group ARN"},
		{"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/xyz", "is not a target group ARN"},
		{strings.Repeat("a", 33), "neither a target group ARN nor a target group name"},
		{"-shop", "neither"},
		{"shop-", "neither"},
		{"shop_web", "neither"},
		{"shop/web", "neither"},
		{"internal-shop", "cannot start with \"internal-\""},
	}
	for _, c := range cases {
		err := ValidateBackend("eu-west-1", c.backend)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("ValidateBackend(%q) = %v, want nil", c.backend, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("ValidateBackend(%q) = nil, want an error with %q", c.backend, c.wantErr)
		case c.wantErr != "" && (!strings.Contains(err.Error(), c.wantErr) || !strings.HasPrefix(err.Error(), BackendField+" ")):
			t.Errorf("ValidateBackend(%q) = %q, want it to name %s and say %q", c.backend, err, BackendField, c.wantErr)
		}
	}
}

func TestParseTargetGroupARN(t *testing.T) {
	const s = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/0123456789abcdef"
	a, ok := ParseTargetGroupARN(s)
	want := TargetGroupARN{Partition: "aws", Region: "eu-west-1", Account: "123456789012", Name: "shop", ID: "0123456789abcdef"}
	if !ok || a != want {
		t.Fatalf("ParseTargetGroupARN = %+v, %v, want %+v", a, ok, want)
	}
	if a.String() != s {
		t.Errorf("String() = %q, want %q", a.String(), s)
	}
	if _, ok := ParseTargetGroupARN("shop"); ok {
		t.Error("a name parsed as an ARN")
	}
}
