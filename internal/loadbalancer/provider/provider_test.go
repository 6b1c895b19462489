package provider

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy"
)

func TestFactory_New(t *testing.T) {
	f, err := NewFactory(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	elb := v1alpha1.LoadBalancerSpec{ELBv2: &v1alpha1.ELBv2LoadBalancer{Region: "eu-west-1", Endpoint: "http://127.0.0.1:1"}}
	cases := []struct {
		name     string
		spec     v1alpha1.LoadBalancerSpec
		instance string
		wantErr  string
	}{
		{"elbv2: the instance named after the region", elb, "eu-west-1", ""},
		{"elbv2: any other instance name", elb, "lb-a", `no instance "lb-a"`},
		{"haproxy: a listed instance", v1alpha1.LoadBalancerSpec{HAProxy: &v1alpha1.HAProxyLoadBalancer{
			Instances: []v1alpha1.HAProxyInstance{{Name: "lb-a", Socket: "/run/haproxy.sock"}}}}, "lb-a", ""},
		{"no provider", v1alpha1.LoadBalancerSpec{}, "x", "sets no provider"},
	}
	for _, c := range cases {
		inst, err := f.New(c.spec, c.instance)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one with %q", c.name, err, c.wantErr)
		}
		if inst != nil {
			_ = inst.Close()
		}
	}
	// The capabilities the reconciler reads.
	inst, err := f.New(elb, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if c := inst.Capabilities(); c.Sessions || c.PerTargetChecks || c.OwnerTags || !c.Observe {
		t.Errorf("ELBv2 capabilities %+v, want only Observe", c)
	}
}

func TestHAProxySharing(t *testing.T) {
	const poll, resync = 100 * time.Millisecond, 2 * time.Second
	cases := []struct {
		observation string
		poll        time.Duration
		want        haproxy.Sharing
		wantErr     string
	}{
		{ObservationShared, poll, haproxy.Sharing{Moving: poll, Settled: time.Second}, ""},
		{ObservationPerBinding, poll, haproxy.Sharing{}, ""},
		{ObservationShared, 0, haproxy.Sharing{}, "positive poll interval"},
		{"both", poll, haproxy.Sharing{}, `observation "both": want "shared" or "per-binding"`},
	}
	for _, c := range cases {
		got, err := HAProxySharing(c.observation, c.poll, resync)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.observation, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one with %q", c.observation, err, c.wantErr)
		case got != c.want:
			t.Errorf("%s: %+v, want %+v", c.observation, got, c.want)
		}
	}
}

// TestFactory_countsHAProxyRoundTrips: every Runtime API connection an
// HAProxy instance opens, failed ones too, counts once in
// MetricHAProxyRoundTrips under the instance's runtime API; instances of
// two LoadBalancers on the same socket share the series.
func TestFactory_countsHAProxyRoundTrips(t *testing.T) {
	reg := prometheus.NewRegistry()
	f, err := NewFactory(context.Background(), Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sock := filepath.Join(t.TempDir(), "absent.sock")
	lbA := v1alpha1.LoadBalancerSpec{HAProxy: &v1alpha1.HAProxyLoadBalancer{
		Instances: []v1alpha1.HAProxyInstance{{Name: "a", Socket: sock}, {Name: "b", Address: "127.0.0.1:1"}}}}
	lbB := v1alpha1.LoadBalancerSpec{HAProxy: &v1alpha1.HAProxyLoadBalancer{
		Instances: []v1alpha1.HAProxyInstance{{Name: "other", Socket: sock}}}}
	for _, c := range []struct {
		spec v1alpha1.LoadBalancerSpec
		name string
	}{{lbA, "a"}, {lbB, "other"}, {lbA, "b"}} {
		name := c.name
		inst, err := f.New(c.spec, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inst.Status(context.Background(), "be"); err == nil {
			t.Fatalf("instance %s: Status on nothing listening succeeded", name)
		}
	}
	want := `
# HELP zerodrop_haproxy_round_trips_total Runtime API connections opened to each HAProxy instance, by runtime API (socket path or address).
# TYPE zerodrop_haproxy_round_trips_total counter
zerodrop_haproxy_round_trips_total{runtime_api="127.0.0.1:1"} 1
zerodrop_haproxy_round_trips_total{runtime_api="` + sock + `"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricHAProxyRoundTrips); err != nil {
		t.Error(err)
	}
}
