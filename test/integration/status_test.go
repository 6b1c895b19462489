package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/cli"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/status"
)

// kubeconfig writes a kubeconfig file for cfg, as a user's laptop has one.
func kubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test", Namespace: "default"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// zerodropStatus runs `kubectl zerodrop status args...` as a user would,
// through the root command the binary runs, and returns its output.
func zerodropStatus(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	root := cli.NewCommand(context.Background(), "/usr/local/bin/kubectl-zerodrop")
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"status", "--kubeconfig", kubeconfig}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// statusReport runs the status command with -o json and decodes it.
func statusReport(t *testing.T, kubeconfig string, args ...string) (status.Report, error) {
	t.Helper()
	out, err := zerodropStatus(t, kubeconfig, append(args, "-o", "json")...)
	if err != nil {
		return status.Report{}, err
	}
	var r status.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, fmt.Errorf("decoding %q: %w", out, err)
	}
	return r, nil
}

func podOf(r status.Report, name string) *status.PodReport {
	for i := range r.Pods {
		if r.Pods[i].Name == name {
			return &r.Pods[i]
		}
	}
	return nil
}

// TestStatus_explainsAStuckGateAHeldDrainAndAnUnreachableInstance runs the
// status command against the real API server while the real controller
// drives real HAProxies: (a) a pod whose health check fails is named with
// each instance's state, since when and the binding's check; (b) a
// terminating pod whose drain a long in-flight request holds is Draining
// with its session on the instance, the grace period and drain timeout
// left, and Drained once the request ends; (c) a LoadBalancer whose
// instance's runtime socket is gone is reported unreachable. The drain
// condition is written by the controller on the terminating pod (the API
// server accepts status patches of a pod being deleted).
func TestStatus_explainsAStuckGateAHeldDrainAndAnUnreachableInstance(t *testing.T) {
	e := startEnv(t, provider.New)
	kc := kubeconfig(t, e.cfg)
	f := newFixture(t, e, "status", "/healthz")
	down := newFixture(t, e, "status-down", "/healthz")
	if err := down.procs[0].Stop(); err != nil { // its runtime socket is gone
		t.Fatal(err)
	}

	// (a) a stuck gate: the target fails its health check.
	bad := startTarget(t, "127.44.41.1")
	pb := f.startPod(t, bad)
	var r status.Report
	e.eventually("status explains the stuck gate", 30*time.Second, func() error {
		var err error
		if r, err = statusReport(t, kc, "-n", f.ns); err != nil {
			return err
		}
		p := podOf(r, pb.Name)
		if p == nil || p.State != status.StateGatePending || len(p.Instances) != 1 || p.Instances[0].Instance != "i0" ||
			!strings.HasPrefix(p.Instances[0].State, string(loadbalancer.StateInitial)) || p.Since == nil || p.Check == nil {
			return fmt.Errorf("pod report %+v; want GatePending with i0 Initial, since and check", p)
		}
		return nil
	})
	if c := podOf(r, pb.Name).Check; c.Interval.Duration != 100*time.Millisecond || c.HealthyThreshold != 2 || c.UnhealthyThreshold != 2 {
		t.Errorf("check %+v; want the binding's: every 100ms, 2 and 2", c)
	}

	// (b) a held drain: the only pod in service terminates while a
	// request is in flight.
	old := startTarget(t, "127.44.41.2")
	old.SetHealthy(true)
	po := f.startPod(t, old)
	f.waitGate(t, po.Name)
	held := f.hold(t, old)
	if err := e.c.Delete(context.Background(), po); err != nil {
		t.Fatal(err)
	}
	e.eventually("status shows the held drain", 30*time.Second, func() error {
		var err error
		if r, err = statusReport(t, kc, "pod/"+po.Name, "-n", f.ns); err != nil {
			return err
		}
		p := podOf(r, po.Name)
		if p == nil || p.State != status.StateDraining || len(p.Instances) != 1 || p.Instances[0].State != "Draining, 1 sessions" ||
			p.GraceEndsIn == nil || p.DrainTimeoutIn == nil || p.Since == nil {
			return fmt.Errorf("pod report %+v; want Draining with i0 \"Draining, 1 sessions\" and time left", p)
		}
		return nil
	})
	p := podOf(r, po.Name)
	if g := p.GraceEndsIn.Duration; g <= 0 || g > 30*time.Second {
		t.Errorf("grace ends in %s; want within the pod's 30s grace period", g)
	}
	if d := p.DrainTimeoutIn.Duration; d <= 0 || d > 20*time.Second {
		t.Errorf("drain timeout in %s; want within the binding's 20s", d)
	}
	if len(r.Bindings) != 1 || r.Bindings[0].Name != f.binding {
		t.Errorf("pod scope: bindings %+v; want only %s", r.Bindings, f.binding)
	}

	// (c) the unreachable instance, on the other load balancer.
	e.eventually("status shows the unreachable instance", 60*time.Second, func() error {
		var err error
		if r, err = statusReport(t, kc, "-A"); err != nil {
			return err
		}
		for _, lb := range r.LoadBalancers {
			if lb.Name == down.lbName && len(lb.Instances) == 1 && !lb.Instances[0].Reachable && lb.Instances[0].Message != "" {
				return nil
			}
		}
		return fmt.Errorf("load balancers %+v; want %s's i0 unreachable with a message", r.LoadBalancers, down.lbName)
	})

	table, err := zerodropStatus(t, kc, "-A")
	if err != nil {
		t.Fatalf("status -A: %v", err)
	}
	t.Logf("kubectl zerodrop status -A:\n%s", table)
	for _, want := range []string{pb.Name, po.Name, "Draining, 1 sessions", "grace ends in", "drain timeout in",
		"check every 100ms, healthy after 2 passes, unhealthy after 2 failures", "NO"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}

	old.Release()
	if err := <-held; err != nil {
		t.Errorf("in-flight request during the drain: %v", err)
	}
	e.eventually("status shows the drain done", 30*time.Second, func() error {
		var err error
		if r, err = statusReport(t, kc, "pod/"+po.Name, "-n", f.ns); err != nil {
			return err
		}
		if p := podOf(r, po.Name); p == nil || p.State != status.StateDrained {
			return fmt.Errorf("pod report %+v; want Drained", p)
		}
		return nil
	})
	table, _ = zerodropStatus(t, kc, "pod/"+po.Name, "-n", f.ns)
	t.Logf("kubectl zerodrop status pod/%s -n %s (drained):\n%s", po.Name, f.ns, table)
	pod := &corev1.Pod{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: po.Name}, pod); err != nil {
		t.Fatal(err)
	}
	for _, c := range pod.Status.Conditions {
		if string(c.Type) == v1alpha1.DrainConditionType(f.binding) {
			t.Logf("drain condition on the pod: %+v", c)
		}
	}

	// The API cannot be read: an error naming what failed.
	if _, err := zerodropStatus(t, kc, "binding/nope", "-n", f.ns); err == nil || !strings.Contains(err.Error(), "getting TargetBinding status/nope") {
		t.Errorf("status of a missing binding: err %v; want one naming it", err)
	}
}
