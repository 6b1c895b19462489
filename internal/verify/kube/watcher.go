// Package kube follows, through the Kubernetes API, what a rollout does to
// the pods of one Deployment and to zerodrop's TargetBindings in its
// namespace, and records each step on a verify run's timeline.
//
// It uses client-go informers (list, then watch): the timeline time of an
// event is when verify observed it, which is what lines it up with the
// per-second request outcomes.
package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/verify"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// targetBindingsResource returns the API resource of TargetBinding.
func targetBindingsResource() schema.GroupVersionResource {
	return v1alpha1.GroupVersion.WithResource("targetbindings")
}

// syncTimeout bounds the initial list of every informer.
const syncTimeout = 30 * time.Second

// Watcher follows one Deployment's pods and the namespace's TargetBindings.
// It implements verify.Watcher.
type Watcher struct {
	// Config reaches the API server.
	Config *rest.Config
	// Namespace and Deployment name what to follow.
	Namespace  string
	Deployment string
}

// RESTConfig loads a client configuration the way kubectl does: kubeconfig
// (empty: $KUBECONFIG or ~/.kube/config, or in-cluster) and context (empty:
// the current one).
func RESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}

// Describe implements verify.Watcher.
func (w *Watcher) Describe() string { return w.Namespace + "/" + w.Deployment }

// Start implements verify.Watcher: it reads the Deployment's selector,
// records the pods and bindings that exist, and follows their changes until
// ctx is done.
func (w *Watcher) Start(ctx context.Context, rec verify.Recorder) error {
	client, err := kubernetes.NewForConfig(w.Config)
	if err != nil {
		return fmt.Errorf("building the Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(w.Config)
	if err != nil {
		return fmt.Errorf("building the dynamic client: %w", err)
	}
	dep, err := client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %s/%s: %w", w.Namespace, w.Deployment, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment %s/%s has an invalid selector: %w", w.Namespace, w.Deployment, err)
	}
	record := func(evs ...report.Event) {
		now := time.Now()
		for _, e := range evs {
			e.Time = now
			rec.Record(e)
		}
	}
	record(report.Event{Source: report.SourceKubernetes, Kind: report.KindDeploymentObserved, Subject: report.SubjectDeployment(dep.Name),
		Message: fmt.Sprintf("generation %d, selector %s", dep.Generation, sel)})

	podFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(w.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	if _, err := podFactory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if p, ok := obj.(*corev1.Pod); ok {
				record(PodAdded(p, initial)...)
			}
		},
		UpdateFunc: func(o, n any) {
			op, ok1 := o.(*corev1.Pod)
			np, ok2 := n.(*corev1.Pod)
			if ok1 && ok2 {
				record(PodChanged(op, np)...)
			}
		},
		DeleteFunc: func(obj any) { record(PodDeleted(objectName(obj))) },
	}); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}

	depFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(w.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.Deployment).String()
		}))
	if _, err := depFactory.Apps().V1().Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(o, n any) {
			od, ok1 := o.(*appsv1.Deployment)
			nd, ok2 := n.(*appsv1.Deployment)
			if ok1 && ok2 && od.Generation != nd.Generation {
				record(report.Event{Source: report.SourceKubernetes, Kind: report.KindDeploymentUpdated, Subject: report.SubjectDeployment(nd.Name),
					Message: fmt.Sprintf("spec changed: generation %d -> %d (rollout)", od.Generation, nd.Generation)})
			}
		},
	}); err != nil {
		return fmt.Errorf("watching the deployment: %w", err)
	}

	var syncs []cache.InformerSynced
	bindingsInstalled, err := w.bindingsInstalled(ctx, dyn)
	if err != nil {
		return err
	}
	var dynFactory dynamicinformer.DynamicSharedInformerFactory
	if bindingsInstalled {
		dynFactory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, w.Namespace, nil)
		inf := dynFactory.ForResource(targetBindingsResource()).Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(obj any, _ bool) {
				if b, ok := toBinding(obj); ok {
					record(BindingAdded(b)...)
				}
			},
			UpdateFunc: func(o, n any) {
				ob, ok1 := toBinding(o)
				nb, ok2 := toBinding(n)
				if ok1 && ok2 {
					record(BindingChanged(ob, nb)...)
				}
			},
			DeleteFunc: func(obj any) { record(BindingDeleted(objectName(obj))) },
		}); err != nil {
			return fmt.Errorf("watching TargetBindings: %w", err)
		}
		syncs = append(syncs, inf.HasSynced)
	}

	podFactory.Start(ctx.Done())
	depFactory.Start(ctx.Done())
	if dynFactory != nil {
		dynFactory.Start(ctx.Done())
	}
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	for _, synced := range podFactory.WaitForCacheSync(syncCtx.Done()) {
		if !synced {
			return errors.New("listing the deployment's pods did not complete")
		}
	}
	for _, synced := range depFactory.WaitForCacheSync(syncCtx.Done()) {
		if !synced {
			return errors.New("listing the deployment did not complete")
		}
	}
	if !cache.WaitForCacheSync(syncCtx.Done(), syncs...) {
		return errors.New("listing TargetBindings did not complete")
	}
	return nil
}

// bindingsInstalled reports whether the TargetBinding CRD is served; a
// cluster without zerodrop is followed without bindings.
func (w *Watcher) bindingsInstalled(ctx context.Context, dyn dynamic.Interface) (bool, error) {
	_, err := dyn.Resource(targetBindingsResource()).Namespace(w.Namespace).List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("listing TargetBindings in %s: %w", w.Namespace, err)
}

func toBinding(obj any) (*v1alpha1.TargetBinding, bool) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	var b v1alpha1.TargetBinding
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b); err != nil {
		return nil, false
	}
	return &b, true
}

func objectName(obj any) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		return m.GetName()
	}
	return "unknown"
}
