package elbv2emu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Scaled-down health-check timings for tests: a target passes rise checks
// in about half a second.
const (
	testInterval = 150 * time.Millisecond
	testTimeout  = 100 * time.Millisecond
	testRise     = 3
	testFall     = 2
	// waitBound bounds every wait for a state.
	waitBound = 15 * time.Second
	pollEvery = 30 * time.Millisecond
)

// startEmulator starts an emulator in a test directory and closes it at
// the end of the test.
func startEmulator(t *testing.T, cfg Config) *Emulator {
	t.Helper()
	cfg.Dir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// clientOptions tune the SDK client of a test.
type clientOptions struct {
	region      string
	maxAttempts int
}

// newClient returns the real SDK client, configured the way a provider
// configures it (LoadDefaultConfig, BaseEndpoint), with static credentials,
// no shared files, and the SDK's standard retryer with a short maximum
// back-off and no client-side retry quota.
func newClient(t *testing.T, e *Emulator, o clientOptions) *elbv2.Client {
	t.Helper()
	if o.region == "" {
		o.region = e.Region()
	}
	if o.maxAttempts == 0 {
		o.maxAttempts = retry.DefaultMaxAttempts
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(o.region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEMULATOR", "not-checked", "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.maxAttempts
				so.MaxBackoff = 200 * time.Millisecond
				so.RateLimiter = ratelimit.None
			})
		}),
	)
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	return elbv2.NewFromConfig(cfg, func(eo *elbv2.Options) { eo.BaseEndpoint = aws.String(e.Endpoint()) })
}

// testGroup creates an attached ALB target group with the test timings.
func testGroup(t *testing.T, e *Emulator, spec TargetGroupSpec) string {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "tg-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
		spec.Name = spec.Name[:min(len(spec.Name), 32)]
		spec.Name = strings.TrimRight(spec.Name, "-")
	}
	if spec.Port == 0 {
		spec.Port = 8080
	}
	spec.HealthCheckPath = "/healthz"
	spec.HealthCheckInterval, spec.HealthCheckTimeout = testInterval, testTimeout
	spec.HealthyThreshold, spec.UnhealthyThreshold = testRise, testFall
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arn, err := e.CreateTargetGroup(ctx, spec)
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	return arn
}

// backend is a real HTTP server standing in for a pod: /healthz answers
// with its health status, /hold blocks until release is closed, anything
// else answers with its name.
type backend struct {
	name    string
	addr    netip.AddrPort
	health  atomic.Int32
	release chan struct{}
	held    atomic.Int32
}

// startBackend serves a backend on 127.46.0.<host> (a free port) until the
// end of the test.
func startBackend(t *testing.T, host byte, name string, healthStatus int) *backend {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 46, 0, host}), 0).String())
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	b := &backend{name: name, addr: l.Addr().(*net.TCPAddr).AddrPort(), release: make(chan struct{})}
	b.health.Store(int32(healthStatus))
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(b.health.Load())) })
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		b.held.Add(1)
		select {
		case <-b.release:
		case <-r.Context().Done():
		}
		fmt.Fprint(w, b.name)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, b.name) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

// target is the SDK's description of the backend as a target.
func (b *backend) target() types.TargetDescription {
	return types.TargetDescription{Id: aws.String(b.addr.Addr().String()), Port: aws.Int32(int32(b.addr.Port()))}
}

// observation is one (state, reason) a poll saw.
type observation struct {
	State  types.TargetHealthStateEnum
	Reason types.TargetHealthReasonEnum
}

func (o observation) String() string { return string(o.State) + "/" + string(o.Reason) }

// healthOfTarget asks for one target's health, listing it explicitly.
func healthOfTarget(t *testing.T, c *elbv2.Client, arn string, td types.TargetDescription) (observation, types.TargetHealthDescription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: []types.TargetDescription{td}})
	if err != nil {
		t.Fatalf("DescribeTargetHealth: %v", err)
	}
	if len(out.TargetHealthDescriptions) != 1 {
		t.Fatalf("DescribeTargetHealth of one target: %d descriptions", len(out.TargetHealthDescriptions))
	}
	d := out.TargetHealthDescriptions[0]
	return observation{d.TargetHealth.State, d.TargetHealth.Reason}, d
}

// waitFor polls a target until it reports want (reason "" matches any) and
// returns the distinct observations in the order seen, want last. It fails
// the test after waitBound.
func waitFor(t *testing.T, c *elbv2.Client, arn string, td types.TargetDescription, want observation) []observation {
	t.Helper()
	var seen []observation
	deadline := time.Now().Add(waitBound)
	for {
		o, _ := healthOfTarget(t, c, arn, td)
		if len(seen) == 0 || seen[len(seen)-1] != o {
			seen = append(seen, o)
		}
		if o.State == want.State && (want.Reason == "" || o.Reason == want.Reason) {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("target %s never reported %v within %s; saw %v", aws.ToString(td.Id), want, waitBound, seen)
		}
		time.Sleep(pollEvery)
	}
}

// register registers backends through the SDK.
func register(t *testing.T, c *elbv2.Client, arn string, bs ...*backend) {
	t.Helper()
	var tds []types.TargetDescription
	for _, b := range bs {
		tds = append(tds, b.target())
	}
	if _, err := c.RegisterTargets(context.Background(), &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: tds}); err != nil {
		t.Fatalf("RegisterTargets: %v", err)
	}
}

// deregister deregisters backends through the SDK.
func deregister(t *testing.T, c *elbv2.Client, arn string, bs ...*backend) {
	t.Helper()
	var tds []types.TargetDescription
	for _, b := range bs {
		tds = append(tds, b.target())
	}
	if _, err := c.DeregisterTargets(context.Background(), &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: tds}); err != nil {
		t.Fatalf("DeregisterTargets: %v", err)
	}
}

// get sends one client request through the load balancer and returns the
// body (the backend's name).
func get(t *testing.T, url string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d: %q", resp.StatusCode, b)
	}
	return string(b), nil
}

// answeredBy sends n requests through the load balancer and returns which
// backends answered, sorted, each once.
func answeredBy(t *testing.T, url string, n int) []string {
	t.Helper()
	var names []string
	for range n {
		name, err := get(t, url+"/")
		if err != nil {
			t.Fatalf("request through the load balancer: %v", err)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// registeredTargets lists the group's targets (no Targets parameter).
func registeredTargets(t *testing.T, c *elbv2.Client, arn string) []string {
	t.Helper()
	out, err := c.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("DescribeTargetHealth: %v", err)
	}
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
		ids = append(ids, fmt.Sprintf("%s:%d", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port)))
	}
	return ids
}

// errorCode is the API error code of err, or "".
func errorCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
