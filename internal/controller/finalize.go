package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// finalizeGiveUp is how long past its drain timeout a deleted binding waits
// for unreachable instances before it lets go of its finalizer anyway.
const finalizeGiveUp = 60 * time.Second

// finalize releases a deleted binding: every gate it owns is set True first
// (no pod stays stuck), then its targets leave every instance the way the
// binding says (drained or at once), then the finalizer goes. A binding its
// LoadBalancer does not accept (checkGrant) leaves the LB alone.
func (r *TargetBindingReconciler) finalize(ctx context.Context, b *v1alpha1.TargetBinding) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(b, v1alpha1.FinalizerTargetBinding) {
		return ctrl.Result{}, nil
	}
	if err := r.releaseGates(ctx, b); err != nil {
		return ctrl.Result{}, err
	}
	s := &syncState{binding: b, now: r.now(), desired: map[netip.AddrPort]*corev1.Pod{}}
	err := r.resolveLoadBalancer(ctx, s)
	if err == nil {
		err = r.checkGrant(ctx, s)
	}
	var stop *stopError
	switch {
	case errors.As(err, &stop) && stop.reason == v1alpha1.ReasonLoadBalancerNotFound:
		return r.dropFinalizer(ctx, b)
	case errors.As(err, &stop) && s.grant != nil:
		// Not accepted: the binding never acts on the LB, not even to
		// remove targets (docs/grants.md, "Deleting a binding").
		r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, EventTargetsReleased, "Finalize",
			"not accepted (%s): load balancer %s left untouched", stop.reason, b.Spec.LoadBalancerRef)
		return r.dropFinalizer(ctx, b)
	case err != nil && !r.pastGiveUp(b):
		return ctrl.Result{RequeueAfter: r.PollInterval}, nil
	case err != nil:
		return r.dropFinalizer(ctx, b)
	}
	if err := r.resolveOwnership(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	_ = r.observeInstances(ctx, s)
	_ = r.applyPlans(ctx, s)
	if s.pending && !r.pastGiveUp(b) {
		return ctrl.Result{RequeueAfter: r.PollInterval}, nil
	}
	if s.pending {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, EventBackendError, "Finalize",
			"gave up removing targets after %s: %v", finalizeGiveUp+b.DrainTimeout(), s.unreachable)
	}
	return r.dropFinalizer(ctx, b)
}

// releaseGates sets this binding's gate True on every pod that carries it.
func (r *TargetBindingReconciler) releaseGates(ctx context.Context, b *v1alpha1.TargetBinding) error {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(b.Namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	gate := v1alpha1.GateConditionType(b.Name)
	for i := range pods.Items {
		if targets.GateDue(&pods.Items[i], gate) {
			if err := r.setGateTrue(ctx, &pods.Items[i], gate, "BindingDeleted"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *TargetBindingReconciler) pastGiveUp(b *v1alpha1.TargetBinding) bool {
	return r.now().Sub(b.DeletionTimestamp.Time) > b.DrainTimeout()+finalizeGiveUp
}

func (r *TargetBindingReconciler) dropFinalizer(ctx context.Context, b *v1alpha1.TargetBinding) (ctrl.Result, error) {
	r.mu.Lock()
	for k := range r.drains {
		if k.lb == b.Spec.LoadBalancerRef && k.backend == b.Spec.Backend && k.owner == targets.Owner(r.ClusterID, b.UID) {
			delete(r.drains, k)
		}
	}
	r.mu.Unlock()
	r.forget(types.NamespacedName{Namespace: b.Namespace, Name: b.Name})
	controllerutil.RemoveFinalizer(b, v1alpha1.FinalizerTargetBinding)
	if err := r.Update(ctx, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("removing finalizer: %w", err))
	}
	log.FromContext(ctx).Info("binding released")
	r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, EventTargetsReleased, "Finalize", "gates released and targets removed")
	return ctrl.Result{}, nil
}
