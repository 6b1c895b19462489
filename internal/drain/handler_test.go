package drain

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	lbfake "github.com/zerodrop/zerodrop/internal/loadbalancer/fake"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// TestAnswer_staleCache: the kubelet may run the preStop before the
// controller's cache has seen the deletion. The answer must then come from
// the API server's copy, not the cache's "not terminating".
func TestAnswer_staleCache(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	serving := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1"}}
	terminating := serving.DeepCopy()
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	terminating.Finalizers = []string{"test.zerodrop.dev/hold"} // the fake refuses a deleted object without one
	id := PodIdentity{Namespace: "shop", Name: "web-1", UID: "u1"}
	cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(serving).Build()
	api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(terminating).Build()

	for _, tc := range []struct {
		name   string
		reader client.Reader
		want   string
	}{
		{name: "without an API reader the stale cache answers", reader: nil, want: ReasonNotTerminating},
		{name: "with an API reader the deletion is seen", reader: api, want: ReasonNoBinding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{Client: cache, APIReader: tc.reader}
			ans, err := h.Answer(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if ans.Reason != tc.want {
				t.Errorf("reason %q, want %q", ans.Reason, tc.want)
			}
		})
	}
}

// blackhole is an instance that never answers: every call blocks until
// its context ends.
type blackhole struct{ loadbalancer.Instance }

func (blackhole) Status(ctx context.Context, _ string) (loadbalancer.BackendStatus, error) {
	<-ctx.Done()
	return loadbalancer.BackendStatus{}, ctx.Err()
}

// drainFixture is a terminating pod selected by one binding whose load
// balancer has instances a and b (fakes), and c when blackholed.
type drainFixture struct {
	h      *Handler
	id     PodIdentity
	a, b   *lbfake.Instance
	own    loadbalancer.Target
	legacy loadbalancer.Target
	other  loadbalancer.Target
}

const testBackend = "be"

func newDrainFixture(t *testing.T, withBlackhole bool) *drainFixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1", Labels: map[string]string{"app": "web"},
			DeletionTimestamp: &now, Finalizers: []string{"test.zerodrop.dev/hold"}},
		Status: corev1.PodStatus{PodIP: "127.0.0.9"},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	b := &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "b1"},
		Spec: v1alpha1.TargetBindingSpec{ServiceRef: v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}, LoadBalancerRef: "lb", Backend: testBackend}}
	insts := []v1alpha1.HAProxyInstance{{Name: "a", Socket: "/a"}, {Name: "b", Socket: "/b"}}
	if withBlackhole {
		insts = append(insts, v1alpha1.HAProxyInstance{Name: "c", Socket: "/c"})
	}
	lb := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: v1alpha1.LoadBalancerSpec{HAProxy: &v1alpha1.HAProxyLoadBalancer{Instances: insts}}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pod, svc, b, lb).Build()
	f := &drainFixture{a: lbfake.New(testBackend), b: lbfake.New(testBackend), id: PodIdentity{Namespace: "shop", Name: "web-1", UID: "u1"}}
	byName := map[string]loadbalancer.Instance{"a": f.a, "b": f.b, "c": blackhole{}}
	p := pool.New(func(_ v1alpha1.LoadBalancerSpec, name string) (loadbalancer.Instance, error) {
		return byName[name], nil
	})
	f.h = &Handler{Client: c, Pool: p, ClusterID: "cluster"}
	addr := netip.MustParseAddrPort("127.0.0.9:8080")
	f.own = loadbalancer.Target{Address: addr, Owner: targets.Owner("cluster", "b1")}
	f.legacy = loadbalancer.Target{Address: addr}
	f.other = loadbalancer.Target{Address: addr, Owner: targets.Owner("other-cluster", "b1")}
	return f
}

