package drain

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// Messages of the errors a pod may see; they name no load-balancer address
// (the details go to the controller's log).
const (
	msgInstanceUnreachable = "instance did not answer"
	msgActionFailed        = "instance refused the "
	msgConnectFailed       = "cannot connect to the load balancer"
	msgReviewFailed        = "token review failed, ask again"
	msgAnswerFailed        = "the controller could not answer, ask again"
	msgThrottled           = "too many asks for this pod, ask again later"
	msgReviewPending       = "token review pending, ask again"
)

// Handler answers a pod's "am I drained?" and, for a terminating pod, takes
// the pod's own targets out of rotation on every instance. Every replica
// serves it, leader or not.
type Handler struct {
	// Client reads pods, bindings, Services and LoadBalancers (the
	// manager's cache).
	Client client.Client
	// APIReader, if set, reads the pod straight from the API server when
	// the cached copy does not show it terminating (or is another pod of
	// the same name): the kubelet runs the preStop as soon as it sees the
	// deletion, which may be before this process's cache does, and a stale
	// "not terminating" would end the wait before the drain.
	APIReader client.Reader
	// Reviewer authenticates the callers' tokens; nil means a review per
	// ask with Client.
	Reviewer *Reviewer
	// Limiter, if set, bounds how often one pod is answered.
	Limiter *PodLimiter
	// Pool connects to load-balancer instances (shared with the reconciler).
	Pool *pool.Pool
	// ClusterID is the cluster's part of the owner tag (targets.Owner) of
	// the targets zerodrop registers: the handler acts only on the
	// caller's binding's own targets, and on legacy ones without an owner
	// at the caller's address.
	ClusterID string
	// InstanceTimeout bounds the work on one instance per ask; zero means
	// the package's InstanceTimeout, which keeps the answer inside the
	// client's ClientTimeout.
	InstanceTimeout time.Duration
	// ObserveOnly answers from the instances' state without acting on it:
	// the design in which only the leader's reconciler drained, kept so
	// that tests can show what it does while no replica leads.
	ObserveOnly bool
	// Metrics, if set, count the answers (MetricAnswers).
	Metrics *Metrics
}

