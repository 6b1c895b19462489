package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
)

// LoadBalancerReconciler reports on each LoadBalancer whether zerodrop can
// reach its instances. It probes an instance with a Status call for a
// backend some binding uses; with no binding there is nothing to probe and
// the Ready condition says so.
type LoadBalancerReconciler struct {
	client.Client
	// Pool connects to load-balancer instances (shared with bindings).
	Pool *pool.Pool
	// Metrics, if set, receive each instance's reachability
	// (MetricInstanceUp).
	Metrics *Metrics
	// Interval is how often the instances are probed.
	Interval time.Duration
}

// Reasons of the LoadBalancer's Ready condition beyond the shared ones.
const (
	// ReasonNoBindings: no binding uses the load balancer yet.
	ReasonNoBindings = "NoBindings"
)

// Reconcile probes every instance and writes the status if it changed.
func (r *LoadBalancerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lb := &v1alpha1.LoadBalancer{}
	if err := r.Get(ctx, req.NamespacedName, lb); err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetInstances(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := lb.Status.DeepCopy()
	backend, err := r.someBackend(ctx, lb.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	lb.Status.ObservedGeneration = lb.Generation
	lb.Status.Provider = lb.Spec.ProviderName()
	if lb.Spec.HAProxy != nil {
		meta.SetStatusCondition(&lb.Status.Conditions, runtimeAPICondition(lb))
	} else {
		meta.RemoveStatusCondition(&lb.Status.Conditions, v1alpha1.ConditionRuntimeAPIPrivate)
	}
	if backend == "" {
		lb.Status.Instances, lb.Status.ReachableInstances = nil, 0
		r.forgetInstances(lb.Name)
		meta.SetStatusCondition(&lb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionUnknown,
			Reason: ReasonNoBindings, Message: "no TargetBinding uses this load balancer yet", ObservedGeneration: lb.Generation})
	} else {
		r.probe(ctx, lb, backend)
	}
	if !equality.Semantic.DeepEqual(orig, &lb.Status) {
		base := lb.DeepCopy()
		base.Status = *orig
		if err := r.Status().Patch(ctx, lb, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("patching load balancer status: %w", err))
		}
	}
	return ctrl.Result{RequeueAfter: r.Interval}, nil
}

// someBackend returns the backend of one binding that uses the load
// balancer, or "" when none does.
func (r *LoadBalancerReconciler) someBackend(ctx context.Context, lbName string) (string, error) {
	var list v1alpha1.TargetBindingList
	if err := r.List(ctx, &list, client.MatchingFields{IndexLoadBalancerRef: lbName}, client.Limit(1)); err != nil {
		return "", fmt.Errorf("listing bindings of load balancer %q: %w", lbName, err)
	}
	if len(list.Items) == 0 {
		return "", nil
	}
	return list.Items[0].Spec.Backend, nil
}

// probe calls every instance once and records what it saw.
func (r *LoadBalancerReconciler) probe(ctx context.Context, lb *v1alpha1.LoadBalancer, backend string) {
	prev := map[string]v1alpha1.InstanceStatus{}
	for _, is := range lb.Status.Instances {
		prev[is.Name] = is
	}
	lb.Status.Instances, lb.Status.ReachableInstances = nil, 0
	insts, err := r.Pool.Instances(lb)
	var failed []string
	for _, name := range lb.Spec.InstanceNames() {
		is := v1alpha1.InstanceStatus{Name: name, LastRestart: prev[name].LastRestart}
		switch {
		case err != nil:
			is.Message = err.Error()
		default:
			st, serr := instanceNamed(insts, name).Status(ctx, backend)
			if serr != nil {
				is.Message = serr.Error()
				break
			}
			is.Reachable = true
			lb.Status.ReachableInstances++
			if r.Pool.ObserveGeneration("LoadBalancer", lb.Name, name, st.Generation) {
				now := metav1.Now()
				is.LastRestart = &now
			}
		}
		if !is.Reachable {
			failed = append(failed, name)
		}
		if r.Metrics != nil {
			r.Metrics.InstanceUp.WithLabelValues(lb.Name, name).Set(boolGauge(is.Reachable))
		}
		lb.Status.Instances = append(lb.Status.Instances, is)
	}
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAllReachable,
		Message: fmt.Sprintf("%d instances reachable", lb.Status.ReachableInstances), ObservedGeneration: lb.Generation}
	if len(failed) > 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1alpha1.ReasonInstanceUnreachable, fmt.Sprintf("unreachable: %v", failed)
	}
	meta.SetStatusCondition(&lb.Status.Conditions, c)
}

// runtimeAPICondition warns about HAProxy instances whose runtime API is on
// TCP.
func runtimeAPICondition(lb *v1alpha1.LoadBalancer) metav1.Condition {
	var tcp []string
	for _, i := range lb.Spec.HAProxy.Instances {
		if i.RuntimeAPIOverTCP() {
			tcp = append(tcp, i.Name)
		}
	}
	c := metav1.Condition{Type: v1alpha1.ConditionRuntimeAPIPrivate, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonUnixSockets,
		Message: "every instance is managed through a unix socket", ObservedGeneration: lb.Generation}
	if len(tcp) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonRuntimeAPIOverTCP
		c.Message = fmt.Sprintf("instances %v expose HAProxy's runtime API on TCP, at admin level and without authentication: "+
			"whoever reaches the address can add, drain or delete servers. Bind it to loopback or a private interface and firewall it "+
			"to the controller's pods, or use a unix socket (docs/architecture.md, \"Protecting the runtime API\")", tcp)
	}
	return c
}

func instanceNamed(insts []pool.NamedInstance, name string) pool.NamedInstance {
	for _, i := range insts {
		if i.Name == name {
			return i
		}
	}
	return pool.NamedInstance{}
}

// SetupWithManager registers the reconciler. It relies on the binding
// index that TargetBindingReconciler.SetupWithManager registers.
func (r *LoadBalancerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.LoadBalancer{}).Complete(r)
}

// forgetInstances deletes the instance series of a load balancer that is
// gone or that no binding uses (it is not probed then).
func (r *LoadBalancerReconciler) forgetInstances(lb string) {
	if r.Metrics != nil {
		r.Metrics.InstanceUp.DeletePartialMatch(prometheus.Labels{"loadbalancer": lb})
	}
}

// boolGauge is 1 for true, 0 for false.
func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
