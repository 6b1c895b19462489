// Package controller holds zerodrop's reconcilers. The TargetBinding
// reconciler keeps each bound pod's target registered on every instance of
// the binding's load balancer, sets the pod's readiness gate True once every
// instance reports the target healthy, and drains then removes targets whose
// pods leave. Decisions are pure functions (plan.go, desired.go, gate.go);
// the reconciler only reads, decides and applies.
package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// Event reasons the TargetBinding reconciler records.
const (
	EventGateTrue        = "ReadinessGateTrue"
	EventPodsMissingGate = "PodsMissingGate"
	// EventAWSControllerGate: the binding's pods also carry the AWS Load
	// Balancer Controller's readiness gate.
	EventAWSControllerGate = "AWSLoadBalancerControllerGate"
	EventInstanceRestarted = "InstanceRestarted"
	EventDrainTimeout      = "DrainTimeout"
	EventBackendError      = "BackendError"
	EventTargetsReleased   = "TargetsReleased"
	EventAddressConflict   = "AddressConflict"
	EventGateReleased      = "ReadinessGateReleased"
)

// EventRecorder knows how to record an event about an object (the
// events.k8s.io recorder of client-go and controller-runtime).
type EventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// DefaultMaxConcurrentReconciles is TargetBindingReconciler's default
// concurrency.
const DefaultMaxConcurrentReconciles = 4

// TargetBindingReconciler reconciles TargetBindings.
type TargetBindingReconciler struct {
	client.Client
	// Pool connects to load-balancer instances.
	Pool *pool.Pool
	// Recorder records events on bindings and pods.
	Recorder EventRecorder
	// Metrics are the controller's collectors.
	Metrics *Metrics
	// ClusterID identifies the cluster in the owner tag of the binding's
	// targets (targets.Owner).
	ClusterID string
	// APIReader, if set, reads pods straight from the API server before a
	// target on its way out is put back in service (see stillServing).
	APIReader client.Reader
	// PollInterval is how soon a binding is looked at again while some of
	// its targets are on their way in or out: it bounds gate latency.
	PollInterval time.Duration
	// ResyncInterval is how soon a settled binding is looked at again, to
	// notice load-balancer restarts.
	ResyncInterval time.Duration
	// MaxConcurrentReconciles is how many bindings are reconciled at once;
	// zero means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// DrainInjection is true when the webhook injects the drain wait; only
	// then are pods without it reported (status.podsWithoutDrainWait).
	DrainInjection bool
	// Now returns the current time; tests may replace it.
	Now func() time.Time

	mu sync.Mutex
	// drains holds when this controller started draining each target.
	drains map[drainKey]time.Time
	// missing and conflicts remember the last PodsMissingGate set and the
	// last conflicts per binding, so their events fire when they change,
	// not on every pass.
	missing, conflicts map[types.NamespacedName]string
	// foreignGates remembers the last AWS Load Balancer Controller gates
	// seen on a binding's pods, for reportForeignGates' event.
	foreignGates map[types.NamespacedName]string
}

// drainKey names one owner's target on one instance of one backend.
type drainKey struct {
	lb, instance, backend, owner string
	addr                         netip.AddrPort
}

// +kubebuilder:rbac:groups=zerodrop.dev,resources=targetbindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=zerodrop.dev,resources=targetbindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=zerodrop.dev,resources=targetbindings/finalizers,verbs=update
// +kubebuilder:rbac:groups=zerodrop.dev,resources=loadbalancers,verbs=get;list;watch
// +kubebuilder:rbac:groups=zerodrop.dev,resources=loadbalancers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=services;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create