// ServeHTTP authenticates the caller and answers about its own pod.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	logger := log.FromContext(ctx)
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		h.Metrics.count(AnswerUnauthenticated)
		http.Error(w, "missing bearer token", http.StatusUnauthorized)
		return
	}
	rev := h.Reviewer
	if rev == nil {
		rev = &Reviewer{Client: h.Client} // no cache
	}
	id, err := rev.Review(ctx, token)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		logger.Info("drain request refused", "reason", err.Error())
		h.Metrics.count(AnswerUnauthenticated)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	case errors.Is(err, ErrReviewPending):
		h.Metrics.count(AnswerReviewPending)
		w.Header().Set("Retry-After", "1")
		http.Error(w, msgReviewPending, http.StatusTooManyRequests)
		return
	case err != nil:
		logger.Error(err, "drain request: token review failed")
		h.Metrics.count(AnswerReviewFailed)
		http.Error(w, msgReviewFailed, http.StatusServiceUnavailable)
		return
	}
	if asked := r.URL.Query().Get("pod"); asked != "" && asked != id.String() {
		h.Metrics.count(AnswerForbidden)
		http.Error(w, fmt.Sprintf("token of pod %s may not ask about pod %s", id, asked), http.StatusForbidden)
		return
	}
	if h.Limiter != nil && !h.Limiter.Allow(id.UID, time.Now()) {
		h.Metrics.count(AnswerThrottled)
		w.Header().Set("Retry-After", "1")
		http.Error(w, msgThrottled, http.StatusTooManyRequests)
		return
	}
	ans, err := h.Answer(ctx, id)
	switch {
	case ctx.Err() != nil:
		// The client gave up: whatever is written now, it reads nothing.
		h.Metrics.count(AnswerClientGone)
	case err != nil:
		h.Metrics.count(AnswerFailed)
	default:
		h.Metrics.count(ans.Reason)
	}
	if err != nil {
		logger.Error(err, "drain request: no answer", "pod", id.String())
		http.Error(w, msgAnswerFailed, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// Answer reports whether every instance of every binding that drains the
// pod has let go of it, and, unless ObserveOnly, takes the pod's targets
// out of rotation where they are not yet.
func (h *Handler) Answer(ctx context.Context, id PodIdentity) (Answer, error) {
	ans := Answer{Pod: id.String()}
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
	var work []instanceWork
	for i := range bindings.Items {
		ws, ts, err := h.instances(ctx, &bindings.Items[i], pod)
		if err != nil {
			return ans, err
		}
		work = append(work, ws...)
		ans.Targets = append(ans.Targets, ts...)
	}
	ans.Targets = append(ans.Targets, h.onInstances(ctx, work)...)
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

// instanceWork is the caller's target on one instance of one binding.
type instanceWork struct {
	binding, lb, backend, owner string
	addr                        netip.AddrPort
	inst                        pool.NamedInstance
	// observe: the binding only observes (mode Observe); someone else
	// deregisters the target, the handler only reads its state.
	observe bool
}

// instances returns the instances of b's load balancer on which the pod
// has a target, or none if b does not drain the pod. A load balancer that
// cannot be connected to is returned as a failed target state.
func (h *Handler) instances(ctx context.Context, b *v1alpha1.TargetBinding, pod *corev1.Pod) ([]instanceWork, []TargetState, error) {
	if !b.DrainWaitEnabled() {
		return nil, nil, nil
	}
	svc := &corev1.Service{}
	if err := h.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.ServiceRef.Name}, svc); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	sel, err := targets.Resolve(svc, b.Spec.ServiceRef)
	if err != nil || !sel.Selects(pod) {
		return nil, nil, nil
	}
	addr, ok := sel.Address(pod)
	if !ok {
		return nil, nil, nil
	}
	lb := &v1alpha1.LoadBalancer{}
	if err := h.Client.Get(ctx, types.NamespacedName{Name: b.Spec.LoadBalancerRef}, lb); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	insts, err := h.Pool.Instances(lb)
	if err != nil {
		log.FromContext(ctx).Error(err, "drain request: connecting to the load balancer", "loadBalancer", lb.Name)
		return nil, []TargetState{{Binding: b.Name, LoadBalancer: lb.Name, Address: addr, Error: msgConnectFailed}}, nil
	}
	owner := targets.Owner(h.ClusterID, b.UID)
	out := make([]instanceWork, 0, len(insts))
	for _, inst := range insts {
		out = append(out, instanceWork{binding: b.Name, lb: lb.Name, backend: b.Spec.Backend, owner: owner, addr: addr, inst: inst, observe: b.Observes()})
	}
	return out, nil, nil
}

// onInstances does each work item in parallel, each within
// InstanceTimeout, and returns the target states in the items' order.
func (h *Handler) onInstances(ctx context.Context, work []instanceWork) []TargetState {
	res := make([][]TargetState, len(work))
	var wg sync.WaitGroup
	for i, w := range work {
		wg.Go(func() {
			ictx, cancel := context.WithTimeout(ctx, cmp.Or(h.InstanceTimeout, InstanceTimeout))
			defer cancel()
			res[i] = h.onInstance(ictx, w)
		})
	}
	wg.Wait()
	var out []TargetState
	for _, r := range res {
		out = append(out, r...)
	}
	return out
}

// onInstance reads the caller's targets on one instance (its binding's own,
// and legacy ones without an owner at its address) and takes each a step
// out of rotation (Next).
func (h *Handler) onInstance(ctx context.Context, w instanceWork) []TargetState {
	logger := log.FromContext(ctx).WithValues("loadBalancer", w.lb, "instance", w.inst.Name, "backend", w.backend, "target", w.addr.String())
	base := TargetState{Binding: w.binding, LoadBalancer: w.lb, Instance: w.inst.Name, Address: w.addr}
	if e, ok := w.inst.Instance.(loadbalancer.Expecter); ok {
		e.Expect(w.backend, w.addr) // the target is on its way out: watch it closely
	}
	st, err := w.inst.Status(ctx, w.backend)
	if err != nil {
		logger.Error(err, "drain request: instance status")
		base.Error = msgInstanceUnreachable
		return []TargetState{base}
	}
	var out []TargetState
	for _, ts := range st.Targets {
		if ts.Address != w.addr || (ts.Owner != w.owner && ts.Owner != "") {
			continue
		}
		t := base
		t.State, t.Sessions = string(ts.State), ts.Sessions
		act, _ := Next(ts.State, ts.Sessions)
		if act != ActionNone && !h.ObserveOnly && !w.observe {
			t.Action = string(act)
			if err := h.act(ctx, w, act, ts.Target); err != nil {
				logger.Error(err, "drain request: acting on the target", "action", string(act))
				t.Error = msgActionFailed + string(act)
			} else {
				logger.V(1).Info("drain request: acted on the target", "action", string(act), "state", string(ts.State), "sessions", ts.Sessions)
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		base.State = string(loadbalancer.StateAbsent)
		out = append(out, base)
	}
	return out
}

// act applies one action to one target.
func (h *Handler) act(ctx context.Context, w instanceWork, a Action, t loadbalancer.Target) error {
	switch a {
	case ActionDrain:
		return w.inst.Drain(ctx, w.backend, t)
	case ActionRemove:
		return w.inst.Remove(ctx, w.backend, t)
	}
	return nil
}
