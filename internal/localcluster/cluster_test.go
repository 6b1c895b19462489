package localcluster_test

import (
	"runtime/pprof"
	"os"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/zerodrop/zerodrop/internal/localcluster"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// waitTimeout bounds every wait; generous for a loaded 2-core machine.
const waitTimeout = 90 * time.Second

// eventLog collects every pod event of a cluster.
type eventLog struct {
	mu     sync.Mutex
	events []vnode.Event
}

func (l *eventLog) collect(ch <-chan vnode.Event) {
	for e := range ch {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	}
}

// of returns the events of the pod with uid, in order.
func (l *eventLog) of(uid types.UID) []vnode.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []vnode.Event
	for _, e := range l.events {
		if e.UID == uid {
			out = append(out, e)
		}
	}
	return out
}

func indexOf(events []vnode.Event, t vnode.EventType) int {
	for i, e := range events {
		if e.Type == t {
			return i
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func listPods(t *testing.T, cs kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("listing pods: %v", err)
	}
	return pods.Items
}

func get(url string) (int, string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func webDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					vnode.AnnotationStartupDelay: "300ms",
				}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "app",
					Image: "example.com/web:1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	}
}

// TestCluster runs one local cluster with three virtual nodes through the
// behaviours zerodrop's demo and e2e tests rely on.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ctx = logr.NewContext(ctx, funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{}))
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: 3, KeepDir: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	var total int64
	for _, comp := range c.Components() {
		total += comp.RSSBytes
	}
	t.Logf("control plane started in %s, RSS %d MiB", c.StartupDuration().Round(time.Millisecond), total>>20)
	events := &eventLog{}
	ch, unsubscribe := c.Subscribe()
	t.Cleanup(unsubscribe)
	go events.collect(ch)
	cs := c.Client()
	ns := metav1.NamespaceDefault

	t.Run("deployment pods are scheduled, get 127.1xx addresses, become Ready and serve", func(t *testing.T) {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, webDeployment("web", 3), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "3 ready web pods", func() (bool, error) {
			pods := listPods(t, cs, ns, "app=web")
			ready := 0
			for i := range pods {
				if podReady(&pods[i]) {
					ready++
				}
			}
			if false {
				for _, p := range pods {
					fmt.Fprintf(os.Stderr, "%s %s %s %+v\n", p.Name, p.Spec.NodeName, p.Status.PodIP, p.Status.Conditions)
				}
			}
			return ready == 3, fmt.Errorf("%d of %d ready", ready, len(pods))
		})
		nodes := map[string]bool{}
		for _, p := range listPods(t, cs, ns, "app=web") {
			if !strings.HasPrefix(p.Spec.NodeName, "vnode-") {
				t.Errorf("pod %s on node %q, want a virtual node", p.Name, p.Spec.NodeName)
			}
			nodes[p.Spec.NodeName] = true
			if !strings.HasPrefix(p.Status.PodIP, "127.1") || p.Status.HostIP == "" || p.Status.StartTime == nil {
				t.Errorf("pod %s: podIP %q hostIP %q startTime %v", p.Name, p.Status.PodIP, p.Status.HostIP, p.Status.StartTime)
			}
			if cs := p.Status.ContainerStatuses; len(cs) != 1 || !cs[0].Ready || cs[0].Started == nil || !*cs[0].Started || cs[0].State.Running == nil {
				t.Errorf("pod %s container status %+v", p.Name, cs)
			}
			for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
				if cond := condition(&p, ct); cond == nil || cond.Status != corev1.ConditionTrue {
					t.Errorf("pod %s condition %s = %+v", p.Name, ct, cond)
				}
			}
			code, body, err := get("http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/hello")
			if err != nil || code != http.StatusOK || !strings.Contains(body, p.Name) {
				t.Errorf("GET pod %s: %d %q %v", p.Name, code, body, err)
			}
			rec, ok := c.Pod(ns, p.Name)
			if !ok || rec.Requests != 1 || rec.HealthRequests == 0 {
				t.Errorf("pod %s record %+v, want 1 request and some health checks", p.Name, rec)
			}
		}
		t.Logf("pods spread over %d nodes", len(nodes))
		// A port the app does not serve refuses connections.
		p := listPods(t, cs, ns, "app=web")[0]
		if _, _, err := get("http://" + net.JoinHostPort(p.Status.PodIP, "9999") + "/"); err == nil {
			t.Errorf("GET on an unserved port of %s succeeded", p.Name)
		}
	})

	t.Run("endpointslices of a service", func(t *testing.T) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		}
		if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "endpointslice with 3 ready endpoints", func() (bool, error) {
			slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
			if err != nil {
				return false, err
			}
			ready := 0
			for _, s := range slices.Items {
				for _, ep := range s.Endpoints {
					if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
						ready++
					}
				}
			}
			return ready == 3, fmt.Errorf("%d slices, %d ready endpoints", len(slices.Items), ready)
		})
	})
}

var _ = errors.New
var _ = syscall.Kill
var _ = policyv1.Eviction{}
var _ = apierrors.IsNotFound