// Reconcile brings one binding's targets, gates and status up to date. It
// reads like its table of contents: fetch, finalize or hold the finalizer,
// then the sync steps in order, and one status patch at the end.
func (r *TargetBindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &v1alpha1.TargetBinding{}
	if err := r.Get(ctx, req.NamespacedName, b); apierrors.IsNotFound(err) {
		return ctrl.Result{}, r.releaseOrphanedGates(ctx, req.NamespacedName)
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if !b.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, b)
	}
	if controllerutil.AddFinalizer(b, v1alpha1.FinalizerTargetBinding) {
		if err := r.Update(ctx, b); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	s := &syncState{binding: b, now: r.now()}
	orig := b.Status.DeepCopy()
	steps := []func(context.Context, *syncState) error{
		r.resolveService,      // the Service and its port
		r.resolveLoadBalancer, // the LoadBalancer and a connection per instance
		r.checkGrant,          // the LoadBalancer admits the namespace and backend
		r.listPods,            // selected pods, and the desired targets
		r.resolveOwnership,    // own tag, legacy adoption, conflicts in this cluster
		r.observeInstances,    // what every instance reports, split by owner
		r.applyPlans,          // register, drain, remove on every instance
		r.reportDrains,        // terminating pods' drain, as a pod condition
		r.setGates,            // gates True where every instance says healthy
		r.reportPendingGates,  // gates still pending, and for how long
		r.reportMissingGates,  // pods created without the gate
		r.reportForeignGates,  // pods the AWS Load Balancer Controller gates too
		r.reportConflicts,     // addresses another owner also wants
	}
	var err error
	for _, step := range steps {
		if err = step(ctx, s); err != nil {
			break
		}
	}
	r.summarize(s, err)
	if perr := r.patchStatus(ctx, b, orig); perr != nil {
		return ctrl.Result{}, perr
	}
	var stop *stopError
	if err != nil && !errors.As(err, &stop) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.requeueAfter(s)}, nil
}

// stopError ends a pass early for a reason already written into the
// binding's conditions; the pass is retried when a watched object changes
// or after the resync interval, not with backoff.
type stopError struct{ reason, message string }

func (e *stopError) Error() string { return e.message }

// syncState is what one pass learns, step by step.
type syncState struct {
	binding *v1alpha1.TargetBinding
	now     time.Time

	sel       targets.Selection
	lb        *v1alpha1.LoadBalancer
	instances []pool.NamedInstance
	// caps is what the LoadBalancer's provider can do and report.
	caps loadbalancer.Capabilities
	// grant is the Accepted condition checkGrant decided; nil when the
	// pass stopped before it.
	grant *metav1.Condition

	// selected are the pods the Service selects; others are the rest of the
	// namespace's pods that carry this binding's gate.
	selected, others []*corev1.Pod
	// desired maps each desired target to its pod.
	desired map[netip.AddrPort]*corev1.Pod

	// owner is the tag of the targets this binding registers; adoptLegacy
	// says whether it also owns the backend's targets from before owner
	// tags (see resolveOwnership).
	owner       string
	adoptLegacy bool
	// heldBy, when set, names the binding that manages the backend for a
	// provider without owner tags (the oldest managing binding): this one
	// then registers, drains and removes nothing there.
	heldBy string
	// yield maps the desired addresses this binding leaves to another
	// owner (a binding of this cluster, seen in the API, or any owner seen
	// on the load balancer, with a smaller tag) to who that is; conflicts
	// lists every clash, kept or yielded, for the ConflictFree condition.
	yield     map[netip.AddrPort]string
	conflicts []string

	// observed is each instance's report, by instance name, holding only
	// the targets this binding owns: every plan is made from it, so a
	// binding never drains, removes or re-registers another's target.
	observed map[string]loadbalancer.BackendStatus
	// view is observed plus other owners' targets at the addresses this
	// binding yields or finds taken: gates follow whether the load
	// balancer sends the pod traffic, whoever registered it.
	view map[string]loadbalancer.BackendStatus
	// healthy are the targets every instance reports healthy.
	healthy map[netip.AddrPort]bool
	// opened are the pods whose gate this pass set True.
	opened map[types.UID]bool
	// pending is set when targets are still on their way in or out.
	pending bool
	// unreachable counts instances that failed this pass.
	unreachable []string
}

