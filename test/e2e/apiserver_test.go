package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/zerodrop/zerodrop/internal/demo"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
	"github.com/zerodrop/zerodrop/internal/localcluster"
	"github.com/zerodrop/zerodrop/internal/verify"
)

// apiServerDowntime is how long the API server stays stopped: longer than
// the controller's resync and HAProxy's fall × inter, so a controller that
// treated "cannot reach the API server" as "no pods" would have acted.
const apiServerDowntime = 5 * time.Second

// TestFailurePaths_APIServerRestart stops the real kube-apiserver under load
// and starts it again. While it is away, HAProxy must keep serving every
// zerodrop target (the controller must not read an unreachable API server as
// "no pods"), so the zerodrop frontend loses no request; once it is back, the
// controller's watches must resume: a rolling update run afterwards, in every
// mode side by side, must lose nothing with zerodrop while the plain sync
// loses some, and each deleted zerodrop pod must get SIGTERM from the
// controller's "drained", not from the fallback wait.
func TestFailurePaths_APIServerRestart(t *testing.T) {
	requirements(t)
	s, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	s.Rollouts = []demo.RolloutKind{demo.RollingUpdate}
	env := setup(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	backend := demo.ModeZerodrop.Backend()
	before := healthyTargets(t, ctx, env.LoadBalancer(), backend)
	if len(before) != int(s.Replicas) {
		t.Fatalf("HAProxy has %d healthy zerodrop targets before the restart (%v), want %d", len(before), before, s.Replicas)
	}

	// 1. The API server goes away for a while under load.
	var restartErr error
	restart := verify.Step{Name: "restart kube-apiserver", Run: func(ctx context.Context) error {
		began := time.Now()
		restartErr = env.Cluster.RestartComponent(logr.NewContext(ctx, testr.New(t)), localcluster.ComponentAPIServer, apiServerDowntime)
		t.Logf("kube-apiserver stopped, down %s, healthy again after %s in all", apiServerDowntime, time.Since(began).Round(time.Millisecond))
		return restartErr
	}}
	run, err := verify.New(verify.Config{
		Targets:      []verify.Target{{URL: env.FrontendURL(demo.ModeZerodrop)}},
		Rate:         s.Load.Rate,
		Duration:     15 * time.Second,
		Timeout:      s.Load.Timeout.Duration,
		KeepAlive:    true,
		IdleTimeout:  process.ClientKeepAliveTimeout / 2,
		Warmup:       2 * time.Second,
		Cooldown:     3 * time.Second,
		During:       &restart,
		MaxErrors:    0,
		MaxErrorRate: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run.Execute(ctx)
	if err != nil {
		t.Fatalf("load during the restart: %v", err)
	}
	if restartErr != nil {
		t.Fatalf("restarting the API server: %v", restartErr)
	}
	t.Logf("during the API server restart: %d/%d failed (%v)", rep.Totals.Failed, rep.Totals.Requests, rep.Totals.ByClass)
	if rep.Totals.Failed != 0 {
		t.Errorf("zerodrop lost %d of %d requests while the API server restarted (%v), want 0", rep.Totals.Failed, rep.Totals.Requests, rep.Totals.ByClass)
	}
	if after := healthyTargets(t, ctx, env.LoadBalancer(), backend); !slices.Equal(before, after) {
		t.Errorf("HAProxy's healthy zerodrop targets changed across the restart: %v, then %v", before, after)
	}

	// 2. The clients of the API server (controllers, scheduler, virtual
	// nodes, zerodrop) reconnect with their own back-off; a canary
	// Deployment tells when they serve again, so the rollout below is not
	// slowed by a component still waiting to reconnect.
	waitCanary(t, ctx, env)

	// 3. After the restart, a rolling update in every mode side by side.
	res, err := env.Run(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("rolling update after the restart: %v", err)
	}
	k := res.Kinds[0]
	zd, none := k.Mode(demo.ModeZerodrop), k.Mode(demo.ModeNone)
	t.Logf("rolling update after the restart: zerodrop %d/%d failed, no zerodrop %d/%d failed", zd.Failed, zd.Sent, none.Failed, none.Sent)
	if zd.Failed != 0 {
		t.Errorf("zerodrop lost %d of %d requests in the rolling update after the restart (%v), want 0", zd.Failed, zd.Sent, zd.ByClass)
	}
	if none.Failed == 0 {
		t.Errorf("the plain sync lost nothing in the same rolling update: the load does not expose the problem")
	}
	fallback := s.LoadBalancer.CheckInterval.Duration*time.Duration(s.LoadBalancer.Fall) + s.Drain.Timeout.Duration
	if len(zd.Pods) == 0 {
		t.Errorf("no zerodrop pod was deleted in the rolling update after the restart")
	}
	for _, p := range zd.Pods {
		t.Logf("pod %s: deletion→SIGTERM %s", p.Name, p.DeletionToSIGTERM.Round(time.Millisecond))
		if p.DeletionToSIGTERM >= fallback-time.Second {
			t.Errorf("pod %s: deletion→SIGTERM %s: the fallback wait (%s), not the controller's drained", p.Name, p.DeletionToSIGTERM, fallback)
		}
	}
}

// healthyTargets returns the sorted addresses HAProxy reports healthy in
// backend.
func healthyTargets(t *testing.T, ctx context.Context, lb loadbalancer.Instance, backend string) []string {
	t.Helper()
	st, err := lb.Status(ctx, backend)
	if err != nil {
		t.Fatalf("HAProxy status of %s: %v", backend, err)
	}
	var out []string
	for _, ts := range st.Targets {
		if ts.State == loadbalancer.StateHealthy {
			out = append(out, ts.String())
		}
	}
	slices.Sort(out)
	return out
}

// waitCanary creates a one-replica Deployment in the default namespace,
// waits until its pod is Ready (the deployment and replica-set controllers,
// the scheduler and a virtual node all had to act) and deletes it.
func waitCanary(t *testing.T, ctx context.Context, env *demo.Environment) {
	t.Helper()
	began := time.Now()
	labels := map[string]string{"app": "canary"}
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: metav1.NamespaceDefault},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: demo.AppImage}}},
			},
		},
	}
	cs := env.Cluster.Client()
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), nil
	}); err != nil {
		t.Fatalf("creating the canary Deployment: %v", err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := cs.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		return err == nil && got.Status.ReadyReplicas == 1, nil
	}); err != nil {
		t.Fatalf("the canary Deployment did not become ready within 2m of the restart: %v", err)
	}
	t.Logf("canary Deployment ready %s after the restart", time.Since(began).Round(time.Millisecond))
	fg := metav1.DeletePropagationForeground
	if err := cs.AppsV1().Deployments(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatalf("deleting the canary Deployment: %v", err)
	}
}
