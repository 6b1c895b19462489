package lint

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

// ClusterSource reads the objects lint needs from a live cluster.
type ClusterSource struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Namespace limits the read; "" reads every namespace.
	Namespace string
}

// RESTConfig builds a client configuration from a kubeconfig path (empty:
// the usual KUBECONFIG / ~/.kube/config / in-cluster rules) and context.
func RESTConfig(kubeconfig, kubeContext string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig's namespace: %w", err)
	}
	return cfg, ns, nil
}

// NewClusterSource returns a source on the cluster cfg points at.
func NewClusterSource(cfg *rest.Config, namespace string) (*ClusterSource, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the dynamic client: %w", err)
	}
	return &ClusterSource{Client: c, Dynamic: d, Namespace: namespace}, nil
}

var targetBindingsGVR = zdv1alpha1.GroupVersion.WithResource("targetbindings")

// Read lists namespaces, Deployments, StatefulSets, DaemonSets, ReplicaSets
// that no controller owns (a Deployment's are checked through it),
// ReplicationControllers, Services, Ingresses, PDBs, HPAs, pods and
// TargetBindings. A missing TargetBinding CRD is not
// an error; any other failed list is.
func (s *ClusterSource) Read(ctx context.Context) ([]*Object, error) {
	ns := s.Namespace
	lo := metav1.ListOptions{}
	var objs []*Object
	add := func(list runtime.Object, gvk schema.GroupVersionKind, err error) error {
		if err != nil {
			return fmt.Errorf("listing %s: %w", gvk.Kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return fmt.Errorf("reading %s list: %w", gvk.Kind, err)
		}
		for _, it := range items {
			o := newObject(setGVK(it, gvk), Location{})
			o.Loc = Location{File: liveURI(o.Ref)}
			objs = append(objs, o)
		}
		return nil
	}
	c := s.Client
	if ns == "" {
		l, err := c.CoreV1().Namespaces().List(ctx, lo)
		if err := add(l, corev1.SchemeGroupVersion.WithKind("Namespace"), err); err != nil {
			return nil, err
		}
	} else {
		n, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		switch {
		case err == nil:
			o := newObject(setGVK(n, corev1.SchemeGroupVersion.WithKind("Namespace")), Location{})
			o.Loc = Location{File: liveURI(o.Ref)}
			objs = append(objs, o)
		case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		default:
			return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
		}
	}
	steps := []func() error{
		func() error {
			l, err := c.AppsV1().Deployments(ns).List(ctx, lo)
			return add(l, appsv1.SchemeGroupVersion.WithKind("Deployment"), err)
		},
		func() error {
			l, err := c.AppsV1().StatefulSets(ns).List(ctx, lo)
			return add(l, appsv1.SchemeGroupVersion.WithKind("StatefulSet"), err)
		},
		func() error {
			l, err := c.AppsV1().DaemonSets(ns).List(ctx, lo)
			return add(l, appsv1.SchemeGroupVersion.WithKind("DaemonSet"), err)
		},
		func() error {
			l, err := c.AppsV1().ReplicaSets(ns).List(ctx, lo)
			if err == nil {
				l.Items = unownedReplicaSets(l.Items)
			}
			return add(l, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), err)
		},
		func() error {
			l, err := c.CoreV1().ReplicationControllers(ns).List(ctx, lo)
			return add(l, corev1.SchemeGroupVersion.WithKind("ReplicationController"), err)
		},
		func() error {
			l, err := c.CoreV1().Services(ns).List(ctx, lo)
			return add(l, corev1.SchemeGroupVersion.WithKind("Service"), err)
		},
		func() error {
			l, err := c.CoreV1().Pods(ns).List(ctx, lo)
			return add(l, corev1.SchemeGroupVersion.WithKind("Pod"), err)
		},
		func() error {
			l, err := c.NetworkingV1().Ingresses(ns).List(ctx, lo)
			return add(l, networkingv1.SchemeGroupVersion.WithKind("Ingress"), err)
		},
		func() error {
			l, err := c.PolicyV1().PodDisruptionBudgets(ns).List(ctx, lo)
			return add(l, policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), err)
		},
		func() error {
			l, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, lo)
			return add(l, autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), err)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	tbs, err := s.Dynamic.Resource(targetBindingsGVR).Namespace(ns).List(ctx, lo)
	switch {
	case err == nil:
		for i := range tbs.Items {
			tb := &zdv1alpha1.TargetBinding{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tbs.Items[i].Object, tb); err != nil {
				return nil, fmt.Errorf("decoding TargetBinding %s/%s: %w", tbs.Items[i].GetNamespace(), tbs.Items[i].GetName(), err)
			}
			o := newObject(setGVK(tb, zdv1alpha1.GroupVersion.WithKind("TargetBinding")), Location{})
			o.Loc = Location{File: liveURI(o.Ref)}
			objs = append(objs, o)
		}
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		// zerodrop's CRDs are not installed: nothing to read.
	default:
		return nil, fmt.Errorf("listing TargetBindings: %w", err)
	}
	return objs, nil
}

// liveURI names a live object as a location.
func liveURI(r ObjectRef) string {
	if r.Namespace == "" {
		return "k8s:///" + r.Kind + "/" + r.Name
	}
	return "k8s:///namespaces/" + r.Namespace + "/" + r.Kind + "/" + r.Name
}

// unownedReplicaSets drops the ReplicaSets a controller (a Deployment, an
// Argo Rollout) owns: the owner is the workload.
func unownedReplicaSets(items []appsv1.ReplicaSet) []appsv1.ReplicaSet {
	out := items[:0]
	for _, rs := range items {
		if metav1.GetControllerOf(&rs) == nil {
			out = append(out, rs)
		}
	}
	return out
}
