package elbv2emu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestEmulator_DescribeTargetHealth_notInUse: the targets of a group on no
// load balancer are unused/NotInUse until it is attached; a target listed
// but never registered is unused/NotRegistered.
func TestEmulator_DescribeTargetHealth_notInUse(t *testing.T) {
	e := startEmulator(t, Config{})
	c := newClient(t, e, clientOptions{})
	arn := testGroup(t, e, TargetGroupSpec{})
	b := startBackend(t, 1, "b", 200)
	register(t, c, arn, b)
	time.Sleep(testInterval * (testRise + 2))
	notInUse := observation{types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotInUse}
	if o, _ := healthOfTarget(t, c, arn, b.target()); o != notInUse {
		t.Errorf("target of a detached group: %v, want %v", o, notInUse)
	}
	e.SetAttached(arn, true)
	waitFor(t, c, arn, b.target(), healthy)
	stranger := types.TargetDescription{Id: aws.String("127.46.0.99"), Port: aws.Int32(80)}
	if o, _ := healthOfTarget(t, c, arn, stranger); o != notRegistred {
		t.Errorf("target never registered: %v, want %v", o, notRegistred)
	}
}

// TestEmulator_errors: error codes reach the SDK as its typed errors or
// with their codes.
func TestEmulator_errors(t *testing.T) {
	e := startEmulator(t, Config{})
	c := newClient(t, e, clientOptions{})
	arn := testGroup(t, e, TargetGroupSpec{Name: "errors", Attached: true})
	unknown := strings.Replace(arn, "targetgroup/errors/", "targetgroup/gone/", 1)
	target := func(id string, port int32) []types.TargetDescription {
		return []types.TargetDescription{{Id: aws.String(id), Port: aws.Int32(port)}}
	}
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		// typed is a pointer to the SDK's error type wanted, or nil.
		typed any
		code  string
	}{
		{"health of an unknown group", func() error {
			_, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(unknown)})
			return err
		}, new(*types.TargetGroupNotFoundException), CodeTargetGroupNotFound},
		{"describe an unknown name", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"errors", "nope"}})
			return err
		}, new(*types.TargetGroupNotFoundException), CodeTargetGroupNotFound},
		{"describe an unknown ARN", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{unknown}})
			return err
		}, new(*types.TargetGroupNotFoundException), CodeTargetGroupNotFound},
		{"attributes of an unknown group", func() error {
			_, err := c.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(unknown)})
			return err
		}, new(*types.TargetGroupNotFoundException), CodeTargetGroupNotFound},
		{"register into an unknown group", func() error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(unknown), Targets: target("127.46.0.1", 80)})
			return err
		}, new(*types.TargetGroupNotFoundException), CodeTargetGroupNotFound},
		{"register a name, not an IP", func() error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: target("i-0123456789abcdef0", 80)})
			return err
		}, new(*types.InvalidTargetException), CodeInvalidTarget},
		{"register an IP outside the VPC", func() error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: target("10.0.0.1", 80)})
			return err
		}, new(*types.InvalidTargetException), CodeInvalidTarget},
		{"register a port out of range", func() error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: target("127.46.0.1", 70000)})
			return err
		}, new(*types.InvalidTargetException), CodeInvalidTarget},
		{"deregister an invalid IP", func() error {
			_, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: target("::1", 80)})
			return err
		}, new(*types.InvalidTargetException), CodeInvalidTarget},
		{"page size out of range", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(401)})
			return err
		}, nil, CodeValidationError},
		{"a marker that is not ours", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Marker: aws.String("bogus")})
			return err
		}, nil, CodeValidationError},
		{"names and ARNs together", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"errors"}, TargetGroupArns: []string{arn}})
			return err
		}, nil, CodeValidationError},
		{"a malformed ARN", func() error {
			_, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String("errors")})
			return err
		}, nil, CodeValidationError},
		{"an unknown load balancer", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0")})
			return err
		}, new(*types.LoadBalancerNotFoundException), CodeLoadBalancerNotFound},
		{"delete an attached group", func() error {
			_, err := c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)})
			return err
		}, new(*types.ResourceInUseException), CodeResourceInUse},
		{"a client signing for another region", func() error {
			_, err := newClient(t, e, clientOptions{region: "eu-west-1"}).DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
			return err
		}, nil, CodeSignatureDoesNotMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatalf("no error, want %s", tt.code)
			}
			if got := errorCode(err); got != tt.code {
				t.Errorf("error code %q, want %q (%v)", got, tt.code, err)
			}
			if tt.typed != nil && !errors.As(err, tt.typed) {
				t.Errorf("error %v is not a %T", err, tt.typed)
			}
		})
	}
	// Deregistering a target that is not registered succeeds.
	if _, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: target("127.46.0.9", 80)}); err != nil {
		t.Errorf("deregister an unknown target: %v", err)
	}
}