// resolveService finds the binding's Service and port.
func (r *TargetBindingReconciler) resolveService(ctx context.Context, s *syncState) error {
	b := s.binding
	svc := &corev1.Service{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.ServiceRef.Name}, svc); err != nil {
		if apierrors.IsNotFound(err) {
			return &stopError{v1alpha1.ReasonServiceNotFound, fmt.Sprintf("service %q not found", b.Spec.ServiceRef.Name)}
		}
		return fmt.Errorf("getting service %q: %w", b.Spec.ServiceRef.Name, err)
	}
	sel, err := targets.Resolve(svc, b.Spec.ServiceRef)
	if err != nil {
		return &stopError{v1alpha1.ReasonPortNotFound, err.Error()}
	}
	s.sel = sel
	return nil
}

// resolveLoadBalancer finds the LoadBalancer and connects to its instances.
func (r *TargetBindingReconciler) resolveLoadBalancer(ctx context.Context, s *syncState) error {
	lb := &v1alpha1.LoadBalancer{}
	if err := r.Get(ctx, types.NamespacedName{Name: s.binding.Spec.LoadBalancerRef}, lb); err != nil {
		if apierrors.IsNotFound(err) {
			return &stopError{v1alpha1.ReasonLoadBalancerNotFound, fmt.Sprintf("load balancer %q not found", s.binding.Spec.LoadBalancerRef)}
		}
		return fmt.Errorf("getting load balancer %q: %w", s.binding.Spec.LoadBalancerRef, err)
	}
	insts, err := r.Pool.Instances(lb)
	if err != nil {
		return &stopError{v1alpha1.ReasonInstanceUnreachable, err.Error()}
	}
	s.lb, s.instances = lb, insts
	if len(insts) > 0 {
		s.caps = insts[0].Capabilities()
	}
	return nil
}

// checkGrant stops the pass unless the binding fits the LoadBalancer's
// provider (its backend is one in the provider's terms, its mode one the
// provider can do) and a grant of the LoadBalancer admits the binding's
// namespace and backend (Allowed). A binding that is not accepted
// registers, drains and removes nothing and sets no gate: see
// docs/grants.md.
func (r *TargetBindingReconciler) checkGrant(ctx context.Context, s *syncState) error {
	refuse := func(reason, msg string) error {
		s.grant = &metav1.Condition{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
		return &stopError{reason, msg}
	}
	if err := s.lb.Spec.ValidateBackend(s.binding.Spec.Backend); err != nil {
		return refuse(v1alpha1.ReasonInvalidBackend, err.Error())
	}
	if s.binding.Observes() && !s.caps.Observe {
		return refuse(v1alpha1.ReasonModeUnsupported, fmt.Sprintf("spec.mode is Observe, but provider %s of load balancer %s reports only the targets zerodrop registers: use mode Manage",
			s.lb.Spec.ProviderName(), s.lb.Name))
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: s.binding.Namespace}, ns); err != nil {
		return fmt.Errorf("getting namespace %q: %w", s.binding.Namespace, err)
	}
	ok, reason, msg := Allowed(s.lb, ns, s.binding.Spec.Backend)
	s.grant = &metav1.Condition{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: reason, Message: msg}
	if !ok {
		s.grant.Status = metav1.ConditionFalse
		return &stopError{reason, msg}
	}
	return nil
}

