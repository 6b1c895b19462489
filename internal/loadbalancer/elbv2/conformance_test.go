package elbv2

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	elbv2api "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
	"github.com/zerodrop/zerodrop/test/elbv2emu"
)

// TestConformance runs the provider-neutral suite against the ELBv2
// provider in its production configuration (a Registry's shared poller and
// budget, AWS's default budget) on the emulator, whose real HAProxy does
// the health checks and carries the clients' requests. The suite reads
// the provider's capabilities: no session counts (a drained target is one
// the target group no longer lists), no per-target checks, no owner tags,
// and it can observe targets another client registered. Reload and
// restart cases are skipped: ELBv2 has nothing that loses targets.
func TestConformance(t *testing.T) { conformance.Run(t, conformanceHarness{}) }

type conformanceHarness struct{}

func (conformanceHarness) New(t *testing.T) conformance.LoadBalancer {
	e := startEmulator(t, elbv2emu.Config{})
	arn := testGroup(t, e, elbv2emu.TargetGroupSpec{Name: "conformance", Attached: true, DeregistrationDelay: time.Second})
	r, _ := testRegistry(t, RegistryOptions{})
	inst := testInstance(t, r, e, testPollInterval)
	cfg, err := config.LoadDefaultConfig(context.Background(), append(staticCredentials(), config.WithRegion(e.Region()))...)
	if err != nil {
		t.Fatal(err)
	}
	other := elbv2api.NewFromConfig(cfg, func(o *elbv2api.Options) { o.BaseEndpoint = aws.String(e.Endpoint()) })
	ip := netip.AddrFrom4([4]byte{127, 48, byte(1 + rand.IntN(250)), byte(1 + rand.IntN(250))})
	return &conformanceLB{emu: e, arn: arn, inst: inst, other: other, targetIP: ip}
}

// conformanceLB is one emulated target group for one case.
type conformanceLB struct {
	emu      *elbv2emu.Emulator
	arn      string
	inst     *Instance
	other    *elbv2api.Client
	targetIP netip.Addr
}

func (l *conformanceLB) Instance() loadbalancer.Instance { return l.inst }
func (l *conformanceLB) Backend() string                 { return l.arn }
func (l *conformanceLB) FrontendURL() string             { return l.emu.FrontendURL(l.arn) }
func (l *conformanceLB) HealthPath() string              { return "/healthz" }

// Check is what the target group checks with (the provider ignores it).
func (l *conformanceLB) Check() loadbalancer.CheckSettings {
	return loadbalancer.CheckSettings{Interval: testCheckInterval, Rise: testRise, Fall: testFall}
}

func (l *conformanceLB) Listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(l.targetIP, 0).String())
	if err != nil {
		t.Fatalf("listen for a target: %v", err)
	}
	return ln
}

func (l *conformanceLB) Restart(_ context.Context, kind conformance.RestartKind) error {
	return fmt.Errorf("%s: an ELBv2 target group keeps its targets: %w", kind, conformance.ErrUnsupported)
}

// RegisterElsewhere registers the target through another AWS client, as
// the AWS Load Balancer Controller or Terraform would.
func (l *conformanceLB) RegisterElsewhere(ctx context.Context, addr netip.AddrPort) error {
	_, err := l.other.RegisterTargets(ctx, &elbv2api.RegisterTargetsInput{TargetGroupArn: aws.String(l.arn),
		Targets: []types.TargetDescription{{Id: aws.String(addr.Addr().String()), Port: aws.Int32(int32(addr.Port()))}}})
	if err == nil {
		l.inst.Expect(l.arn, addr) // the caller waits on it, as a binding in mode Observe does
	}
	return err
}
