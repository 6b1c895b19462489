package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/manager"
)

// drainCaller asks the drain endpoint, as wait-drained does, over the
// controller's real TLS drain listener.
type drainCaller struct {
	url  string
	http *http.Client
}

// withDrainEndpoint gives the controller a drain listener on a free port of
// envtest's serving host (its certificate is envtest's webhook one).
func withDrainEndpoint(t testing.TB) func(*manager.Options) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return func(o *manager.Options) { o.DrainAddr = addr }
}

// newDrainCaller returns a caller of the controller's drain listener (the
// env must have been started withDrainEndpoint).
func newDrainCaller(t testing.TB, e *env) *drainCaller {
	t.Helper()
	var o manager.Options
	for _, f := range e.opts {
		f(&o)
	}
	if o.DrainAddr == "" {
		t.Fatal("env started without withDrainEndpoint")
	}
	return newDrainCallerAt(t, e, "https://"+o.DrainAddr+drain.Path)
}

func newDrainCallerAt(t testing.TB, e *env, url string) *drainCaller {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(e.te.WebhookInstallOptions.LocalServingCAData) {
		t.Fatal("no CA from envtest")
	}
	return &drainCaller{
		url:  url,
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
}

// ask returns the HTTP status and, on 200, the answer.
func (d *drainCaller) ask(t testing.TB, token, query string) (int, drain.Answer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		t.Fatalf("asking the drain endpoint: %v", err)
	}
	defer resp.Body.Close()
	var a drain.Answer
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, a
}

// podToken returns a token bound to pod p for audience aud, as the kubelet
// writes into the projected volume.
func podToken(t testing.TB, e *env, p *corev1.Pod, aud string) string {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(e.cfg)
	exp := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(context.Background(), "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{aud}, ExpirationSeconds: &exp,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for pod %s: %v", p.Name, err)
	}
	return tr.Status.Token
}

// TestDrainEndpoint_AuthenticatesAndAnswersOnlyAboutTheCallersPod proves
// the drain endpoint refuses callers without a valid pod-bound token for its
// audience and requests about another pod, and that it answers "drained"
// only once HAProxy has let go of a terminating pod.
func TestDrainEndpoint_AuthenticatesAndAnswersOnlyAboutTheCallersPod(t *testing.T) {
	e := startEnv(t, provider.New, withDrainEndpoint(t))
	f := newFixture(t, e, "drainauth", "/healthz")
	mustCreate(t, e, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "default"}})
	a, b := startTarget(t, "127.44.8.1"), startTarget(t, "127.44.8.2")
	a.SetHealthy(true)
	b.SetHealthy(true)
	pa, pb := f.startPod(t, a), f.startPod(t, b)
	f.waitGate(t, pa.Name)
	f.waitGate(t, pb.Name)
	d := newDrainCaller(t, e)
	tokenA := podToken(t, e, pa, drain.Audience)

	t.Run("no token is refused", func(t *testing.T) {
		if code, _ := d.ask(t, "", ""); code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", code)
		}
	})
	t.Run("a garbage token is refused", func(t *testing.T) {
		if code, _ := d.ask(t, "not-a-token", ""); code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", code)
		}
	})
	t.Run("a token for another audience is refused", func(t *testing.T) {
		if code, _ := d.ask(t, podToken(t, e, pa, "https://kubernetes.default.svc"), ""); code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", code)
		}
	})
	t.Run("asking about another pod is refused", func(t *testing.T) {
		if code, _ := d.ask(t, tokenA, "?pod="+f.ns+"/"+pb.Name); code != http.StatusForbidden {
			t.Errorf("status %d, want 403", code)
		}
	})
	t.Run("a serving pod is told it is not terminating", func(t *testing.T) {
		code, ans := d.ask(t, tokenA, "?pod="+f.ns+"/"+pa.Name)
		if code != http.StatusOK || !ans.Drained || ans.Reason != drain.ReasonNotTerminating || ans.Pod != f.ns+"/"+pa.Name {
			t.Errorf("got %d %+v, want 200 drained NotTerminating about itself", code, ans)
		}
	})
	t.Run("a terminating pod is drained only once HAProxy let go", func(t *testing.T) {
		b.SetHealthy(false) // all traffic to a
		f.waitState(t, 0, b, loadbalancer.StateUnhealthy)
		held := make(chan error, 1)
		go func() {
			code, body, err := f.get(0, holdPath)
			if err == nil && (code != http.StatusOK || body != a.Addr().String()) {
				err = fmt.Errorf("held request: %d %q", code, body)
			}
			held <- err
		}()
		e.eventually("a request held on target a", 30*time.Second, func() error {
			if a.Holding() != 1 {
				return fmt.Errorf("holding %d", a.Holding())
			}
			return nil
		})
		if err := e.c.Delete(context.Background(), pa); err != nil {
			t.Fatal(err)
		}
		f.waitState(t, 0, a, loadbalancer.StateDraining)
		if _, ans := d.ask(t, tokenA, ""); ans.Drained || ans.Reason != drain.ReasonDraining {
			t.Fatalf("answer while a session is open: %+v, want not drained", ans)
		}
		a.Release()
		if err := <-held; err != nil {
			t.Fatalf("in-flight request during the drain: %v", err)
		}
		e.eventually("drained answer", 15*time.Second, func() error {
			if _, ans := d.ask(t, tokenA, ""); !ans.Drained || ans.Reason != drain.ReasonDrained {
				return fmt.Errorf("answer %+v", ans)
			}
			return nil
		})
		// Drained means out of rotation for good: in maintenance (or gone),
		// not merely in drain with no session.
		if st := f.state(t, 0, a).State; st != loadbalancer.StateMaintenance && st != loadbalancer.StateAbsent {
			t.Errorf("answered drained while HAProxy has the target %s", st)
		}
	})
	t.Run("the webhook server does not serve the drain endpoint", func(t *testing.T) {
		wo := e.te.WebhookInstallOptions
		w := newDrainCallerAt(t, e, "https://"+net.JoinHostPort(wo.LocalServingHost, fmt.Sprint(wo.LocalServingPort))+drain.Path)
		if code, _ := w.ask(t, tokenA, ""); code != http.StatusNotFound {
			t.Errorf("status %d on the webhook server, want 404", code)
		}
	})
	t.Run("the bypass annotation answers drained at once", func(t *testing.T) {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AnnotationSkipDrainWait)
		if err := e.c.Patch(context.Background(), pb, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Delete(context.Background(), pb); err != nil {
			t.Fatal(err)
		}
		e.eventually("bypass answer", 30*time.Second, func() error {
			if _, ans := d.ask(t, podToken(t, e, pb, drain.Audience), ""); !ans.Drained || ans.Reason != drain.ReasonBypass {
				return fmt.Errorf("answer %+v", ans)
			}
			return nil
		})
	})
}