// listPods lists the pods the Service selects and the others carrying this
// binding's gate, and computes the desired targets. Both lists are narrowed
// in the cache (by label selector, by IndexPodGate), so that a reconcile
// copies its own pods, not the namespace's: listing the whole namespace was,
// with 100 bindings of 10 pods in one namespace, 1,000 pod copies per
// reconcile and a whole core of the controller.
func (r *TargetBindingReconciler) listPods(ctx context.Context, s *syncState) error {
	var selected, gated corev1.PodList
	if s.sel.Selector != nil {
		if err := r.List(ctx, &selected, client.InNamespace(s.binding.Namespace), client.MatchingLabelsSelector{Selector: s.sel.Selector}); err != nil {
			return fmt.Errorf("listing pods: %w", err)
		}
	}
	if err := r.List(ctx, &gated, client.InNamespace(s.binding.Namespace), client.MatchingFields{IndexPodGate: s.binding.Name}); err != nil {
		return fmt.Errorf("listing pods with the gate: %w", err)
	}
	gate := v1alpha1.GateConditionType(s.binding.Name)
	s.desired = map[netip.AddrPort]*corev1.Pod{}
	for i := range gated.Items {
		if pod := &gated.Items[i]; !s.sel.Selects(pod) {
			s.others = append(s.others, pod)
		}
	}
	for i := range selected.Items {
		pod := &selected.Items[i]
		s.selected = append(s.selected, pod)
		if !targets.Wanted(pod, s.binding.GateEnabled(), gate) {
			continue
		}
		if addr, ok := s.sel.Address(pod); ok {
			s.desired[addr] = pod
		}
	}
	return nil
}

// observeInstances asks every instance for the backend's targets. An
// instance that fails is recorded and skipped: the gate waits for it, and
// the other instances are still served.
func (r *TargetBindingReconciler) observeInstances(ctx context.Context, s *syncState) error {
	s.observed = map[string]loadbalancer.BackendStatus{}
	s.view = map[string]loadbalancer.BackendStatus{}
	for _, inst := range s.instances {
		st, err := inst.Status(ctx, s.binding.Spec.Backend)
		if err != nil {
			r.instanceFailed(ctx, s, inst.Name, "status", err)
			continue
		}
		if r.Pool.ObserveGeneration(s.binding.Namespace+"/"+s.binding.Name, s.lb.Name, inst.Name, st.Generation) {
			r.Metrics.InstanceRestart.WithLabelValues(s.lb.Name, inst.Name).Inc()
			r.Recorder.Eventf(s.binding, nil, corev1.EventTypeWarning, EventInstanceRestarted, "Sync",
				"instance %s of load balancer %s restarted or reloaded; re-registering targets", inst.Name, s.lb.Name)
		}
		if s.managesNothing() {
			_, s.view[inst.Name] = SplitByOwner(st, s.owner, false, s.desired)
			s.observed[inst.Name] = loadbalancer.BackendStatus{Generation: st.Generation}
		} else {
			s.observed[inst.Name], s.view[inst.Name] = SplitByOwner(st, s.owner, s.adoptLegacy, s.desired)
		}
		expect(inst, s.binding.Spec.Backend, s.desired, s.observed[inst.Name], s.view[inst.Name])
	}
	if s.caps.OwnerTags {
		s.settleConflicts()
	}
	return nil
}

// managesNothing reports whether the binding leaves the backend's targets
// to others this pass: it observes (mode Observe), or another binding
// manages the backend (heldBy).
func (s *syncState) managesNothing() bool {
	return s.binding.Observes() || s.heldBy != ""
}

// expect tells a provider that polls on its own budget (loadbalancer.Expecter)
// which targets the binding waits on: desired ones not yet healthy, and
// owned ones that are not desired (on their way out).
func expect(inst pool.NamedInstance, backend string, desired map[netip.AddrPort]*corev1.Pod, mine, view loadbalancer.BackendStatus) {
	e, ok := inst.Instance.(loadbalancer.Expecter)
	if !ok {
		return
	}
	healthy := map[netip.AddrPort]bool{}
	for _, ts := range view.Targets {
		if ts.State == loadbalancer.StateHealthy {
			healthy[ts.Address] = true
		}
	}
	var addrs []netip.AddrPort
	for a := range desired {
		if !healthy[a] {
			addrs = append(addrs, a)
		}
	}
	for _, ts := range mine.Targets {
		if _, want := desired[ts.Address]; !want && ts.State != loadbalancer.StateAbsent {
			addrs = append(addrs, ts.Address)
		}
	}
	if len(addrs) > 0 {
		slices.SortFunc(addrs, netip.AddrPort.Compare)
		e.Expect(backend, addrs...)
	}
}

