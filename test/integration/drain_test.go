package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
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
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
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
	e := startEnv(t, controllerInstances(t), withDrainEndpoint(t))
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
		held := f.hold(t, a)
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
	e := startEnv(t, controllerInstances(t), withDrainEndpoint(t), func(o *manager.Options) {
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

	held := f.hold(t, a)
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
func countingClient(t testing.TB, cfg *rest.Config, n *atomic.Int64) client.Client {
	t.Helper()
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
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

// terminations is what pods terminating at once cost and got.
type terminations struct {
	// Reviews is the TokenReviews the API server got; Asks the asks sent.
	Reviews, Asks int64
	// Drained, Fallback and MaxWait count the pods' outcomes.
	Drained, Fallback, MaxWait int64
}

// terminateAll serves a drain handler built as the manager builds it (reads
// from an informer cache, TokenReviews through their own client limited to
// DefaultReviewQPS/Burst, the review cache's TTL ttl, zero turning it off)
// on its own TLS listener, and lets every token's pod wait as wait-drained
// does (every 100 ms, the fallback after 2 s of failed asks), all at once;
// each pod's drain lasts drainFor (earlier answers count as not drained).
func terminateAll(t testing.TB, e *env, tokens []string, drainFor, ttl time.Duration) terminations {
	t.Helper()
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	informers, err := cache.New(e.cfg, cache.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	reads, err := client.New(e.cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	rc := rest.CopyConfig(e.cfg)
	rc.QPS, rc.Burst = drain.DefaultReviewQPS, drain.DefaultReviewBurst
	reviews := countingClient(t, rc, &n)
	rev := drain.NewReviewer(reviews)
	rev.TTL = ttl
	h := &drain.Handler{Client: reads, APIReader: reads, Reviewer: rev, Limiter: drain.NewPodLimiter(), Pool: pool.New(provider.New), ClusterID: "c"}
	var o manager.Options
	withDrainEndpoint(t)(&o)
	wo := e.te.WebhookInstallOptions
	srv := drain.NewServer(o.DrainAddr, wo.LocalServingCertDir, h, logr.Discard())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() { cancel(); <-done }()
	e.eventually("drain server listening", 30*time.Second, func() error { return srv.StartedChecker()(nil) })
	dir := t.TempDir()
	var res terminations
	var asks, drained, fallback, maxWait atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	opts := drain.WaitOptions{MaxWait: time.Minute, Interval: 100 * time.Millisecond, UnreachableAfter: 2 * time.Second}
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
			start := time.Now()
			ask := func(ctx context.Context) (drain.Answer, error) {
				asks.Add(1)
				a, err := cl.Ask(ctx)
				var throttled *drain.ThrottledError
				if err != nil && !errors.As(err, &throttled) {
					firstErr.Do(func() { t.Logf("first failed ask (review cache TTL %s): %v", ttl, err) })
				}
				if err == nil && time.Since(start) < drainFor {
					a.Drained = false
				}
				return a, err
			}
			switch drain.Wait(context.Background(), ask, opts, drain.RealClock{}).Outcome {
			case drain.OutcomeDrained:
				drained.Add(1)
			case drain.OutcomeFallback:
				fallback.Add(1)
			case drain.OutcomeMaxWait:
				maxWait.Add(1)
			}
		})
	}
	wg.Wait()
	res.Reviews, res.Asks = n.Load(), asks.Load()
	res.Drained, res.Fallback, res.MaxWait = drained.Load(), fallback.Load(), maxWait.Load()
	return res
}

// TestDrainEndpoint_TokenReviewsAreBoundedPerPod proves that pods
// terminating at once, each asking every 100 ms through a 1 s drain, cost
// the API server one TokenReview per pod and all get their answer, where
// without the review cache every ask costs a review
// (BenchmarkDrainEndpoint_TokenReviews shows 500 pods then falling back).
func TestDrainEndpoint_TokenReviewsAreBoundedPerPod(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	const pods = 50
	tokens := terminatingPods(t, e, "reviews", pods)
	uncached := terminateAll(t, e, tokens, time.Second, 0)
	cached := terminateAll(t, e, tokens, time.Second, drain.DefaultReviewTTL)
	t.Logf("%d pods, 1s drain each: without the cache %+v; with it (TTL %s) %+v", pods, uncached, drain.DefaultReviewTTL, cached)
	if cached.Drained != pods {
		t.Errorf("with the cache %d of %d pods were told drained", cached.Drained, pods)
	}
	if cached.Reviews > pods {
		t.Errorf("with the cache %d reviews, want at most one per pod (%d)", cached.Reviews, pods)
	}
	if uncached.Reviews != uncached.Asks || uncached.Reviews <= cached.Reviews {
		t.Errorf("without the cache %+v: want one review per ask, more than with it (else this test shows nothing)", uncached)
	}
}

// BenchmarkDrainEndpoint_TokenReviews prints what 500 pods terminating at
// once cost the API server in TokenReviews, each waiting as wait-drained
// does through a 3 s drain, with and without the review cache, and how the
// pods' waits ended.
func BenchmarkDrainEndpoint_TokenReviews(b *testing.B) {
	e := startEnv(b, controllerInstances(b))
	const pods = 500
	tokens := terminatingPods(b, e, "reviews", pods)
	for b.Loop() {
		for _, run := range []struct {
			name string
			ttl  time.Duration
		}{{"uncached", 0}, {"cached", drain.DefaultReviewTTL}} {
			r := terminateAll(b, e, tokens, 3*time.Second, run.ttl)
			fmt.Fprintf(os.Stderr, "    %d pods, 3s drain, review cache %s: %d asks, %d TokenReviews; %d drained, %d fell back, %d hit the max wait\n",
				pods, run.name, r.Asks, r.Reviews, r.Drained, r.Fallback, r.MaxWait)
			b.ReportMetric(float64(r.Reviews), "reviews-"+run.name)
			b.ReportMetric(float64(r.Fallback), "fallbacks-"+run.name)
		}
	}
}

// hold sends a request through instance 0 that target tg holds open until
// released, waits until tg holds it, and returns where its outcome goes: nil
// when it ended 200 from tg.
func (f *lbFixture) hold(t *testing.T, tg *conformance.Server) <-chan error {
	t.Helper()
	held := make(chan error, 1)
	go func() {
		code, body, err := f.get(0, holdPath)
		if err == nil && (code != http.StatusOK || body != tg.Addr().String()) {
			err = fmt.Errorf("held request: %d %q", code, body)
		}
		held <- err
	}()
	f.e.eventually("a request held on target "+tg.Addr().String(), 30*time.Second, func() error {
		if tg.Holding() != 1 {
			return fmt.Errorf("holding %d", tg.Holding())
		}
		return nil
	})
	return held
}
