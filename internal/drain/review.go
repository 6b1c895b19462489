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
// with one token share one review. Reviews that fail (the API server did
// not answer) are not cached. It is safe for concurrent use.
type Reviewer struct {
	// Client creates the TokenReviews.
	Client client.Client
	// TTL is how long an outcome is reused; zero or negative turns the
	// cache off (every ask costs a review).
	TTL time.Duration
	// Size bounds the cache; zero means DefaultReviewCacheSize.
	Size int
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

// NewReviewer returns a reviewer with the default TTL and size.
func NewReviewer(c client.Client) *Reviewer {
	return &Reviewer{Client: c, TTL: DefaultReviewTTL, Size: DefaultReviewCacheSize}
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
	v, err, _ := r.flight.Do(string(key[:]), func() (any, error) {
		id, err := r.review(ctx, token)
		if err == nil || errors.Is(err, ErrUnauthenticated) {
			r.store(key, reviewEntry{id: id, err: err, expires: r.now().Add(r.TTL)})
		}
		return id, err
	})
	return v.(PodIdentity), err
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
