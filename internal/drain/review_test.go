package drain

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func podUser(ns, name, uid string) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{
		Username: "system:serviceaccount:" + ns + ":default",
		Extra: map[string]authenticationv1.ExtraValue{
			extraPodName: {name}, extraPodUID: {uid},
		},
	}
}

func TestPodOf(t *testing.T) {
	ok := authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{Audience}, User: podUser("shop", "web-1", "u1")}
	tests := []struct {
		name string
		st   func(s *authenticationv1.TokenReviewStatus)
		want PodIdentity
		err  bool
	}{
		{"a pod-bound service-account token for our audience", func(*authenticationv1.TokenReviewStatus) {}, PodIdentity{"shop", "web-1", "u1"}, false},
		{"not authenticated", func(s *authenticationv1.TokenReviewStatus) { s.Authenticated = false }, PodIdentity{}, true},
		{"authenticated for the API server's audience only (an authenticator that ignored spec.audiences)",
			func(s *authenticationv1.TokenReviewStatus) { s.Audiences = []string{"https://kubernetes.default.svc"} }, PodIdentity{}, true},
		{"no audiences in the status", func(s *authenticationv1.TokenReviewStatus) { s.Audiences = nil }, PodIdentity{}, true},
		{"a user, not a service account", func(s *authenticationv1.TokenReviewStatus) { s.User.Username = "alice" }, PodIdentity{}, true},
		{"a service account token not bound to a pod", func(s *authenticationv1.TokenReviewStatus) { s.User.Extra = nil }, PodIdentity{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := ok.DeepCopy()
			tt.st(st)
			got, err := PodOf(*st)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("PodOf = %+v, %v; want %+v, error %v", got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("error %v does not wrap ErrUnauthenticated", err)
			}
		})
	}
}

// reviewClient answers TokenReviews: token "good-<uid>" is pod <uid>'s,
// "down" fails the call, anything else is refused. It counts the calls.
func reviewClient(t *testing.T, calls *atomic.Int64) client.Client {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			calls.Add(1)
			tr := obj.(*authenticationv1.TokenReview)
			switch tok := tr.Spec.Token; {
			case tok == "down":
				return errors.New("connection refused")
			case len(tok) > 5 && tok[:5] == "good-":
				tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences, User: podUser("shop", "web-1", tok[5:])}
			default:
				tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid token"}
			}
			return nil
		},
	}).Build()
}

func TestReviewer_Review(t *testing.T) {
	now := time.Unix(1000, 0)
	var calls atomic.Int64
	r := &Reviewer{Client: reviewClient(t, &calls), TTL: 10 * time.Second, Size: 2, Now: func() time.Time { return now }}
	ctx := context.Background()
	ask := func(token string) (PodIdentity, error) { return r.Review(ctx, token) }

	if id, err := ask("good-a"); err != nil || id.UID != types.UID("a") {
		t.Fatalf("good-a: %+v %v", id, err)
	}
	for range 5 {
		_, _ = ask("good-a")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("6 asks with one token within the TTL cost %d reviews, want 1", n)
	}
	if _, err := ask("bad"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("bad: %v, want unauthenticated", err)
	}
	_, _ = ask("bad")
	if n := calls.Load(); n != 2 {
		t.Errorf("a refused token asked twice cost %d reviews in all, want 2 (the refusal is cached)", n)
	}
	_, _ = ask("down")
	_, err := ask("down")
	if err == nil || errors.Is(err, ErrUnauthenticated) {
		t.Errorf("down: %v, want a review failure", err)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("a failed review is not cached: %d reviews, want 4", n)
	}
	now = now.Add(10 * time.Second)
	_, _ = ask("good-a")
	if n := calls.Load(); n != 5 {
		t.Errorf("after the TTL: %d reviews, want 5", n)
	}
	_, _ = ask("good-b")
	_, _ = ask("good-c")
	if len(r.cache) > 2 {
		t.Errorf("cache holds %d entries, want at most Size 2", len(r.cache))
	}

	t.Run("concurrent asks with one token share one review", func(t *testing.T) {
		var calls atomic.Int64
		r := &Reviewer{Client: reviewClient(t, &calls), TTL: time.Minute}
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { _, _ = r.Review(ctx, "good-x") })
		}
		wg.Wait()
		if n := calls.Load(); n != 1 {
			t.Errorf("50 concurrent asks cost %d reviews, want 1", n)
		}
	})
	t.Run("without a TTL every ask costs a review", func(t *testing.T) {
		var calls atomic.Int64
		r := &Reviewer{Client: reviewClient(t, &calls)}
		for range 5 {
			_, _ = r.Review(ctx, "good-x")
		}
		if n := calls.Load(); n != 5 {
			t.Errorf("5 asks cost %d reviews, want 5", n)
		}
	})
}

func TestPodLimiter_Allow(t *testing.T) {
	l := &PodLimiter{Rate: 10, Burst: 2}
	now := time.Unix(1000, 0)
	var got []bool
	for range 3 {
		got = append(got, l.Allow("a", now))
	}
	got = append(got, l.Allow("b", now))
	got = append(got, l.Allow("a", now.Add(100*time.Millisecond)))
	want := []bool{true, true, false, true, true}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Allow sequence %v, want %v", got, want)
		}
	}
	l.Allow("c", now.Add(2*limiterIdle))
	if len(l.pods) != 1 {
		t.Errorf("after %s idle, %d pods remembered, want only the asking one", 2*limiterIdle, len(l.pods))
	}
}

// TestReviewer_Review_pending: an ask does not wait longer than Wait for a
// slow review; the review goes on and the next ask finds its outcome.
func TestReviewer_Review_pending(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	c := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			calls.Add(1)
			<-release
			tr := obj.(*authenticationv1.TokenReview)
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences, User: podUser("shop", "web-1", "u1")}
			return nil
		},
	}).Build()
	r := &Reviewer{Client: c, TTL: time.Minute, Wait: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := r.Review(ctx, "slow"); !errors.Is(err, ErrReviewPending) {
		t.Fatalf("first ask: %v, want ErrReviewPending", err)
	}
	cancel() // the first ask's client gave up: the review must go on
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		id, err := r.Review(context.Background(), "slow")
		if err == nil {
			if id.UID != "u1" {
				t.Fatalf("identity %+v", id)
			}
			break
		}
		if !errors.Is(err, ErrReviewPending) || time.Now().After(deadline) {
			t.Fatalf("later ask: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d reviews, want 1 (the slow one, finished after its ask gave up, then cached)", n)
	}
}
