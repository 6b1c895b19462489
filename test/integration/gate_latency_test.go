package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/manager"
)

// BenchmarkGateLatency measures, for pods behind a real HAProxy, the time
// from HAProxy's own state change (the target answering the rise-th
// passing check after it turned healthy: HAProxy marks it UP on that
// answer) to the gate condition True arriving on a watch of the pod. It
// reports p50 and p99 in milliseconds; run it with `make bench`.
func BenchmarkGateLatency(b *testing.B) {
	const pods = 40
	e := startEnv(b, controllerInstances(b))
	f := newFixture(b, e, "latency", "/healthz")
	wc, err := client.NewWithWatch(e.cfg, client.Options{Scheme: e.c.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for i := range pods {
		tg := startTarget(b, fmt.Sprintf("127.44.9.%d", i+1))
		p := f.startPod(b, tg)
		w, err := wc.Watch(context.Background(), &corev1.PodList{}, client.InNamespace(f.ns), client.MatchingFields{"metadata.name": p.Name})
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // registered, failing its checks
		turned := time.Now()
		tg.SetHealthy(true)
		seen := waitGateEvent(b, w, f.binding)
		w.Stop()
		passed := tg.PassedSince(turned)
		if len(passed) < 2 {
			b.Fatalf("pod %s: gate True after %d passing checks; HAProxy needs rise=2", p.Name, len(passed))
		}
		lat = append(lat, seen.Sub(passed[1]))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[(len(lat)*99+99)/100-1]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.Logf("gate latency after HAProxy's state change over %d pods: p50 %s, p99 %s, max %s (poll interval %s)", pods, p50, p99, lat[len(lat)-1], manager.DefaultPollInterval)
}

// waitGateEvent returns when a watch event shows the binding's gate True.
func waitGateEvent(b *testing.B, w watch.Interface, binding string) time.Time {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("watch closed")
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			for _, c := range p.Status.Conditions {
				if string(c.Type) == v1alpha1.GateConditionType(binding) && c.Status == corev1.ConditionTrue {
					return time.Now()
				}
			}
		case <-timeout:
			b.Fatal("gate not True within 30s")
		}
	}
}