// TestEmulator_DescribeTargetGroups: pages of PageSize in order of
// creation, filters by name and load balancer, and the attributes.
func TestEmulator_DescribeTargetGroups(t *testing.T) {
	e := startEmulator(t, Config{})
	c := newClient(t, e, clientOptions{})
	var names []string
	var arnList []string
	for i := range 5 {
		name := fmt.Sprintf("page-%d", i)
		names = append(names, name)
		arnList = append(arnList, testGroup(t, e, TargetGroupSpec{Name: name, Attached: i == 0, LBType: LBNetwork, ConnectionTermination: true, DeregistrationDelay: 1500 * time.Millisecond}))
	}
	p := elbv2.NewDescribeTargetGroupsPaginator(c, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(2)})
	var got []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		for _, g := range out.TargetGroups {
			got = append(got, aws.ToString(g.TargetGroupName))
		}
		if pages > 10 {
			t.Fatal("more than 10 pages")
		}
	}
	if pages != 3 || !slices.Equal(got, names) {
		t.Errorf("%d pages of %v, want 3 pages of %v", pages, got, names)
	}

	out, err := c.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{Names: []string{"page-3", "page-1"}})
	if err != nil {
		t.Fatalf("by names: %v", err)
	}
	if len(out.TargetGroups) != 2 || aws.ToString(out.TargetGroups[0].TargetGroupArn) != arnList[1] {
		t.Errorf("by names: %d groups, first %v; want page-1 then page-3", len(out.TargetGroups), aws.ToString(out.TargetGroups[0].TargetGroupName))
	}
	g := out.TargetGroups[0]
	if g.TargetType != types.TargetTypeEnumIp || g.Protocol != types.ProtocolEnumTcp || aws.ToInt32(g.HealthCheckIntervalSeconds) != 1 ||
		aws.ToInt32(g.HealthyThresholdCount) != testRise || aws.ToString(g.HealthCheckPath) != "/healthz" || len(g.LoadBalancerArns) != 0 {
		t.Errorf("group page-1 reads %+v", g)
	}

	first, err := c.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{TargetGroupArns: arnList[:1]})
	if err != nil || len(first.TargetGroups) != 1 || len(first.TargetGroups[0].LoadBalancerArns) != 1 {
		t.Fatalf("attached group: %v, %+v", err, first)
	}
	lb := first.TargetGroups[0].LoadBalancerArns[0]
	byLB, err := c.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(lb)})
	if err != nil || len(byLB.TargetGroups) != 1 || aws.ToString(byLB.TargetGroups[0].TargetGroupArn) != arnList[0] {
		t.Errorf("by load balancer %s: %v, %+v", lb, err, byLB)
	}

	attrs, err := c.DescribeTargetGroupAttributes(context.Background(), &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arnList[0])})
	if err != nil {
		t.Fatalf("attributes: %v", err)
	}
	want := map[string]string{"deregistration_delay.timeout_seconds": "2", "deregistration_delay.connection_termination.enabled": "true"}
	for _, a := range attrs.Attributes {
		if v, ok := want[aws.ToString(a.Key)]; ok {
			if aws.ToString(a.Value) != v {
				t.Errorf("attribute %s = %q, want %q", aws.ToString(a.Key), aws.ToString(a.Value), v)
			}
			delete(want, aws.ToString(a.Key))
		}
	}
	if len(want) > 0 {
		t.Errorf("attributes missing: %v", want)
	}
}