// clusterID returns the cluster ID the manager resolves by default (the
// kube-system namespace's UID).
func clusterID(t testing.TB, e *env) string {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Name: metav1.NamespaceSystem}, ns); err != nil {
		t.Fatal(err)
	}
	return string(ns.UID)
}

// TestDrainEndpoint_DrainsWhileNoReplicaLeads proves that a replica that
// is not the leader drains the terminating caller's own target itself: with
// the lease held by a crashed leader, nothing else acts, yet the held
// request finishes, and the answer turns drained only once HAProxy has the
// target in maintenance. In the same situation the design where only the
// leader drained (observe-only) answers "Draining" about a target HAProxy
// still routes to, for as long as the lease is held: the pod's wait then
// ends at its max wait, with the target still in service.
func TestDrainEndpoint_DrainsWhileNoReplicaLeads(t *testing.T) {
	follower := false
	e := startEnv(t, provider.New, withDrainEndpoint(t), func(o *manager.Options) {
		if follower {
			o.LeaderElection, o.LeaderElectionNamespace = true, metav1.NamespaceDefault
			o.RetryPeriod = 200 * time.Millisecond
		}
	})
	f := newFixture(t, e, "drainnoleader", "/healthz")
	mustCreate(t, e, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "default"}})
	a, b := startTarget(t, "127.44.9.1"), startTarget(t, "127.44.9.2")
	a.SetHealthy(true)
	b.SetHealthy(true)
	pa, pb := f.startPod(t, a), f.startPod(t, b)
	f.waitGate(t, pa.Name)
	f.waitGate(t, pb.Name)
	b.SetHealthy(false) // all traffic to a
	f.waitState(t, 0, b, loadbalancer.StateUnhealthy)

	// The leader crashes: its lease stays held. The replica that comes up
	// is a follower for the whole test.
	e.stopController()
	now := metav1.NewMicroTime(time.Now())
	holder, secs := "crashed-leader", int32(3600)
	mustCreate(t, e, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: manager.LeaderElectionID},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
	})
	follower = true
	e.startController()
	d := newDrainCaller(t, e)
	tokenA := podToken(t, e, pa, drain.Audience)

	held := make(chan error, 1)
	go func() {
		code, body, err := f.get(0, holdPath)
		if err == nil && (code != http.StatusOK || body != a.Addr().String()) {
			err = fmt.Errorf("held request: %d %q", code, body)
		}
		held <- err
	}()
	e.eventually("a request held on target a", 30*time.Second, func() error {
		if a.Holding() != 1 {
			return fmt.Errorf("holding %d", a.Holding())
		}
		return nil
	})
	if err := e.c.Delete(context.Background(), pa); err != nil {
		t.Fatal(err)
	}
	id := drain.PodIdentity{Namespace: pa.Namespace, Name: pa.Name, UID: pa.UID}

	t.Run("observe-only (only the leader drains): Draining about a target still in service", func(t *testing.T) {
		old := &drain.Handler{Client: e.c, Pool: pool.New(provider.New), ClusterID: clusterID(t, e), ObserveOnly: true}
		e.eventually("the deletion seen", 10*time.Second, func() error {
			ans, err := old.Answer(context.Background(), id)
			if err != nil || ans.Reason == drain.ReasonNotTerminating {
				return fmt.Errorf("answer %+v %v", ans, err)
			}
			return nil
		})
		for range 10 {
			ans, err := old.Answer(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if ans.Drained || ans.Reason != drain.ReasonDraining {
				t.Fatalf("observe-only answer %+v", ans)
			}
			time.Sleep(100 * time.Millisecond)
		}
		st := f.state(t, 0, a)
		t.Logf("observe-only: 10 asks over 1s answered Draining, HAProxy still has the target %s with %d session(s)", st.State, st.Sessions)
		if st.State != loadbalancer.StateHealthy {
			t.Errorf("target %s; want it still Healthy (nobody drains while no replica leads)", st.State)
		}
		// HAProxy still routes new requests to the deleted pod.
		if code, body, err := f.get(0, "/"); err != nil || code != http.StatusOK || body != a.Addr().String() {
			t.Errorf("new request: %d %q %v, want served by the deleted pod's target", code, body, err)
		}
	})

	t.Run("any replica drains its caller: drained only once HAProxy let go for good", func(t *testing.T) {
		code, ans := d.ask(t, tokenA, "")
		if code != http.StatusOK || ans.Drained {
			t.Fatalf("first ask: %d %+v, want 200 not drained", code, ans)
		}
		f.waitState(t, 0, a, loadbalancer.StateDraining)
		if _, ans := d.ask(t, tokenA, ""); ans.Drained || ans.Reason != drain.ReasonDraining {
			t.Fatalf("answer while a session is open: %+v, want Draining", ans)
		}
		a.Release()
		if err := <-held; err != nil {
			t.Fatalf("in-flight request during the drain: %v", err)
		}
		var asks int
		e.eventually("drained answer", 15*time.Second, func() error {
			asks++
			if _, ans := d.ask(t, tokenA, ""); !ans.Drained || ans.Reason != drain.ReasonDrained {
				return fmt.Errorf("answer %+v", ans)
			}
			return nil
		})
		st := f.state(t, 0, a).State
		t.Logf("acting endpoint: drained after the held request finished (%d asks after the release), HAProxy has the target %s", asks, st)
		if st != loadbalancer.StateMaintenance && st != loadbalancer.StateAbsent {
			t.Errorf("answered drained while HAProxy has the target %s", st)
		}
		lease := &coordinationv1.Lease{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: metav1.NamespaceDefault, Name: manager.LeaderElectionID}, lease); err != nil {
			t.Fatal(err)
		}
		if h := lease.Spec.HolderIdentity; h == nil || *h != holder {
			t.Errorf("lease holder %v: the replica led after all, the test proves nothing", h)
		}
	})
}