// put registers t on inst in state s with sessions.
func put(t *testing.T, inst *lbfake.Instance, tg loadbalancer.Target, s loadbalancer.State, sessions int64) {
	t.Helper()
	if err := inst.Register(context.Background(), testBackend, loadbalancer.CheckSettings{}, tg); err != nil {
		t.Fatal(err)
	}
	if err := inst.SetSessions(testBackend, tg, sessions); err != nil {
		t.Fatal(err)
	}
	if err := inst.SetState(testBackend, tg, s); err != nil {
		t.Fatal(err)
	}
}

func targetsOf(calls []lbfake.Call) []loadbalancer.Target {
	var out []loadbalancer.Target
	for _, c := range calls {
		out = append(out, c.Targets...)
	}
	return out
}

// TestHandler_Answer: any replica's endpoint takes a terminating caller's
// own targets out of rotation step by step and says drained only when every
// instance has it in maintenance or absent; it never touches another
// owner's target at the same address.
func TestHandler_Answer(t *testing.T) {
	ctx := context.Background()
	t.Run("healthy everywhere: drained on every instance, not yet drained", func(t *testing.T) {
		f := newDrainFixture(t, false)
		put(t, f.a, f.own, loadbalancer.StateHealthy, 2)
		put(t, f.b, f.own, loadbalancer.StateHealthy, 0)
		put(t, f.a, f.other, loadbalancer.StateHealthy, 5)
		f.a.ResetCalls()
		f.b.ResetCalls()
		ans, err := f.h.Answer(ctx, f.id)
		if err != nil {
			t.Fatal(err)
		}
		if ans.Drained || ans.Reason != ReasonDraining {
			t.Errorf("answer %+v, want Draining", ans)
		}
		for _, inst := range []*lbfake.Instance{f.a, f.b} {
			if got := targetsOf(inst.CallsTo(lbfake.MethodDrain)); len(got) != 1 || got[0] != f.own {
				t.Errorf("drained %v, want only our own target %v", got, f.own)
			}
		}
		// Second ask: a has a session open, b none (Drained): b's is
		// removed; third ask: b is gone, a still drains.
		ans, _ = f.h.Answer(ctx, f.id)
		if got := targetsOf(f.b.CallsTo(lbfake.MethodRemove)); len(got) != 1 || got[0] != f.own {
			t.Errorf("removed on b %v, want our own target", got)
		}
		if len(f.a.CallsTo(lbfake.MethodRemove)) != 0 || ans.Drained {
			t.Errorf("a target with a session open was removed or the answer is drained: %+v", ans)
		}
		if err := f.a.SetSessions(testBackend, f.own, 0); err != nil {
			t.Fatal(err)
		}
		_, _ = f.h.Answer(ctx, f.id) // a: Drained → removed
		ans, _ = f.h.Answer(ctx, f.id)
		if !ans.Drained || ans.Reason != ReasonDrained {
			t.Errorf("answer after removal everywhere %+v, want Drained", ans)
		}
		for _, c := range f.a.Calls() {
			for _, tg := range c.Targets {
				if tg == f.other {
					t.Errorf("another owner's target was touched: %+v", c)
				}
			}
		}
	})
	t.Run("a legacy target without owner at the pod's address is adopted", func(t *testing.T) {
		f := newDrainFixture(t, false)
		put(t, f.a, f.legacy, loadbalancer.StateHealthy, 0)
		f.a.ResetCalls()
		if _, err := f.h.Answer(ctx, f.id); err != nil {
			t.Fatal(err)
		}
		if got := targetsOf(f.a.CallsTo(lbfake.MethodDrain)); len(got) != 1 || got[0] != f.legacy {
			t.Errorf("drained %v, want the legacy target", got)
		}
	})
	t.Run("drained with no session is not out of rotation: maintenance first", func(t *testing.T) {
		f := newDrainFixture(t, false)
		put(t, f.a, f.own, loadbalancer.StateDrained, 0)
		put(t, f.b, f.own, loadbalancer.StateMaintenance, 0)
		ans, _ := f.h.Answer(ctx, f.id)
		if ans.Drained {
			t.Errorf("answer %+v while instance a still has the target in drain (persistent clients reach it)", ans)
		}
		if len(f.a.CallsTo(lbfake.MethodRemove)) != 1 || len(f.b.CallsTo(lbfake.MethodRemove)) != 0 {
			t.Errorf("removals a %v b %v, want one on a only", f.a.CallsTo(lbfake.MethodRemove), f.b.CallsTo(lbfake.MethodRemove))
		}
	})
	t.Run("observe-only (the leader-only design) answers Draining for a healthy target and never drains it", func(t *testing.T) {
		f := newDrainFixture(t, false)
		f.h.ObserveOnly = true
		put(t, f.a, f.own, loadbalancer.StateHealthy, 0)
		f.a.ResetCalls()
		for range 3 {
			ans, _ := f.h.Answer(ctx, f.id)
			if ans.Drained || ans.Reason != ReasonDraining {
				t.Fatalf("answer %+v", ans)
			}
		}
		if n := len(f.a.CallsTo(lbfake.MethodDrain)) + len(f.a.CallsTo(lbfake.MethodRemove)); n != 0 {
			t.Errorf("observe-only acted %d times", n)
		}
	})
	t.Run("errors name no load-balancer address", func(t *testing.T) {
		f := newDrainFixture(t, false)
		put(t, f.a, f.own, loadbalancer.StateHealthy, 0)
		f.a.SetError(lbfake.MethodDrain, errors.New("dial unix /run/haproxy/a.sock: refused"))
		f.b.SetError(lbfake.MethodStatus, errors.New("dial tcp 10.0.0.7:9999: i/o timeout"))
		ans, _ := f.h.Answer(ctx, f.id)
		if ans.Reason != ReasonInstanceUnreachable {
			t.Errorf("reason %s, want InstanceUnreachable", ans.Reason)
		}
		for _, ts := range ans.Targets {
			if strings.Contains(ts.Error, "sock") || strings.Contains(ts.Error, "10.0.0.7") {
				t.Errorf("target error %q names the load balancer", ts.Error)
			}
		}
	})
}

