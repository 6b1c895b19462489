//go:build realnode

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/zerodrop/zerodrop/internal/demo"
	"github.com/zerodrop/zerodrop/internal/localcluster"
	"github.com/zerodrop/zerodrop/internal/localcluster/podapp"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// latencySamples is how many pods each node kind runs in
// BenchmarkNodeLatencies_RealVsVirtual.
const latencySamples = 5

// benchGate is the readiness gate the benchmark's pods carry and the
// benchmark sets itself, as zerodrop's controller would.
const benchGate = "bench.zerodrop.dev/gate"

// BenchmarkNodeLatencies_RealVsVirtual starts one cluster with one virtual
// node and one real node (kubelet + containerd + runc) and, on each, runs
// latencySamples pods one after the other, measuring: the pod's gate
// condition patched True → the pod seen Ready (a watch, like the
// EndpointSlice controller's); the delete call → its httpGet preStop
// starting (the app's log on the real node, the agent's record on the
// virtual one); the preStop's end → SIGTERM; the delete call → the object
// gone. It reports the medians and prints every sample. Run it with
// -tags realnode -run '^$' -bench NodeLatencies -benchtime 1x.
func BenchmarkNodeLatencies_RealVsVirtual(b *testing.B) {
	realNodeRequirements(b)
	images := realNodeImages(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{
		Nodes: 1, RealNodes: 1, Images: images, FirstNodeIndex: 20, BinDir: filepath.Join("..", "..", "bin"),
	})
	if err != nil {
		b.Fatalf("starting the cluster: %v", err)
	}
	defer func() { _ = c.Stop() }()
	const ns = "bench"
	if _, err := c.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitServiceAccount(ctx, ns); err != nil {
		b.Fatal(err)
	}
	nodes := []struct{ kind, name string }{{"virtual", "vnode-0"}, {"real", c.RealNodes()[0].Name}}
	for b.Loop() {
		for _, n := range nodes {
			var gate, delPre, preSig, delGone []time.Duration
			for i := range latencySamples {
				s, err := measurePod(ctx, c, ns, fmt.Sprintf("%s-%d", n.kind, i), n.name, n.kind == "real")
				if err != nil {
					b.Fatalf("%s node: %v", n.kind, err)
				}
				gate, delPre, preSig, delGone = append(gate, s.gateToReady), append(delPre, s.deleteToPreStop), append(preSig, s.preStopToSIGTERM), append(delGone, s.deleteToGone)
				// Standard error: a benchmark's log keeps ten lines.
				fmt.Fprintf(os.Stderr, "    %-7s gate→Ready %4dms  delete→preStop %4dms  preStop end→SIGTERM %4dms  delete→gone %5dms\n",
					n.kind, s.gateToReady.Milliseconds(), s.deleteToPreStop.Milliseconds(), s.preStopToSIGTERM.Milliseconds(), s.deleteToGone.Milliseconds())
			}
			for _, m := range []struct {
				name string
				ds   []time.Duration
			}{{"gate→ready", gate}, {"delete→preStop", delPre}, {"preStopEnd→SIGTERM", preSig}, {"delete→gone", delGone}} {
				d := demo.Distribute(m.ds)
				b.ReportMetric(float64(d.Median.Microseconds())/1000, m.name+"-p50-"+n.kind+"-ms")
			}
		}
	}
}

// podLatencies is what measurePod measured.
type podLatencies struct {
	gateToReady, deleteToPreStop, preStopToSIGTERM, deleteToGone time.Duration
}

// measurePod runs one pod on node through gate, Ready and deletion.
func measurePod(ctx context.Context, c *localcluster.Cluster, ns, name, node string, real bool) (podLatencies, error) {
	var out podLatencies
	client := c.Client()
	grace := int64(10)
	container := corev1.Container{
		Name: "app", Image: podapp.Image, ImagePullPolicy: corev1.PullNever,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: demo.ContainerPort}},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: podapp.PreStopPath + "?sleep=200ms", Port: intstr.FromString("http"),
		}}},
	}
	if real {
		container.Args = []string{podapp.CommandServe, fmt.Sprintf("--ports=%d", demo.ContainerPort)}
		container.Env = []corev1.EnvVar{{Name: podapp.EnvPodName, Value: name}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{vnode.AnnotationShutdown: string(vnode.ShutdownImmediate)}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			Containers:                    []corev1.Container{container},
			ReadinessGates:                []corev1.PodReadinessGate{{ConditionType: benchGate}},
			TerminationGracePeriodSeconds: &grace,
		},
	}
	created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return out, fmt.Errorf("creating pod %s: %w", name, err)
	}
	if _, err := waitPod(ctx, client, ns, name, created.ResourceVersion, func(p *corev1.Pod) bool {
		return podCondition(p, corev1.ContainersReady) == corev1.ConditionTrue
	}); err != nil {
		return out, fmt.Errorf("pod %s containers ready: %w", name, err)
	}
	cur, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return out, err
	}
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":%q,"status":"True","lastTransitionTime":%q}]}}`, benchGate, time.Now().UTC().Format(time.RFC3339))
	gateAt := time.Now()
	if _, err := client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		return out, fmt.Errorf("setting the gate of %s: %w", name, err)
	}
	readyAt, err := waitPod(ctx, client, ns, name, cur.ResourceVersion, func(p *corev1.Pod) bool {
		return podCondition(p, corev1.PodReady) == corev1.ConditionTrue
	})
	if err != nil {
		return out, fmt.Errorf("pod %s Ready: %w", name, err)
	}
	out.gateToReady = readyAt.Sub(gateAt)

	cur, err = client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return out, err
	}
	deleteAt := time.Now()
	if err := client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return out, fmt.Errorf("deleting %s: %w", name, err)
	}
	goneAt, err := waitPod(ctx, client, ns, name, cur.ResourceVersion, nil)
	if err != nil {
		return out, fmt.Errorf("pod %s removed: %w", name, err)
	}
	out.deleteToGone = goneAt.Sub(deleteAt)
	// The record of a real node's pod comes from its log, read every 100 ms.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, ok := c.Pod(ns, name)
		if ok && rec.UID == created.UID && !rec.PreStopStartedAt.IsZero() && !rec.PreStopFinishedAt.IsZero() && !rec.SIGTERMAt.IsZero() {
			out.deleteToPreStop = rec.PreStopStartedAt.Sub(deleteAt)
			out.preStopToSIGTERM = rec.SIGTERMAt.Sub(rec.PreStopFinishedAt)
			return out, nil
		}
		if time.Now().After(deadline) {
			return out, fmt.Errorf("pod %s: no preStop and SIGTERM recorded (record %+v)", name, rec)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPod watches pod ns/name from resourceVersion rv and returns when
// cond holds (cond nil: when the pod is deleted).
func waitPod(ctx context.Context, client kubernetes.Interface, ns, name, rv string, cond func(*corev1.Pod) bool) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
	if err != nil {
		return time.Time{}, fmt.Errorf("watching pod %s: %w", name, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return time.Time{}, fmt.Errorf("watch of pod %s ended", name)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			switch {
			case cond == nil && ev.Type == watch.Deleted:
				return time.Now(), nil
			case cond != nil && ev.Type != watch.Deleted && cond(p):
				return time.Now(), nil
			}
		}
	}
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}
