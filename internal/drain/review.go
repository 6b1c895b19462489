package drain

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Extra keys the API server puts in a pod-bound token's user info.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// PodIdentity is who a token belongs to.
type PodIdentity struct {
	Namespace, Name string
	UID             types.UID
}

// String returns namespace/name.
func (id PodIdentity) String() string { return id.Namespace + "/" + id.Name }

// ErrReviewPending says the token's review has not finished within the
// reviewer's Wait; it goes on, and the next ask finds its outcome.
var ErrReviewPending = errors.New("token review pending")

// reviewTimeout bounds one TokenReview that no ask waits for any more.
const reviewTimeout = 10 * time.Second

// ErrUnauthenticated is wrapped by every error that says the token is not
// a valid pod-bound token for Audience (as opposed to the review failing).
var ErrUnauthenticated = errors.New("unauthenticated")

// PodOf checks a TokenReview's status and returns the pod the token is
// bound to. The API documents that a client must check that
// status.audiences holds its audience: an authenticator may ignore
// spec.audiences and answer for its own.
func PodOf(st authenticationv1.TokenReviewStatus) (PodIdentity, error) {
	if !st.Authenticated {
		return PodIdentity{}, fmt.Errorf("%w: token not authenticated", ErrUnauthenticated)
	}
	if !slices.Contains(st.Audiences, Audience) {
		return PodIdentity{}, fmt.Errorf("%w: token not valid for audience %s", ErrUnauthenticated, Audience)
	}
	rest, ok := strings.CutPrefix(st.User.Username, "system:serviceaccount:")
	ns, _, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" {
		return PodIdentity{}, fmt.Errorf("%w: token is not a service account's", ErrUnauthenticated)
	}
	names, uids := st.User.Extra[extraPodName], st.User.Extra[extraPodUID]
	if len(names) != 1 || len(uids) != 1 {
		return PodIdentity{}, fmt.Errorf("%w: token is not bound to a pod", ErrUnauthenticated)
	}
	return PodIdentity{Namespace: ns, Name: names[0], UID: types.UID(uids[0])}, nil
}

// Reviewer authenticates tokens with TokenReviews and reuses each outcome
// (a pod, or a refusal) for TTL, keyed by the token's SHA-256: a pod asking
// every 100 ms costs the API server one review per TTL, and concurrent asks
// with one token share one review. An ask waits at most Wait for its
// review (ErrReviewPending after that), which goes on regardless. Reviews
// that fail (the API server did not answer) are not cached. It is safe for
// concurrent use.
type Reviewer struct {
	// Client creates the TokenReviews.
	Client client.Client
	// TTL is how long an outcome is reused; zero or negative turns the
	// cache off (every ask costs a review).
	TTL time.Duration
	// Size bounds the cache; zero means DefaultReviewCacheSize.
	Size int
	// Wait bounds how long an ask waits for a review not cached yet; zero
	// means until the ask's context ends.
	Wait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	flight singleflight.Group
	mu     sync.Mutex
	cache  map[[sha256.Size]byte]reviewEntry
}

type reviewEntry struct {
	id      PodIdentity
	err     error
	expires time.Time
}

// NewReviewer returns a reviewer with the default TTL, size and wait.
func NewReviewer(c client.Client) *Reviewer {
	return &Reviewer{Client: c, TTL: DefaultReviewTTL, Size: DefaultReviewCacheSize, Wait: DefaultReviewWait}
}

// Review returns the pod the token is bound to; an error wrapping
// ErrUnauthenticated when the token is refused.
func (r *Reviewer) Review(ctx context.Context, token string) (PodIdentity, error) {
	if r.TTL <= 0 {
		return r.review(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	if e, ok := r.lookup(key); ok {
		return e.id, e.err
	}
	ch := r.flight.DoChan(string(key[:]), func() (any, error) {
		// Not the ask's context: the outcome is for every later ask too.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reviewTimeout)
		defer cancel()
		id, err := r.review(rctx, token)
		if err == nil || errors.Is(err, ErrUnauthenticated) {
			r.store(key, reviewEntry{id: id, err: err, expires: r.now().Add(r.TTL)})
		}
		return id, err
	})
	var wait <-chan time.Time
	if r.Wait > 0 {
		t := time.NewTimer(r.Wait)
		defer t.Stop()
		wait = t.C
	}
	select {
	case res := <-ch:
		return res.Val.(PodIdentity), res.Err
	case <-wait:
		return PodIdentity{}, ErrReviewPending
	case <-ctx.Done():
		return PodIdentity{}, fmt.Errorf("%w: %w", ErrReviewPending, ctx.Err())
	}
}

// review creates one TokenReview for Audience.
func (r *Reviewer) review(ctx context.Context, token string) (PodIdentity, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{Audience}}}
	if err := r.Client.Create(ctx, tr); err != nil {
		return PodIdentity{}, fmt.Errorf("token review: %w", err)
	}
	return PodOf(tr.Status)
}

func (r *Reviewer) lookup(key [sha256.Size]byte) (reviewEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[key]
	if !ok || !r.now().Before(e.expires) {
		return reviewEntry{}, false
	}
	return e, true
}

// store caches e; when the cache is full it first drops expired entries,
// then, if still full, an arbitrary one.
func (r *Reviewer) store(key [sha256.Size]byte, e reviewEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache == nil {
		r.cache = map[[sha256.Size]byte]reviewEntry{}
	}
	size := r.Size
	if size <= 0 {
		size = DefaultReviewCacheSize
	}
	if len(r.cache) >= size {
		now := r.now()
		for k, old := range r.cache {
			if !now.Before(old.expires) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < size {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[key] = e
}

func (r *Reviewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