// TestClient_Ask_blackholedInstance: one instance that never answers must
// not make the client's ask time out: every instance is asked in parallel
// within InstanceTimeout, shorter than ClientTimeout, and the answer says
// which one did not answer while the others were drained.
func TestClient_Ask_blackholedInstance(t *testing.T) {
	f := newDrainFixture(t, true)
	put(t, f.a, f.own, loadbalancer.StateHealthy, 0)
	put(t, f.b, f.own, loadbalancer.StateHealthy, 0)
	var calls atomic.Int64
	f.h.Reviewer = &Reviewer{Client: reviewClient(t, &calls), TTL: time.Minute}
	srv := httptest.NewTLSServer(f.h)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("good-u1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(srv.URL+Path, tokenFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP.Transport = srv.Client().Transport
	ans, err := c.Ask(context.Background())
	if err != nil {
		t.Fatalf("ask with a blackholed instance: %v (the instance deadline must be shorter than the client's %s)", err, ClientTimeout)
	}
	if ans.Reason != ReasonInstanceUnreachable {
		t.Errorf("reason %s, want InstanceUnreachable", ans.Reason)
	}
	for _, inst := range []*lbfake.Instance{f.a, f.b} {
		if len(inst.CallsTo(lbfake.MethodDrain)) != 1 {
			t.Errorf("the answering instances were not drained in the same ask: %v", inst.Calls())
		}
	}
	t.Run("an instance deadline longer than the client's times the ask out", func(t *testing.T) {
		f.h.InstanceTimeout = 2 * ClientTimeout // the old 5 s per call against a 2 s client
		if _, err := c.Ask(context.Background()); err == nil {
			t.Fatal("ask answered; want the client's timeout")
		} else {
			t.Logf("without the shorter instance deadline: %v", err)
		}
	})
}