// instanceFailed records a failed call to an instance.
func (r *TargetBindingReconciler) instanceFailed(ctx context.Context, s *syncState, inst, op string, err error) {
	log.FromContext(ctx).Error(err, "load-balancer call failed", "instance", inst, "operation", op)
	r.Metrics.BackendErrors.WithLabelValues(s.lb.Name, inst, op).Inc()
	s.unreachable = append(s.unreachable, fmt.Sprintf("%s: %s: %v", inst, op, err))
	s.pending = true
}

// applyPlans plans and applies each instance's changes. A binding that
// manages nothing (Observe, or a backend another binding holds) changes
// nothing on the load balancer, but keeps polling quickly while the
// targets it waits on move.
func (r *TargetBindingReconciler) applyPlans(ctx context.Context, s *syncState) error {
	if s.managesNothing() {
		healthy := HealthyEverywhere(s.instances, s.view)
		for a := range s.desired {
			if !healthy[a] {
				s.pending = true
			}
		}
		return nil
	}
	want := make(map[netip.AddrPort]bool, len(s.desired))
	for a := range s.desired {
		if _, yielded := s.yield[a]; !yielded {
			want[a] = true
		}
	}
	check := checkSettings(s.binding)
	policy := DrainPolicy{Wait: s.binding.DrainWaitEnabled(), Timeout: s.binding.DrainTimeout()}
	for _, inst := range s.instances {
		st, ok := s.observed[inst.Name]
		if !ok {
			continue
		}
		fresh := loadbalancer.Target{Owner: s.owner}
		if s.caps.PerTargetChecks {
			fresh.Settings = check.Tag()
		}
		p := PlanInstance(want, fresh, st.Targets, r.drainStarts(s, inst.Name), s.now, policy)
		p.Register = r.stillServing(ctx, s, st.Targets, p.Register)
		if !p.Empty() {
			s.pending = true
			log.FromContext(ctx).V(1).Info("applying plan", "instance", inst.Name,
				"register", len(p.Register), "drain", len(p.Drain), "remove", len(p.Remove))
		}
		r.apply(ctx, s, inst, p, check)
		if hasLeaving(st.Targets, want, fresh.Settings) {
			s.pending = true
		}
	}
	return nil
}

// stillServing drops from register the targets on their way out (draining,
// drained, in maintenance) whose pod the API server, read directly, shows
// terminating: the drain endpoint of any replica drains a terminating
// pod's target as soon as the pod asks, which can be before this
// controller's cache shows the deletion, and putting it back in service
// then could let SIGTERM land while the LB routes to it.
func (r *TargetBindingReconciler) stillServing(ctx context.Context, s *syncState, observed []loadbalancer.TargetStatus, register []loadbalancer.Target) []loadbalancer.Target {
	if r.APIReader == nil {
		return register
	}
	leaving := map[loadbalancer.Target]bool{}
	for _, ts := range observed {
		if leavingState(ts.State) {
			leaving[ts.Target] = true
		}
	}
	return slices.DeleteFunc(register, func(t loadbalancer.Target) bool {
		pod := s.desired[t.Address]
		if !leaving[t] || pod == nil {
			return false
		}
		live := &corev1.Pod{}
		err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pod), live)
		if err == nil && live.UID == pod.UID && live.DeletionTimestamp == nil {
			return false
		}
		s.pending = true
		log.FromContext(ctx).V(1).Info("not re-registering a leaving target", "pod", pod.Name, "target", t.String())
		return true
	})
}

