package elbv2

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// motoServerFallback is where this project's machines have moto_server
// when it is not on PATH (pyenv's Python 3.11.7).
const motoServerFallback = "/root/.pyenv/versions/3.11.7/bin/moto_server"

// motoRegion is the region of the moto tests.
const motoRegion = "us-east-1"

// startMoto starts moto_server on 127.0.0.1 and a free port until the end
// of the test, and returns its URL. Without moto_server the test fails and
// says how to get it.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if _, statErr := os.Stat(motoServerFallback); statErr != nil {
			t.Fatalf("moto_server is neither on PATH nor at %s: install it with `pip install 'moto[server]'` "+
				"(moto 5.2.1 is what this test was written against) and put moto_server on PATH", motoServerFallback)
		}
		bin = motoServerFallback
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within 30s: %v; its output: %s", base, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// motoDefaultVPC returns moto's default VPC with one EC2 Query call made
// by hand (a fake signature: moto reads only the scope), so that the
// tests need no EC2 SDK module.
func motoDefaultVPC(t *testing.T, base string) string {
	t.Helper()
	form := url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}}
	req, err := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDZERODROPTEST/20260101/"+motoRegion+"/ec2/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DescribeVpcs: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var vpcs struct {
		Items []struct {
			ID        string `xml:"vpcId"`
			IsDefault bool   `xml:"isDefault"`
		} `xml:"vpcSet>item"`
	}
	if err := xml.Unmarshal(body, &vpcs); err != nil {
		t.Fatalf("DescribeVpcs answer %q: %v", body, err)
	}
	for _, v := range vpcs.Items {
		if v.IsDefault {
			return v.ID
		}
	}
	t.Fatalf("moto has no default VPC: %s", body)
	return ""
}

// motoTargetGroup creates an ip target group in moto's default VPC with the
// SDK and returns its ARN.
func motoTargetGroup(t *testing.T, c *elb.Client, vpc, name string) string {
	t.Helper()
	out, err := c.CreateTargetGroup(context.Background(), &elb.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080),
		VpcId: aws.String(vpc), TargetType: types.TargetTypeEnumIp,
		// The provider does not look at a new target before it can have
		// passed its checks ((2-1) × 5 s here; AWS's defaults make it
		// 120 s), although moto reports it healthy at once.
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	arn := out.TargetGroups[0].TargetGroupArn
	// moto deregisters at once whatever the delay says; with AWS's
	// default of 300 s the provider would not look before then.
	if _, err := c.ModifyTargetGroupAttributes(context.Background(), &elb.ModifyTargetGroupAttributesInput{
		TargetGroupArn: arn,
		Attributes:     []types.TargetGroupAttribute{{Key: aws.String(attrDeregistrationDelay), Value: aws.String("0")}},
	}); err != nil {
		t.Fatalf("ModifyTargetGroupAttributes: %v", err)
	}
	return aws.ToString(arn)
}

// TestInstance_MotoCrossCheck: the provider's calls, as the SDK shapes
// them, against moto_server, an independent implementation of the ELBv2
// API, with credentials from the environment and from an IRSA web
// identity (moto's STS), and the endpoint from AWS_ENDPOINT_URL. moto has
// no state machine: a registered target is healthy at once and a
// deregistered one gone at once.
func TestInstance_MotoCrossCheck(t *testing.T) {
	base := startMoto(t)
	vpc := motoDefaultVPC(t, base)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6emVyb2Ryb3A6Y29udHJvbGxlciJ9."), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
	}{
		{"environment keys", map[string]string{
			"AWS_ACCESS_KEY_ID": "AKIDZERODROPTEST", "AWS_SECRET_ACCESS_KEY": "not-checked",
		}},
		{"IRSA web identity", map[string]string{
			"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/zerodrop", "AWS_WEB_IDENTITY_TOKEN_FILE": token,
			"AWS_ROLE_SESSION_NAME": "zerodrop-test",
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
				"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			// Every service on moto: ELBv2 through the SDK's default
			// endpoint resolution, STS (IRSA's AssumeRoleWithWebIdentity)
			// named on its own too, so no call can leave the machine.
			t.Setenv("AWS_ENDPOINT_URL", base)
			t.Setenv("AWS_ENDPOINT_URL_STS", base)
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			r, reg := testRegistry(t, RegistryOptions{LoadOptions: []func(*config.LoadOptions) error{
				config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
			}})
			inst, err := r.New(Config{Region: motoRegion, PollInterval: testPollInterval})
			if err != nil {
				t.Fatalf("Registry.New: %v", err)
			}
			defer inst.Close()
			client := inst.sh.poller.api.(*elb.Client)
			name := fmt.Sprintf("zerodrop-moto-%d", i)
			arn := motoTargetGroup(t, client, vpc, name)
			ctx := logrContext(t)

			creds, err := client.Options().Credentials.Retrieve(ctx)
			if err != nil {
				t.Fatalf("retrieving credentials: %v", err)
			}
			t.Logf("credentials from %s", creds.Source)
			if _, irsa := c.env["AWS_ROLE_ARN"]; irsa && creds.AccessKeyID == "AKIDZERODROPTEST" {
				t.Errorf("IRSA: got the environment's key, want one from moto's STS")
			}

			bs, err := inst.Status(ctx, name) // by name: DescribeTargetGroups
			if err != nil || len(bs.Targets) != 0 {
				t.Fatalf("Status of an empty target group: %v, %+v", err, bs)
			}
			tgt := loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.1.10:8080")}
			if err := inst.Register(ctx, name, loadbalancer.CheckSettings{}, tgt); err != nil {
				t.Fatalf("Register: %v", err)
			}
			waitState(t, inst, arn, tgt.Address, loadbalancer.StateHealthy)
			if err := inst.Drain(ctx, arn, tgt); err != nil {
				t.Fatalf("Drain: %v", err)
			}
			waitState(t, inst, arn, tgt.Address, loadbalancer.StateAbsent)
			if _, err := inst.Status(ctx, "zerodrop-moto-missing"); !noBackend(err) {
				t.Errorf("Status of a missing name: %v, want ErrNoBackend", err)
			}
			for _, action := range []string{"DescribeTargetGroups", "DescribeTargetHealth", "RegisterTargets", "DeregisterTargets", "DescribeTargetGroupAttributes"} {
				if n := calls(reg, motoRegion, action, OutcomeOK); n < 1 {
					t.Errorf("%s{%s,ok} = %d, want at least 1", MetricAPICalls, action, n)
				}
			}
		})
	}
}