// TestEmulator_CreateTargetGroup: the Query API's CreateTargetGroup and
// DeleteTargetGroup.
func TestEmulator_CreateTargetGroup(t *testing.T) {
	e := startEmulator(t, Config{})
	c := newClient(t, e, clientOptions{})
	ctx := context.Background()
	out, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("api-made"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-1"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-made/") || e.FrontendURL(arn) == "" {
		t.Errorf("ARN %q, frontend %q", arn, e.FrontendURL(arn))
	}
	if _, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("api-made"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp}); !errors.As(err, new(*types.DuplicateTargetGroupNameException)) {
		t.Errorf("second group with the same name: %v, want DuplicateTargetGroupName", err)
	}
	if _, err := c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)}); err != nil {
		t.Fatalf("DeleteTargetGroup: %v", err)
	}
	if _, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)}); !errors.As(err, new(*types.TargetGroupNotFoundException)) {
		t.Errorf("deleted group: %v, want TargetGroupNotFound", err)
	}
}

// TestEmulator_Throttle: with Config.Throttle, calls beyond the buckets are
// refused with Throttling, counted, and retried by the SDK's standard
// retryer until they pass.
func TestEmulator_Throttle(t *testing.T) {
	e := startEmulator(t, Config{Throttle: true})
	c := newClient(t, e, clientOptions{maxAttempts: 20})
	arn := testGroup(t, e, TargetGroupSpec{Attached: true})
	// A few callers, each making its calls one after the other, as a
	// controller's workers do.
	const describes, registrations, workers = 50, 26, 4
	calls := make(chan int, describes+registrations)
	for i := range describes + registrations {
		calls <- i
	}
	close(calls)
	var wg sync.WaitGroup
	errs := make(chan error, describes+registrations)
	for range workers {
		wg.Go(func() {
			for i := range calls {
				var err error
				if i%3 != 0 || i >= 3*registrations {
					_, err = c.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
				} else {
					_, err = c.DeregisterTargets(context.Background(), &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn),
						Targets: []types.TargetDescription{{Id: aws.String("127.46.0.9"), Port: aws.Int32(int32(1000 + i))}}})
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call failed despite retries: %v", err)
		}
	}
	arrived := e.Calls()
	total := arrived[actionDescribeTargetHealth] + arrived[actionDeregisterTargets]
	if e.Throttled() == 0 {
		t.Errorf("%d calls in a burst, none throttled", describes+registrations)
	}
	if total != describes+registrations+e.Throttled() {
		t.Errorf("%d calls arrived, want %d successful + %d throttled", total, describes+registrations, e.Throttled())
	}
	// More than the registration bucket's burst of 20 was asked for, so
	// registrations were throttled too.
	if arrived[actionDeregisterTargets] <= registrations {
		t.Errorf("%d DeregisterTargets calls for %d successes: the registration bucket refused none", arrived[actionDeregisterTargets], registrations)
	}
}

// TestEmulator_InjectError: injected 500 and 503 answers are retried by the
// SDK, and fail the call once the retries are used up.
func TestEmulator_InjectError(t *testing.T) {
	e := startEmulator(t, Config{})
	c := newClient(t, e, clientOptions{maxAttempts: 3})
	arn := testGroup(t, e, TargetGroupSpec{Attached: true})
	in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)}
	tests := []struct {
		code     string
		n        int
		status   int
		wantFail bool
	}{
		{CodeInternalFailure, 2, http.StatusInternalServerError, false},
		{CodeServiceUnavailable, 2, http.StatusServiceUnavailable, false},
		{CodeThrottling, 2, http.StatusBadRequest, false},
		{CodeInternalFailure, 3, http.StatusInternalServerError, true},
		{CodeServiceUnavailable, 3, http.StatusServiceUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s×%d", tt.code, tt.n), func(t *testing.T) {
			before := e.Calls()[actionDescribeTargetHealth]
			e.InjectError(actionDescribeTargetHealth, tt.code, tt.n)
			_, err := c.DescribeTargetHealth(context.Background(), in)
			if got := e.Calls()[actionDescribeTargetHealth] - before; got != min(tt.n+1, 3) {
				t.Errorf("%d attempts arrived, want %d", got, min(tt.n+1, 3))
			}
			if !tt.wantFail {
				if err != nil {
					t.Errorf("call failed: %v", err)
				}
				return
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status || errorCode(err) != tt.code {
				t.Errorf("error %v, want %s with status %d", err, tt.code, tt.status)
			}
		})
	}
	e.InjectError(actionDescribeTargetHealth, CodeInternalFailure, 0)
	if _, err := c.DescribeTargetHealth(context.Background(), in); err != nil {
		t.Errorf("after the injections: %v", err)
	}
	if e.Throttled() != 2 {
		t.Errorf("Throttled() = %d, want the 2 injected", e.Throttled())
	}
}

