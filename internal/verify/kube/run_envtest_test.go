package kube_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zerodrop/zerodrop/internal/verify"
	"github.com/zerodrop/zerodrop/internal/verify/classify"
	"github.com/zerodrop/zerodrop/internal/verify/faultserver"
	"github.com/zerodrop/zerodrop/internal/verify/kube"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// TestRun_withWatcher_putsPodsStepsAndCallerEventsOnOneTimeline runs a real
// load while a During step replaces a pod through the real API server and
// the caller injects an event: all of it must land in one report, with a
// lane per pod.
func TestRun_withWatcher_putsPodsStepsAndCallerEventsOnOneTimeline(t *testing.T) {
	env := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	const ns = "default"
	labels := map[string]string{"app": "api"}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "api:v1"}}}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: ns, Labels: labels}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The "LB" fails while the step runs: the report must line the 503s up
	// with the step.
	var failing atomic.Bool
	srv := faultserver.Start(t, "127.43.4.1", faultserver.Behavior{FailStatus: 503, Fail: func(int64) bool { return failing.Load() }})
	var run *verify.Run
	step := verify.Step{Name: "replace api-1 with api-2", Run: func(ctx context.Context) error {
		failing.Store(true)
		defer failing.Store(false)
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-2", Namespace: ns, Labels: labels}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			return err
		}
		run.Record(report.Event{Kind: "agent.sigterm", Subject: report.SubjectPod("api-1"), Message: "SIGTERM sent to pod api-1"})
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "api-1", metav1.DeleteOptions{}); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // keep failing for a while, the load measures it
		return nil
	}}
	var err error
	run, err = verify.New(verify.Config{
		Targets: []verify.Target{{URL: srv.URL}}, Rate: 50, Duration: 4 * time.Second, Timeout: time.Second, KeepAlive: true,
		// The cool-down leaves the watch time to deliver the step's events
		// on a busy machine before the load (and the watch) ends.
		Warmup: 500 * time.Millisecond, Cooldown: 2 * time.Second, During: &step, MaxErrors: -1, MaxErrorRate: -1,
		Watchers: []verify.Watcher{&kube.Watcher{Config: env.Config, Namespace: ns, Deployment: "api"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	run.Record(report.Event{Kind: "rollout.started", Message: "rolling update started"})
	rep, err := run.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}

	find := func(kind, subject string) *report.Event {
		for i := range rep.Events {
			if rep.Events[i].Kind == kind && rep.Events[i].Subject == subject {
				return &rep.Events[i]
			}
		}
		t.Errorf("no %s event for %q in the report: %+v", kind, subject, rep.Events)
		return &report.Event{}
	}
	started, finished := find(report.KindDuringStarted, ""), find(report.KindDuringFinished, "")
	find(report.KindPodObserved, "pod/api-1")
	created := find(report.KindPodCreated, "pod/api-2")
	deleted := find(report.KindPodDeleted, "pod/api-1")
	sigterm := find("agent.sigterm", "pod/api-1")
	if c := find("rollout.started", ""); c.Source != report.SourceCaller {
		t.Errorf("injected event source %q, want caller", c.Source)
	}
	for _, e := range []*report.Event{created, deleted, sigterm} {
		if e.AtSeconds < started.AtSeconds || e.AtSeconds > finished.AtSeconds+2 {
			t.Errorf("%s at %.3fs is outside the step [%.3f, %.3f]", e.Kind, e.AtSeconds, started.AtSeconds, finished.AtSeconds)
		}
	}
	if rep.Totals.ByClass[classify.HTTP503] == 0 || rep.Totals.OK == 0 {
		t.Errorf("want both 503s (during the step) and successes: %v", rep.Totals.ByClass)
	}
	if len(rep.Lanes) != 2 {
		t.Errorf("want lanes for api-1 and api-2: %+v", rep.Lanes)
	}
	t.Logf("%d requests, %d 503s; step %.3fs..%.3fs; api-2 created %.3fs; api-1 deleted %.3fs",
		rep.Totals.Requests, rep.Totals.ByClass[classify.HTTP503], started.AtSeconds, finished.AtSeconds, created.AtSeconds, deleted.AtSeconds)
}