// apply carries one instance's plan out and keeps the drain bookkeeping.
func (r *TargetBindingReconciler) apply(ctx context.Context, s *syncState, inst pool.NamedInstance, p Plan, check loadbalancer.CheckSettings) {
	backend := s.binding.Spec.Backend
	if len(p.Register) > 0 {
		if err := inst.Register(ctx, backend, check, p.Register...); err != nil {
			r.instanceFailed(ctx, s, inst.Name, "register", err)
		} else {
			r.forgetDrains(s, inst.Name, p.Register)
		}
	}
	if len(p.Drain) > 0 {
		if err := inst.Drain(ctx, backend, p.Drain...); err != nil {
			r.instanceFailed(ctx, s, inst.Name, "drain", err)
		} else {
			r.startDrains(s, inst.Name, p.Drain)
		}
	}
	if len(p.Remove) > 0 {
		if err := inst.Remove(ctx, backend, p.Remove...); err != nil {
			r.instanceFailed(ctx, s, inst.Name, "remove", err)
			return
		}
		timedOut := map[netip.AddrPort]bool{}
		for _, t := range p.TimedOut {
			timedOut[t.Address] = true
			r.Recorder.Eventf(s.binding, nil, corev1.EventTypeWarning, EventDrainTimeout, "Drain",
				"target %s on instance %s still had sessions after %s; removed anyway", t, inst.Name, s.binding.DrainTimeout())
		}
		r.finishDrains(s, inst.Name, p.Remove, timedOut)
	}
}

// setGates sets the gate True on every gated pod whose target every
// instance reports healthy, and on gated pods the binding no longer selects
// or no longer gates (nothing stays stuck). Once True a gate stays True for
// the pod's life: see docs/architecture.md, "Gate semantics".
func (r *TargetBindingReconciler) setGates(ctx context.Context, s *syncState) error {
	gate := v1alpha1.GateConditionType(s.binding.Name)
	healthy := HealthyEverywhere(s.instances, s.view)
	s.healthy = healthy
	var due []*corev1.Pod
	for addr, pod := range s.desired {
		if healthy[addr] && targets.GateDue(pod, gate) {
			due = append(due, pod)
		}
	}
	for _, pod := range s.others {
		if targets.GateDue(pod, gate) {
			due = append(due, pod)
		}
	}
	if !s.binding.GateEnabled() {
		for _, pod := range s.selected {
			if targets.GateDue(pod, gate) {
				due = append(due, pod)
			}
		}
	}
	s.opened = map[types.UID]bool{}
	errs := r.patchGatesTrue(ctx, due, gate)
	var first error
	for i, pod := range due {
		if errs[i] != nil {
			first = cmp.Or(first, errs[i])
			continue
		}
		s.opened[pod.UID] = true
		r.Metrics.GateLatency.WithLabelValues(GateFromPodCreated).Observe(r.now().Sub(pod.CreationTimestamp.Time).Seconds())
		r.Metrics.GateLatency.WithLabelValues(GateFromLBHealthy).Observe(r.now().Sub(s.now).Seconds())
		r.Recorder.Eventf(pod, s.binding, corev1.EventTypeNormal, EventGateTrue, "SetGate",
			"every instance of load balancer %s reports the target healthy", s.binding.Spec.LoadBalancerRef)
	}
	if first != nil {
		return first
	}
	return r.explainPending(ctx, s, gate)
}

// gatePatchConcurrency bounds the gate patches one pass has in flight. The
// API has no batch write of pod conditions; a pass that opens the gates of
// a whole rollout step sends them side by side, not one after another
// (one after another, at 1,500 pods, each pass waited on the API server
// once per pod while the other bindings' passes queued behind it).
const gatePatchConcurrency = 8

// patchGatesTrue sets the gate of every pod True, up to
// gatePatchConcurrency at a time, and returns each pod's error.
func (r *TargetBindingReconciler) patchGatesTrue(ctx context.Context, pods []*corev1.Pod, gate string) []error {
	errs := make([]error, len(pods))
	var g errgroup.Group
	g.SetLimit(gatePatchConcurrency)
	for i, pod := range pods {
		g.Go(func() error {
			errs[i] = r.setGateTrue(ctx, pod, gate, "TargetHealthy")
			return nil
		})
	}
	_ = g.Wait() // the errors are in errs
	return errs
}