// TestEmulator_ServeHTTP: requests the SDK never sends: missing
// parameters, missing or malformed Authorization, unknown actions.
func TestEmulator_ServeHTTP(t *testing.T) {
	e := startEmulator(t, Config{})
	arn := testGroup(t, e, TargetGroupSpec{Name: "raw"})
	const auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=00"
	tests := []struct {
		name, body, auth string
		status           int
		code             string
	}{
		{"no action", "Version=2015-12-01", auth, 400, CodeMissingAction},
		{"unknown action", "Action=Frobnicate&Version=2015-12-01", auth, 400, CodeInvalidAction},
		{"wrong version", "Action=DescribeTargetGroups&Version=2012-06-01", auth, 400, CodeInvalidAction},
		{"no TargetGroupArn", "Action=DescribeTargetHealth&Version=2015-12-01", auth, 400, CodeValidationError},
		{"unknown group", "Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/0&Targets.member.1.Id=127.0.0.1", auth, 400, CodeTargetGroupNotFound},
		{"no targets", "Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=" + url.QueryEscape(arn), auth, 400, CodeValidationError},
		{"a target without Id", "Action=DeregisterTargets&Version=2015-12-01&Targets.member.1.Port=80&TargetGroupArn=" + url.QueryEscape(arn), auth, 400, CodeValidationError},
		{"a list with a gap", "Action=DescribeTargetGroups&Version=2015-12-01&Names.member.2=x", auth, 400, CodeValidationError},
		{"a parameter twice", "Action=DescribeTargetGroups&Version=2015-12-01&Action=DescribeTargetGroups", auth, 400, CodeMalformedQueryString},
		{"no Authorization", "Action=DescribeTargetGroups&Version=2015-12-01", "", 403, CodeMissingAuthenticationToken},
		{"not SigV4", "Action=DescribeTargetGroups&Version=2015-12-01", "Basic Zm9vOmJhcg==", 403, CodeIncompleteSignature},
		{"another service", "Action=DescribeTargetGroups&Version=2015-12-01", strings.Replace(auth, "elasticloadbalancing", "ec2", 1), 403, CodeSignatureDoesNotMatch},
		{"bad escape", "Action=DescribeTargetGroups&Version=%zz", auth, 400, CodeMalformedQueryString},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, e.Endpoint()+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), "<Code>"+tt.code+"</Code>") || !strings.Contains(string(b), "<RequestId>") {
				t.Errorf("status %d, body %s; want %d with code %s", resp.StatusCode, b, tt.status, tt.code)
			}
		})
	}
}