// countingClient is a real client that counts the TokenReviews it creates.
func countingClient(t testing.TB, e *env, n *atomic.Int64) client.Client {
	t.Helper()
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(e.cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*authenticationv1.TokenReview); ok {
				n.Add(1)
			}
			return c.Create(ctx, obj, opts...)
		},
	})
}

// terminatingPods creates n pods in a new namespace, deletes them (a
// finalizer keeps them terminating) and returns a projected-style token of
// each, as the kubelet would write it.
func terminatingPods(t testing.TB, e *env, ns string, n int) []string {
	t.Helper()
	e.namespace(ns, false)
	mustCreate(t, e, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}})
	tokens := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p := pod(ns, fmt.Sprintf("p-%d", i), nil, 8080)
			p.Finalizers = []string{"test.zerodrop.dev/hold"}
			p.Spec.ServiceAccountName = "default"
			mustCreate(t, e, p)
			tokens[i] = podToken(t, e, p, drain.Audience)
			if err := e.c.Delete(context.Background(), p); err != nil {
				t.Errorf("deleting %s: %v", p.Name, err)
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for i := range n {
			p := &corev1.Pod{}
			if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("p-%d", i)}, p); err == nil {
				p.Finalizers = nil
				_ = e.c.Update(context.Background(), p)
			}
		}
	})
	return tokens
}