// reportPendingGates sets the binding's pending-gate metrics: how many
// selected pods wait for their gate, the oldest one's age, and the check
// interval they are measured against (alerts fire after N intervals).
func (r *TargetBindingReconciler) reportPendingGates(_ context.Context, s *syncState) error {
	b := s.binding
	n, oldest := 0, time.Duration(0)
	if b.GateEnabled() {
		n, oldest = PendingGates(s.selected, v1alpha1.GateConditionType(b.Name), s.opened, r.now())
	}
	r.Metrics.GatesPending.WithLabelValues(b.Namespace, b.Name).Set(float64(n))
	r.Metrics.PendingOldest.WithLabelValues(b.Namespace, b.Name).Set(oldest.Seconds())
	r.Metrics.CheckInterval.WithLabelValues(b.Namespace, b.Name).Set(b.CheckInterval().Seconds())
	return nil
}

// summarize writes counts and conditions from what the pass learnt.
func (r *TargetBindingReconciler) summarize(s *syncState, err error) {
	b := s.binding
	b.Status.ObservedGeneration = b.Generation
	gen := b.Generation
	var stop *stopError
	switch {
	case s.grant != nil:
		setCond(b, v1alpha1.ConditionAccepted, s.grant.Status, s.grant.Reason, s.grant.Message, gen)
	case errors.As(err, &stop):
		setCond(b, v1alpha1.ConditionAccepted, metav1.ConditionUnknown, stop.reason, "grant not checked: "+stop.message, gen)
	}
	switch {
	case errors.As(err, &stop):
		setCond(b, v1alpha1.ConditionSynced, metav1.ConditionFalse, stop.reason, stop.message, gen)
		setCond(b, v1alpha1.ConditionReady, metav1.ConditionFalse, stop.reason, stop.message, gen)
		return
	case err != nil:
		setCond(b, v1alpha1.ConditionSynced, metav1.ConditionFalse, "Error", err.Error(), gen)
		return
	}
	c := CountTargets(s.desired, s.instances, s.view)
	b.Status.Targets = c
	for state, n := range map[string]int32{"desired": c.Desired, "healthy": c.Healthy, "initial": c.Initial, "unhealthy": c.Unhealthy, "draining": c.Draining} {
		r.Metrics.Targets.WithLabelValues(b.Namespace, b.Name, state).Set(float64(n))
	}
	if len(s.unreachable) > 0 {
		msg := fmt.Sprint(s.unreachable)
		setCond(b, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonInstanceUnreachable, msg, gen)
	} else {
		setCond(b, v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonApplied, "plan applied to every instance", gen)
	}
	misconfigured := misconfiguredTargets(s.desired, s.view)
	switch {
	case c.Desired == 0:
		setCond(b, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNoTargets, "the service selects no pod with an IP", gen)
	case len(misconfigured) > 0:
		setCond(b, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTargetsMisconfigured,
			fmt.Sprintf("%d of %d targets cannot get traffic because of the load balancer's configuration: %s", len(misconfigured), c.Desired, someOf(misconfigured)), gen)
	case c.Healthy == c.Desired && len(s.unreachable) == 0:
		setCond(b, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAllHealthy, fmt.Sprintf("%d targets healthy on %d instances", c.Healthy, len(s.instances)), gen)
	default:
		setCond(b, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTargetsPending, fmt.Sprintf("%d of %d targets healthy on every instance", c.Healthy, c.Desired), gen)
	}
	switch {
	case s.heldBy != "":
		setCond(b, v1alpha1.ConditionConflictFree, metav1.ConditionFalse, v1alpha1.ReasonBackendShared,
			fmt.Sprintf("provider %s keeps no owner with a target, so backend %s is managed by one binding, the oldest: %s; this binding registers nothing there",
				s.lb.Spec.ProviderName(), b.Spec.Backend, s.heldBy), gen)
	case len(s.conflicts) > 0:
		setCond(b, v1alpha1.ConditionConflictFree, metav1.ConditionFalse, v1alpha1.ReasonAddressConflict, someOf(s.conflicts), gen)
	default:
		setCond(b, v1alpha1.ConditionConflictFree, metav1.ConditionTrue, v1alpha1.ReasonNoConflicts, "no other owner wants this binding's addresses", gen)
	}
	switch {
	case !b.GateEnabled():
		setCond(b, v1alpha1.ConditionGateInjected, metav1.ConditionFalse, v1alpha1.ReasonGateDisabled, "readiness gate disabled: plain endpoint sync", gen)
	case b.Status.PodsMissingGateCount > 0:
		setCond(b, v1alpha1.ConditionGateInjected, metav1.ConditionFalse, v1alpha1.ReasonPodsMissingGate, fmt.Sprintf("%d selected pods lack the readiness gate", b.Status.PodsMissingGateCount), gen)
	default:
		setCond(b, v1alpha1.ConditionGateInjected, metav1.ConditionTrue, v1alpha1.ReasonAllGated, "every selected pod carries the readiness gate", gen)
	}
}

