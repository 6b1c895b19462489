package drain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// Extra keys the API server puts in a pod-bound token's user info.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// Handler answers a pod's "am I drained?".
type Handler struct {
	// Client reads pods, bindings, Services and LoadBalancers, and creates
	// TokenReviews.
	Client client.Client
	// APIReader, if set, reads the pod straight from the API server when
	// the cached copy does not show it terminating (or is another pod of
	// the same name): the kubelet runs the preStop as soon as it sees the
	// deletion, which may be before this process's cache does, and a stale
	// "not terminating" would end the wait before the drain.
	APIReader client.Reader
	// Pool connects to load-balancer instances (shared with the reconciler).
	Pool *pool.Pool
}

// PodIdentity is who a token belongs to.
type PodIdentity struct {
	Namespace, Name string
	UID             types.UID
}

// ServeHTTP authenticates the caller and answers about its own pod.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		http.Error(w, "missing bearer token", http.StatusUnauthorized)
		return
	}
	id, err := h.authenticate(ctx, token)
	if err != nil {
		log.FromContext(ctx).Info("drain request refused", "reason", err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if asked := r.URL.Query().Get("pod"); asked != "" && asked != id.Namespace+"/"+id.Name {
		http.Error(w, fmt.Sprintf("token of pod %s/%s may not ask about pod %s", id.Namespace, id.Name, asked), http.StatusForbidden)
		return
	}
	ans, err := h.Answer(ctx, id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// authenticate checks the token with a TokenReview for Audience and returns
// the pod it is bound to.
func (h *Handler) authenticate(ctx context.Context, token string) (PodIdentity, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{Audience}}}
	if err := h.Client.Create(ctx, tr); err != nil {
		return PodIdentity{}, fmt.Errorf("token review: %w", err)
	}
	st := tr.Status
	if !st.Authenticated {
		return PodIdentity{}, fmt.Errorf("token not authenticated: %s", st.Error)
	}
	ns, _, ok := strings.Cut(strings.TrimPrefix(st.User.Username, "system:serviceaccount:"), ":")
	if !ok || !strings.HasPrefix(st.User.Username, "system:serviceaccount:") {
		return PodIdentity{}, fmt.Errorf("token of %q is not a service account's", st.User.Username)
	}
	names, uids := st.User.Extra[extraPodName], st.User.Extra[extraPodUID]
	if len(names) != 1 || len(uids) != 1 {
		return PodIdentity{}, errors.New("token is not bound to a pod")
	}
	return PodIdentity{Namespace: ns, Name: names[0], UID: types.UID(uids[0])}, nil
}

// Answer reports whether every instance of every binding that drains the
// pod has let go of it.
func (h *Handler) Answer(ctx context.Context, id PodIdentity) (Answer, error) {
	ans := Answer{Pod: id.Namespace + "/" + id.Name}
	pod, err := h.pod(ctx, id)
	if err != nil {
		return ans, err
	}
	if pod.UID != id.UID {
		return ans, fmt.Errorf("pod %s is not the pod the token was issued for", ans.Pod)
	}
	switch {
	case pod.Annotations[v1alpha1.AnnotationSkipDrainWait] == "true":
		ans.Drained, ans.Reason = true, ReasonBypass
		return ans, nil
	case pod.DeletionTimestamp == nil:
		ans.Drained, ans.Reason = true, ReasonNotTerminating
		return ans, nil
	}
	var bindings v1alpha1.TargetBindingList
	if err := h.Client.List(ctx, &bindings, client.InNamespace(pod.Namespace)); err != nil {
		return ans, fmt.Errorf("listing bindings: %w", err)
	}
	for i := range bindings.Items {
		ts, err := h.targets(ctx, &bindings.Items[i], pod)
		if err != nil {
			return ans, err
		}
		ans.Targets = append(ans.Targets, ts...)
	}
	ans.Drained, ans.Reason = Verdict(ans.Targets)
	return ans, nil
}

// pod reads the caller's pod from the cache, and again from the API server
// when the cached copy is not terminating or not the caller's.
func (h *Handler) pod(ctx context.Context, id PodIdentity) (*corev1.Pod, error) {
	key := types.NamespacedName{Namespace: id.Namespace, Name: id.Name}
	pod := &corev1.Pod{}
	err := h.Client.Get(ctx, key, pod)
	fresh := err == nil && pod.DeletionTimestamp != nil && pod.UID == id.UID
	if !fresh && h.APIReader != nil {
		pod = &corev1.Pod{}
		err = h.APIReader.Get(ctx, key, pod)
	}
	if err != nil {
		return nil, fmt.Errorf("getting pod: %w", err)
	}
	return pod, nil
}

// targets returns the pod's target state on each instance of b, or none if
// b does not drain the pod.
func (h *Handler) targets(ctx context.Context, b *v1alpha1.TargetBinding, pod *corev1.Pod) ([]TargetState, error) {
	if !b.DrainWaitEnabled() {
		return nil, nil
	}
	svc := &corev1.Service{}
	if err := h.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.ServiceRef.Name}, svc); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	sel, err := targets.Resolve(svc, b.Spec.ServiceRef)
	if err != nil || !sel.Selects(pod) {
		return nil, nil
	}
	addr, ok := sel.Address(pod)
	if !ok {
		return nil, nil
	}
	lb := &v1alpha1.LoadBalancer{}
	if err := h.Client.Get(ctx, types.NamespacedName{Name: b.Spec.LoadBalancerRef}, lb); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	insts, err := h.Pool.Instances(lb)
	if err != nil {
		return []TargetState{{Binding: b.Name, LoadBalancer: lb.Name, Address: addr, Error: err.Error()}}, nil
	}
	out := make([]TargetState, 0, len(insts))
	for _, inst := range insts {
		t := TargetState{Binding: b.Name, LoadBalancer: lb.Name, Instance: inst.Name, Address: addr, State: string(loadbalancer.StateAbsent)}
		st, err := inst.Status(ctx, b.Spec.Backend)
		if err != nil {
			t.State, t.Error = "", err.Error()
		}
		for _, ts := range st.Targets {
			if ts.Address == addr {
				t.State, t.Sessions = string(ts.State), ts.Sessions
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// Verdict decides from the pod's targets whether it is drained: every
// target is gone, or drained with no session open. An instance that did not
// answer means not drained.
func Verdict(ts []TargetState) (bool, string) {
	if len(ts) == 0 {
		return true, ReasonNoBinding
	}
	for _, t := range ts {
		if t.Error != "" {
			return false, ReasonInstanceUnreachable
		}
		switch loadbalancer.State(t.State) {
		case loadbalancer.StateAbsent:
		case loadbalancer.StateDrained, loadbalancer.StateMaintenance:
			if t.Sessions > 0 {
				return false, ReasonDraining
			}
		default:
			return false, ReasonDraining
		}
	}
	return true, ReasonDrained
}
