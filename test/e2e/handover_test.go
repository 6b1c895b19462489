package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/demo"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/verify"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// handoverSlack is how much earlier than the tracker's measured drain a
// SIGTERM may be seen: the tracker polls HAProxy every 50 ms, so it sees a
// drain up to that much late.
const handoverSlack = 100 * time.Millisecond

// TestLeaderHandover_PodsDrainedWhileTheLeaderIsKilled runs two controller
// replicas with leader election, pods asking the one that is not the
// leader, and rolls the Deployment under load. The moment the new pods'
// gates are all True (the Deployment controller is about to delete the old
// ones) the leader is killed the way a crash kills it: it stops, and its
// lease stays held until it runs out (manager.DefaultLeaseDuration), so
// for that time no replica reconciles. The old pods are deleted in that
// window (the Deployment's minReadySeconds, 3 s, holds each deletion after
// its replacement's gate); the follower's drain endpoint drains them itself. No request may
// fail, every old pod's wait must end "drained" (no FailedPreStopHook: no
// fallback, no max wait), and each SIGTERM must come after HAProxy let the
// pod go. Before, only the leader drained and a follower answered
// "Draining" about a target still in service until the pod's max wait
// (shown in test/integration TestDrainEndpoint_DrainsWhileNoReplicaLeads).
func TestLeaderHandover_PodsDrainedWhileTheLeaderIsKilled(t *testing.T) {
	requirements(t)
	s, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	env := setup(t, s, func(o *demo.Options) { o.ControllerReplicas = 2 })
	if !env.ControllerReplicaLeads(0) || env.ControllerReplicaLeads(1) {
		t.Fatal("want replica 0 leading and replica 1 following")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	m := demo.ModeZerodrop
	ns := m.Namespace()
	var list corev1.PodList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	for _, p := range list.Items {
		old[p.Name] = true
	}
	// minReadySeconds holds each old pod's deletion that long after its
	// replacement's gate turned True: the leader is killed in between.
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: demo.AppName}}
	if err := env.Client.Patch(ctx, dep, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"minReadySeconds":3}}`))); err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := env.Cluster.Subscribe()
	defer unsubscribe()
	var mu sync.Mutex
	var hookFailures []vnode.Event
	go func() {
		for ev := range events {
			if ev.Namespace == ns && ev.Type == vnode.EventFailedPreStopHook {
				mu.Lock()
				hookFailures = append(hookFailures, ev)
				mu.Unlock()
			}
		}
	}()
	tctx, stopTracker := context.WithCancel(ctx)
	defer stopTracker()
	tracker := demo.NewTracker(env.LoadBalancer(), m.Backend(), nil)
	go tracker.Run(tctx)
	// HAProxy's view of the backend, change by change, for the log of a
	// failure.
	var lbLog []string
	go func() {
		last := ""
		for tctx.Err() == nil {
			if st, err := env.LoadBalancer().Status(tctx, m.Backend()); err == nil {
				var now string
				for _, ts := range st.Targets {
					now += fmt.Sprintf(" %s/%s:%s(%d)", ts.Address, ts.Owner, ts.State, ts.Sessions)
				}
				if now != last {
					mu.Lock()
					lbLog = append(lbLog, time.Now().Format("15:04:05.000")+now)
					mu.Unlock()
					last = now
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	var killedAt, stepStart time.Time
	leadsAgain := make(chan time.Time, 1)
	step := verify.Step{Name: "rolling-update with the leader killed", Run: func(ctx context.Context) error {
		stepStart = time.Now()
		rolled := make(chan error, 1)
		go func() { rolled <- env.RollingUpdate(ctx, m, 2) }()
		// Kill the leader as soon as every new pod's gate is True.
		if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			var l corev1.PodList
			if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
				return false, nil
			}
			gated := 0
			for _, p := range l.Items {
				if !old[p.Name] && gateTrue(&p) {
					gated++
				}
			}
			return gated >= int(s.Replicas), nil
		}); err != nil {
			return fmt.Errorf("new pods' gates: %w", err)
		}
		if err := killLeader(ctx, env); err != nil {
			return err
		}
		killedAt = time.Now()
		t.Logf("leader (replica 0) killed %s after the rollout started; its lease stays held", killedAt.Sub(stepStart).Round(time.Millisecond))
		go func() {
			_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
				return env.ControllerReplicaLeads(1), nil
			})
			leadsAgain <- time.Now()
		}()
		return <-rolled
	}}
	run, err := verify.New(verify.Config{
		Targets:      []verify.Target{{URL: env.FrontendURL(m), Method: s.Load.Method}},
		Rate:         s.Load.Rate,
		Duration:     s.Load.MinDuration.Duration,
		Timeout:      s.Load.Timeout.Duration,
		KeepAlive:    s.Load.KeepAlive == nil || *s.Load.KeepAlive,
		IdleTimeout:  process.ClientKeepAliveTimeout / 2,
		Warmup:       s.Load.Warmup.Duration,
		Cooldown:     s.Load.Cooldown.Duration,
		During:       &step,
		MaxErrors:    0,
		MaxErrorRate: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run.Execute(ctx)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if rep.Verdict.Status == report.StatusRateNotSustained {
		t.Fatalf("this machine did not sustain %d req/s (achieved %.0f): the measurement is not valid", s.Load.Rate, rep.Rate.Achieved)
	}
	if killedAt.IsZero() {
		t.Fatal("the leader was never killed")
	}
	var leadsAgainAt time.Time
	select {
	case leadsAgainAt = <-leadsAgain:
	case <-time.After(time.Minute):
		t.Errorf("replica 1 did not lead within 1m of the end of the run")
	}
	t.Logf("requests: %d sent, %d failed %v; replica 1 led %s after the kill", rep.Totals.Requests, rep.Totals.Failed, rep.Totals.ByClass, leadsAgainAt.Sub(killedAt).Round(time.Millisecond))
	if rep.Totals.Failed != 0 {
		t.Errorf("%d of %d requests failed, want 0", rep.Totals.Failed, rep.Totals.Requests)
		for _, sec := range rep.Seconds {
			if sec.Failed > 0 {
				t.Logf("second %d (sent %s): %d failed %v", sec.Second, rep.Start.Add(time.Duration(sec.Second)*time.Second).Format("15:04:05"), sec.Failed, sec.ByClass)
			}
		}
		t.Logf("killed at %s, replica 1 led at %s", killedAt.Format("15:04:05.000"), leadsAgainAt.Format("15:04:05.000"))
		mu.Lock()
		for _, l := range lbLog {
			t.Log("haproxy:", l)
		}
		mu.Unlock()
	}
	if rep.Totals.Requests < minRequests {
		t.Errorf("%d requests sent, want at least %d for the zero to mean something", rep.Totals.Requests, minRequests)
	}
	var deleted, leaderless int
	for _, rec := range env.Cluster.Pods() {
		if rec.Namespace != ns || !old[rec.Name] || rec.DeletionObservedAt.IsZero() {
			continue
		}
		deleted++
		addr := netip.AddrPortFrom(rec.IP, demo.ContainerPort)
		at, ok := tracker.RemovedAfter(addr, rec.DeletionObservedAt.Add(-time.Second))
		if rec.SIGTERMAt.IsZero() {
			t.Errorf("pod %s: no SIGTERM", rec.Name)
			continue
		}
		noLeader := rec.SIGTERMAt.After(killedAt) && (leadsAgainAt.IsZero() || rec.SIGTERMAt.Before(leadsAgainAt))
		if noLeader {
			leaderless++
		}
		if !ok {
			t.Errorf("pod %s: HAProxy's drain of %s was not seen", rec.Name, addr)
			continue
		}
		t.Logf("pod %s: deletion→SIGTERM %s, HAProxy drained after %s (SIGTERM %+dms after the drain), deleted %s after the kill, SIGTERM while no replica led: %v",
			rec.Name, rec.DeletionToSIGTERM().Round(time.Millisecond), at.Sub(rec.DeletionObservedAt).Round(time.Millisecond),
			rec.SIGTERMAt.Sub(at).Milliseconds(), rec.DeletionObservedAt.Sub(killedAt).Round(time.Millisecond), noLeader)
		if rec.SIGTERMAt.Before(at.Add(-handoverSlack)) {
			t.Errorf("pod %s: SIGTERM %s before HAProxy let it go", rec.Name, at.Sub(rec.SIGTERMAt))
		}
	}
	if deleted != len(old) {
		t.Errorf("%d of the %d old pods were seen deleted", deleted, len(old))
	}
	if leaderless == 0 {
		t.Errorf("no old pod got its SIGTERM while no replica led: the handover window was missed, the test proves nothing about it")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range hookFailures {
		t.Errorf("pod %s: FailedPreStopHook (the wait did not end drained): %s", ev.Name, ev.Detail)
	}
}

// gateTrue reports whether the pod's zerodrop gate is True.
func gateTrue(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if string(c.Type) == v1alpha1.GateConditionType(demo.AppName) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// killLeader stops replica 0 as a crash would: it stops, and its lease
// stays held. The manager releases the lease when it stops
// (LeaderElectionReleaseOnCancel); a crashed process cannot, so the lease is
// put back as it was, renewed now, for replica 1 to wait out.
func killLeader(ctx context.Context, env *demo.Environment) error {
	key := types.NamespacedName{Namespace: demo.LeaderElectionNamespace, Name: manager.LeaderElectionID}
	var before coordinationv1.Lease
	if err := env.Client.Get(ctx, key, &before); err != nil {
		return fmt.Errorf("reading the lease: %w", err)
	}
	env.StopControllerReplica(0)
	var lease coordinationv1.Lease
	if err := env.Client.Get(ctx, key, &lease); err != nil {
		return fmt.Errorf("reading the lease: %w", err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" && *h != *before.Spec.HolderIdentity {
		return fmt.Errorf("replica 1 (%s) took the lease before the crash could be simulated", *h)
	}
	now := metav1.NewMicroTime(time.Now())
	secs := int32(manager.DefaultLeaseDuration / time.Second)
	lease.Spec.HolderIdentity = before.Spec.HolderIdentity
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.RenewTime = &now
	if err := env.Client.Update(ctx, &lease); err != nil {
		return fmt.Errorf("putting the crashed leader's lease back: %w", err)
	}
	return nil
}
