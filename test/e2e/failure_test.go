package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/demo"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// lbDownHold is how long HAProxy stays down while a deleted pod waits.
const lbDownHold = 4 * time.Second

// TestFailurePaths_ControllerDownLBDownAndBypass proves, in the local
// cluster with the real injected preStop, the ways SIGTERM comes without the
// controller's "drained": with the controller down, wait-drained waits the
// fallback computed from the LB's settings and the kubelet stand-in records a
// FailedPreStopHook event saying so; with the bypass annotation the wait
// returns at once. With HAProxy down, an instance that cannot answer is not
// drained: SIGTERM waits until it answers again (a restarted HAProxy has
// lost its dynamic servers, so the pod is then gone from it). A normally
// deleted pod, in the same run, gets SIGTERM only after a drain.
func TestFailurePaths_ControllerDownLBDownAndBypass(t *testing.T) {
	requirements(t)
	s, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	s.Replicas = 3
	env := setup(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := demo.ModeZerodrop.Namespace()
	pods := func() []corev1.Pod {
		var list corev1.PodList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var out []corev1.Pod
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				out = append(out, p)
			}
		}
		return out
	}
	events, unsubscribe := env.Cluster.Subscribe()
	defer unsubscribe()
	// sigterm waits for pod name's SIGTERM and returns the events seen for
	// it on the way (FailedPreStopHook among them).
	sigterm := func(name string) []vnode.Event {
		var seen []vnode.Event
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case ev := <-events:
				if ev.Namespace != ns || ev.Name != name {
					continue
				}
				seen = append(seen, ev)
				if ev.Type == vnode.EventSIGTERM {
					return seen
				}
			case <-deadline:
				t.Fatalf("pod %s got no SIGTERM within 2m (events %v)", name, seen)
			}
		}
	}
	del := func(p corev1.Pod) {
		if err := env.Client.Delete(ctx, &p); err != nil {
			t.Fatalf("deleting %s: %v", p.Name, err)
		}
	}
	fallback := s.LoadBalancer.CheckInterval.Duration*time.Duration(s.LoadBalancer.Fall) + s.Drain.Timeout.Duration

	// 1. Normal: the controller drains, SIGTERM follows quickly.
	normal := pods()[0]
	del(normal)
	sigterm(normal.Name)
	rec, _ := env.Cluster.Pod(ns, normal.Name)
	if d := rec.DeletionToSIGTERM(); d >= fallback {
		t.Errorf("normal deletion→SIGTERM %s, want well under the fallback %s", d, fallback)
	} else {
		t.Logf("controller up: deletion→SIGTERM %s", d)
	}

	// 2. Bypass: annotated, then deleted: no wait for the drain.
	waitReplicas(t, ctx, pods, int(s.Replicas))
	byp := pods()[0]
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AnnotationSkipDrainWait)
	if err := env.Client.Patch(ctx, &byp, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	del(byp)
	sigterm(byp.Name)
	rec, _ = env.Cluster.Pod(ns, byp.Name)
	t.Logf("bypass: deletion→SIGTERM %s", rec.DeletionToSIGTERM())
	if d := rec.DeletionToSIGTERM(); d >= fallback-time.Second {
		t.Errorf("bypass: deletion→SIGTERM %s: the wait did not return at once", d)
	}

	// 3. Controller down: the fallback from the LB's settings, reported.
	waitReplicas(t, ctx, pods, int(s.Replicas))
	down := pods()[0]
	env.StopController()
	del(down)
	seen := sigterm(down.Name)
	rec, _ = env.Cluster.Pod(ns, down.Name)
	d := rec.DeletionToSIGTERM()
	t.Logf("controller down: deletion→SIGTERM %s (fallback %s)", d, fallback)
	if d < fallback-time.Second {
		t.Errorf("controller down: SIGTERM after %s, before the fallback wait %s", d, fallback)
	}
	var reported bool
	for _, ev := range seen {
		if ev.Type == vnode.EventFailedPreStopHook && strings.Contains(ev.Detail, "controller unreachable") {
			reported = true
		}
	}
	if !reported {
		t.Errorf("no FailedPreStopHook event saying the controller was unreachable; events: %v", seen)
	}
	if err := env.StartController(ctx); err != nil {
		t.Fatal(err)
	}

	// 4. HAProxy down: the wait holds until it answers again.
	// The replacement pod created while the controller (and so its webhook)
	// was down has no injected wait (failurePolicy Ignore): take a pod
	// that has one.
	waitReplicas(t, ctx, pods, int(s.Replicas))
	var lbDown corev1.Pod
	var without []string
	for _, p := range pods() {
		switch {
		case p.Spec.Containers[0].Lifecycle == nil || p.Spec.Containers[0].Lifecycle.PreStop == nil:
			without = append(without, p.Name)
		case lbDown.Name == "":
			lbDown = p
		}
	}
	if lbDown.Name == "" || len(without) == 0 {
		t.Fatalf("want pods with and without the injected drain wait; without: %v, with one: %q", without, lbDown.Name)
	}
	slices.Sort(without)
	// The pod without one is reported on the binding, not restarted.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var b v1alpha1.TargetBinding
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: demo.AppName}, &b); err != nil {
			return false, err
		}
		var got []string
		for _, r := range b.Status.PodsWithoutDrainWait {
			got = append(got, r.Name)
		}
		slices.Sort(got)
		return slices.Equal(got, without), nil
	}); err != nil {
		t.Errorf("binding status.podsWithoutDrainWait does not list exactly the pods created while the webhook was down %v: %v", without, err)
	} else {
		t.Logf("created while the webhook was down, reported in status.podsWithoutDrainWait: %v", without)
	}
	if err := env.HAProxy.Stop(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	del(lbDown)
	held := time.After(lbDownHold)
	var early []vnode.Event
wait:
	for {
		select {
		case ev := <-events:
			if ev.Namespace == ns && ev.Name == lbDown.Name {
				early = append(early, ev)
				if ev.Type == vnode.EventSIGTERM {
					t.Fatalf("LB down: SIGTERM %s after HAProxy stopped, while it could not answer (events %v)", ev.Time.Sub(stoppedAt), early)
				}
			}
		case <-held:
			break wait
		}
	}
	if err := env.HAProxy.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	backAt := time.Now()
	sigterm(lbDown.Name)
	rec, _ = env.Cluster.Pod(ns, lbDown.Name)
	afterBack := rec.SIGTERMAt.Sub(backAt)
	t.Logf("LB down %s: deletion→SIGTERM %s, SIGTERM %s after HAProxy answered again", lbDownHold, rec.DeletionToSIGTERM().Round(time.Millisecond), afterBack.Round(time.Millisecond))
	if afterBack > 3*time.Second {
		t.Errorf("LB down: SIGTERM %s after HAProxy was back, want within 3s (the pod is gone from the restarted HAProxy)", afterBack)
	}
}

// waitReplicas waits until n pods are running and not terminating.
func waitReplicas(t *testing.T, ctx context.Context, pods func() []corev1.Pod, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ready := 0
		for _, p := range pods() {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("fewer than %d ready pods after 2m", n)
}