// askAll serves a drain handler on its own TLS listener (the reviewer's TTL
// is ttl; zero turns the cache off), lets every token's pod ask asks times
// at wait-drained's interval through the real client, all pods at once, and
// returns the TokenReviews the API server got and the asks that failed.
func askAll(t testing.TB, e *env, tokens []string, asks int, ttl time.Duration) (reviews, failed int64) {
	t.Helper()
	var n atomic.Int64
	c := countingClient(t, e, &n)
	h := &drain.Handler{Client: c, Reviewer: &drain.Reviewer{Client: c, TTL: ttl}, Limiter: drain.NewPodLimiter(), Pool: pool.New(provider.New), ClusterID: "c"}
	var o manager.Options
	withDrainEndpoint(t)(&o)
	wo := e.te.WebhookInstallOptions
	srv := drain.NewServer(o.DrainAddr, wo.LocalServingCertDir, h, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() { cancel(); <-done }()
	e.eventually("drain server listening", 30*time.Second, func() error { return srv.StartedChecker()(nil) })
	dir := t.TempDir()
	var fails atomic.Int64
	var wg sync.WaitGroup
	for i, tok := range tokens {
		file := filepath.Join(dir, fmt.Sprintf("token-%d", i))
		if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		cl, err := drain.NewClient("https://"+o.DrainAddr+drain.Path, file, wo.LocalServingCAData)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range asks {
				if ans, err := cl.Ask(context.Background()); err != nil || !ans.Drained {
					fails.Add(1)
				}
				time.Sleep(100 * time.Millisecond) // wait-drained's --interval
			}
		})
	}
	wg.Wait()
	return n.Load(), fails.Load()
}

// TestDrainEndpoint_TokenReviewsAreBoundedPerPod proves that pods
// terminating at once, each asking every 100 ms, cost the API server one
// TokenReview per pod (per ReviewTTL), where without the cache each ask
// costs one.
func TestDrainEndpoint_TokenReviewsAreBoundedPerPod(t *testing.T) {
	e := startEnv(t, provider.New)
	const pods, asks = 50, 10
	tokens := terminatingPods(t, e, "reviews", pods)
	uncached, f1 := askAll(t, e, tokens, asks, 0)
	cached, f2 := askAll(t, e, tokens, asks, drain.DefaultReviewTTL)
	t.Logf("%d pods × %d asks: %d TokenReviews without the cache, %d with it (TTL %s)", pods, asks, uncached, cached, drain.DefaultReviewTTL)
	if f1+f2 != 0 {
		t.Errorf("%d asks failed or did not answer drained (no binding selects the pods)", f1+f2)
	}
	if uncached != pods*asks {
		t.Errorf("without the cache %d reviews, want one per ask (%d)", uncached, pods*asks)
	}
	if cached > pods {
		t.Errorf("with the cache %d reviews, want at most one per pod (%d)", cached, pods)
	}
}

// BenchmarkDrainEndpoint_TokenReviews prints the TokenReviews 500 pods
// terminating at once cost the API server, each asking every 100 ms for
// 1 s (10 asks), with and without the review cache.
func BenchmarkDrainEndpoint_TokenReviews(b *testing.B) {
	e := startEnv(b, provider.New)
	const pods, asks = 500, 10
	tokens := terminatingPods(b, e, "reviews", pods)
	for b.Loop() {
		uncached, f1 := askAll(b, e, tokens, asks, 0)
		cached, f2 := askAll(b, e, tokens, asks, drain.DefaultReviewTTL)
		if f1+f2 != 0 {
			b.Errorf("%d asks failed", f1+f2)
		}
		b.ReportMetric(float64(uncached), "reviews-uncached")
		b.ReportMetric(float64(cached), "reviews-cached")
		b.ReportMetric(float64(pods*asks), "asks")
	}
}