func setCond(b *v1alpha1.TargetBinding, t string, st metav1.ConditionStatus, reason, msg string, gen int64) {
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen})
}

// patchStatus writes the status if the pass changed it.
func (r *TargetBindingReconciler) patchStatus(ctx context.Context, b *v1alpha1.TargetBinding, orig *v1alpha1.TargetBindingStatus) error {
	if equality.Semantic.DeepEqual(orig, &b.Status) {
		return nil
	}
	base := b.DeepCopy()
	base.Status = *orig
	if err := r.Status().Patch(ctx, b, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patching status: %w", err)
	}
	return nil
}

// requeueAfter is soon while anything is on its way, later when settled or
// when an instance is unreachable (no point hammering it every poll).
func (r *TargetBindingReconciler) requeueAfter(s *syncState) time.Duration {
	if len(s.unreachable) > 0 {
		return r.ResyncInterval
	}
	if s.pending {
		return r.PollInterval
	}
	for addr := range s.desired {
		if !s.healthy[addr] {
			return r.PollInterval
		}
	}
	return r.ResyncInterval
}

func (r *TargetBindingReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// checkSettings turns the binding's health-check spec into the backend's.
func checkSettings(b *v1alpha1.TargetBinding) loadbalancer.CheckSettings {
	cs := loadbalancer.CheckSettings{
		Interval: max(b.CheckInterval(), 100*time.Millisecond),
		Rise:     b.HealthyThreshold(),
		Fall:     b.UnhealthyThreshold(),
	}
	if p := b.Spec.HealthCheck.Port; p != nil {
		cs.Port = *p
	}
	return cs
}

// misconfiguredTargets lists the desired targets some instance reports
// Misconfigured, each with the provider's reason, sorted.
func misconfiguredTargets(desired map[netip.AddrPort]*corev1.Pod, view map[string]loadbalancer.BackendStatus) []string {
	var out []string
	for inst, st := range view {
		for _, ts := range st.Targets {
			if _, want := desired[ts.Address]; want && ts.State == loadbalancer.StateMisconfigured {
				out = append(out, fmt.Sprintf("%s on %s: %s", ts.Address, inst, cmp.Or(ts.Reason, "misconfigured")))
			}
		}
	}
	slices.Sort(out)
	return out
}

// hasLeaving reports whether an instance still has targets that are not
// desired, or stale (registered with other check settings): on their way
// out.
func hasLeaving(observed []loadbalancer.TargetStatus, want map[netip.AddrPort]bool, settings string) bool {
	for _, ts := range observed {
		if (!want[ts.Address] || ts.Settings != settings) && ts.State != loadbalancer.StateAbsent {
			return true
		}
	}
	return false
}
