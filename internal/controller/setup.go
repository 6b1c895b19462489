package controller

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// Field indexes on TargetBindings.
const (
	// IndexServiceRef indexes bindings by .spec.serviceRef.name.
	IndexServiceRef = ".spec.serviceRef.name"
	// IndexLoadBalancerRef indexes bindings by .spec.loadBalancerRef.
	IndexLoadBalancerRef = ".spec.loadBalancerRef"
	// IndexPodGate indexes pods by the bindings whose readiness gate they
	// carry (the binding names of their zerodrop gates).
	IndexPodGate = ".spec.readinessGates.zerodrop"
)

// podGateBindings is IndexPodGate's value: the names of the bindings whose
// gate pod carries.
func podGateBindings(o client.Object) []string {
	var out []string
	for _, g := range o.(*corev1.Pod).Spec.ReadinessGates {
		if name, ok := strings.CutPrefix(string(g.ConditionType), v1alpha1.GateConditionPrefix); ok {
			out = append(out, name)
		}
	}
	return out
}

// SetupWithManager registers the reconciler, its indexes and its watches:
// bindings themselves, the pods and Services they select, the
// LoadBalancers they use (and their grants), and the labels of their
// namespaces (which grants may select).
func (r *TargetBindingReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.drains = map[drainKey]time.Time{}
	r.missing = map[types.NamespacedName]string{}
	r.conflicts = map[types.NamespacedName]string{}
	r.foreignGates = map[types.NamespacedName]string{}
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.TargetBinding{}, IndexServiceRef, func(o client.Object) []string {
		return []string{o.(*v1alpha1.TargetBinding).Spec.ServiceRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing bindings by service: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.TargetBinding{}, IndexLoadBalancerRef, func(o client.Object) []string {
		return []string{o.(*v1alpha1.TargetBinding).Spec.LoadBalancerRef}
	}); err != nil {
		return fmt.Errorf("indexing bindings by load balancer: %w", err)
	}
	if err := idx.IndexField(ctx, &corev1.Pod{}, IndexPodGate, podGateBindings); err != nil {
		return fmt.Errorf("indexing pods by gate: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.TargetBinding{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.bindingsForPod)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.bindingsByIndex(IndexServiceRef, true))).
		Watches(&v1alpha1.LoadBalancer{}, handler.EnqueueRequestsFromMapFunc(r.bindingsByIndex(IndexLoadBalancerRef, false))).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.bindingsInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: cmp.Or(r.MaxConcurrentReconciles, DefaultMaxConcurrentReconciles)}).
		Complete(r)
}

// bindingsForPod maps a pod to the bindings whose Service selects it or
// whose gate it carries.
//
// It runs on every pod event, so it reads the cache without copying (the
// objects are only read): with a deep copy of every binding and a Get of
// every binding's Service per event, 100 bindings in a namespace made each
// pod event cost 200 object copies.
func (r *TargetBindingReconciler) bindingsForPod(ctx context.Context, o client.Object) []reconcile.Request {
	pod := o.(*corev1.Pod)
	var list v1alpha1.TargetBindingList
	if err := r.List(ctx, &list, client.InNamespace(pod.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing bindings for pod", "pod", pod.Name)
		return nil
	}
	var services map[string]*corev1.Service
	if len(list.Items) > 0 {
		var err error
		if services, err = r.servicesIn(ctx, pod.Namespace); err != nil {
			log.FromContext(ctx).Error(err, "listing services for pod", "pod", pod.Name)
			return nil
		}
	}
	var out []reconcile.Request
	exists := map[string]bool{}
	for i := range list.Items {
		b := &list.Items[i]
		exists[b.Name] = true
		svc := services[b.Spec.ServiceRef.Name]
		if targets.HasReadinessGate(pod, v1alpha1.GateConditionType(b.Name)) || svc != nil && targets.SelectorOf(svc).Matches(labels.Set(pod.Labels)) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Name}})
		}
	}
	// A pending gate of a binding that does not exist: reconciling the
	// missing binding releases it.
	for _, g := range pod.Spec.ReadinessGates {
		name, ok := strings.CutPrefix(string(g.ConditionType), v1alpha1.GateConditionPrefix)
		if ok && !exists[name] && targets.GateDue(pod, string(g.ConditionType)) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: name}})
		}
	}
	return out
}

// bindingsInNamespace maps a namespace to every binding in it: a change of
// its labels can grant or revoke them all.
func (r *TargetBindingReconciler) bindingsInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.TargetBindingList
	if err := r.List(ctx, &list, client.InNamespace(o.GetName())); err != nil {
		log.FromContext(ctx).Error(err, "listing bindings for namespace", "namespace", o.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, b := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Name}})
	}
	return out
}

// servicesIn returns the namespace's Services by name, from the cache and not
// copied: read them only.
func (r *TargetBindingReconciler) servicesIn(ctx context.Context, ns string) (map[string]*corev1.Service, error) {
	var list corev1.ServiceList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	out := make(map[string]*corev1.Service, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// bindingsByIndex maps an object to the bindings that name it in field.
func (r *TargetBindingReconciler) bindingsByIndex(field string, namespaced bool) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		opts := []client.ListOption{client.MatchingFields{field: o.GetName()}}
		if namespaced {
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		}
		var list v1alpha1.TargetBindingList
		if err := r.List(ctx, &list, opts...); err != nil {
			log.FromContext(ctx).Error(err, "listing bindings by index", "field", field)
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, b := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Name}})
		}
		return out
	}
}
