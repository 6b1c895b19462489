package lint

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

// Workload is anything that runs pods from a template: Deployment,
// StatefulSet, or (in files) a bare Pod.
type Workload struct {
	Object *Object
	// Replicas is spec.replicas with Kubernetes' default (1).
	Replicas int32
	// MinReadySeconds is spec.minReadySeconds.
	MinReadySeconds int32
	// Template is the pod template; for a bare Pod, the Pod itself.
	Template corev1.PodTemplateSpec
	// Deployment is set for Deployments, StatefulSet for StatefulSets.
	Deployment  *appsv1.Deployment
	StatefulSet *appsv1.StatefulSet
	// templatePath is the YAML path to the pod spec's parent.
	templatePath []string
}

// PodSpecPath returns the YAML path of the pod spec followed by rest.
func (w *Workload) PodSpecPath(rest ...string) []string {
	p := append([]string{}, w.templatePath...)
	p = append(p, "spec")
	return append(p, rest...)
}

// PDB is a PodDisruptionBudget of either API version.
type PDB struct {
	Object         *Object
	MinAvailable   *intstr.IntOrString
	MaxUnavailable *intstr.IntOrString
	Selector       *metav1.LabelSelector
	// Deprecated is true for policy/v1beta1.
	Deprecated bool
}

// HPA is a HorizontalPodAutoscaler of either API version.
type HPA struct {
	Object      *Object
	TargetKind  string
	TargetName  string
	MinReplicas int32
	MaxReplicas int32
}

// Model is every object of one lint run, indexed, with the relations
// between them.
type Model struct {
	Objects        []*Object
	Workloads      []*Workload
	Services       []*Object
	Ingresses      []*Object
	PDBs           []*PDB
	HPAs           []*HPA
	TargetBindings []*Object
	// Namespaces by name; nil entry means not seen.
	Namespaces map[string]*corev1.Namespace
	// Pods are live pods (live mode only): instances, not workloads.
	Pods []*Object
	// Live is true when the model was read from a cluster.
	Live bool

	byNS map[string]*nsIndex
}

// nsIndex holds one namespace's objects, so that matching stays linear in
// the number of namespaces.
type nsIndex struct {
	workloads      []*Workload
	services       []*Object
	ingresses      []*Object
	pdbs           []*PDB
	hpas           []*HPA
	targetBindings []*Object
	pods           []*Object
}

var emptyNS = &nsIndex{}

// ns returns the index of namespace name ("" is "default").
func (m *Model) ns(name string) *nsIndex {
	if i, ok := m.byNS[nsOrDefault(name)]; ok {
		return i
	}
	return emptyNS
}

func (m *Model) buildIndex() {
	m.byNS = map[string]*nsIndex{}
	get := func(ns string) *nsIndex {
		ns = nsOrDefault(ns)
		i, ok := m.byNS[ns]
		if !ok {
			i = &nsIndex{}
			m.byNS[ns] = i
		}
		return i
	}
	for _, w := range m.Workloads {
		i := get(w.Object.Ref.Namespace)
		i.workloads = append(i.workloads, w)
	}
	for _, s := range m.Services {
		i := get(s.Ref.Namespace)
		i.services = append(i.services, s)
	}
	for _, o := range m.Ingresses {
		i := get(o.Ref.Namespace)
		i.ingresses = append(i.ingresses, o)
	}
	for _, p := range m.PDBs {
		i := get(p.Object.Ref.Namespace)
		i.pdbs = append(i.pdbs, p)
	}
	for _, h := range m.HPAs {
		i := get(h.Object.Ref.Namespace)
		i.hpas = append(i.hpas, h)
	}
	for _, o := range m.TargetBindings {
		i := get(o.Ref.Namespace)
		i.targetBindings = append(i.targetBindings, o)
	}
	for _, o := range m.Pods {
		i := get(o.Ref.Namespace)
		i.pods = append(i.pods, o)
	}
}

// NewModel indexes objs. In live mode pods are instances; in files a Pod is
// a workload of one replica.
func NewModel(objs []*Object, live bool) *Model {
	m := &Model{Objects: objs, Namespaces: map[string]*corev1.Namespace{}, Live: live}
	for _, o := range objs {
		switch t := o.Obj.(type) {
		case *appsv1.Deployment:
			m.Workloads = append(m.Workloads, &Workload{Object: o, Replicas: replicasOrOne(t.Spec.Replicas),
				MinReadySeconds: t.Spec.MinReadySeconds, Template: t.Spec.Template, Deployment: t,
				templatePath: []string{"spec", "template"}})
		case *appsv1.StatefulSet:
			m.Workloads = append(m.Workloads, &Workload{Object: o, Replicas: replicasOrOne(t.Spec.Replicas),
				MinReadySeconds: t.Spec.MinReadySeconds, Template: t.Spec.Template, StatefulSet: t,
				templatePath: []string{"spec", "template"}})
		case *corev1.Pod:
			if live {
				m.Pods = append(m.Pods, o)
				continue
			}
			m.Workloads = append(m.Workloads, &Workload{Object: o, Replicas: 1,
				Template: corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: t.Spec}})
		case *corev1.Service:
			m.Services = append(m.Services, o)
		case *networkingv1.Ingress:
			m.Ingresses = append(m.Ingresses, o)
		case *policyv1.PodDisruptionBudget:
			m.PDBs = append(m.PDBs, &PDB{Object: o, MinAvailable: t.Spec.MinAvailable, MaxUnavailable: t.Spec.MaxUnavailable, Selector: t.Spec.Selector})
		case *policyv1beta1.PodDisruptionBudget:
			m.PDBs = append(m.PDBs, &PDB{Object: o, MinAvailable: t.Spec.MinAvailable, MaxUnavailable: t.Spec.MaxUnavailable, Selector: t.Spec.Selector, Deprecated: true})
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.HPAs = append(m.HPAs, &HPA{Object: o, TargetKind: t.Spec.ScaleTargetRef.Kind, TargetName: t.Spec.ScaleTargetRef.Name,
				MinReplicas: replicasOrOne(t.Spec.MinReplicas), MaxReplicas: t.Spec.MaxReplicas})
		case *autoscalingv1.HorizontalPodAutoscaler:
			m.HPAs = append(m.HPAs, &HPA{Object: o, TargetKind: t.Spec.ScaleTargetRef.Kind, TargetName: t.Spec.ScaleTargetRef.Name,
				MinReplicas: replicasOrOne(t.Spec.MinReplicas), MaxReplicas: t.Spec.MaxReplicas})
		case *zdv1alpha1.TargetBinding:
			m.TargetBindings = append(m.TargetBindings, o)
		case *corev1.Namespace:
			m.Namespaces[t.Name] = t
		}
	}
	m.buildIndex()
	return m
}

func replicasOrOne(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// sameNamespace compares namespaces treating "" as "default".
func sameNamespace(a, b string) bool { return nsOrDefault(a) == nsOrDefault(b) }

func nsOrDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// ServicesFor returns the Services in w's namespace whose selector matches
// w's pod template labels.
func (m *Model) ServicesFor(w *Workload) []*Object {
	var out []*Object
	for _, s := range m.ns(w.Object.Ref.Namespace).services {
		svc := s.Obj.(*corev1.Service)
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Template.Labels)) {
			out = append(out, s)
		}
	}
	return out
}

// WorkloadsFor returns the workloads a Service selects.
func (m *Model) WorkloadsFor(s *Object) []*Workload {
	svc := s.Obj.(*corev1.Service)
	var out []*Workload
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for _, w := range m.ns(s.Ref.Namespace).workloads {
		if sel.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// PodsFor returns the live pods a Service selects.
func (m *Model) PodsFor(s *Object) []*corev1.Pod {
	svc := s.Obj.(*corev1.Service)
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []*corev1.Pod
	for _, p := range m.ns(s.Ref.Namespace).pods {
		pod := p.Obj.(*corev1.Pod)
		if sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pod)
		}
	}
	return out
}

// LivePodsFor returns the live pods matching w's template labels.
func (m *Model) LivePodsFor(w *Workload) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range m.ns(w.Object.Ref.Namespace).pods {
		pod := p.Obj.(*corev1.Pod)
		if len(w.Template.Labels) == 0 {
			continue
		}
		if labels.SelectorFromSet(w.Template.Labels).Matches(labels.Set(pod.Labels)) {
			out = append(out, pod)
		}
	}
	return out
}

// Service returns the Service named name in namespace ns, or nil.
func (m *Model) Service(ns, name string) *Object {
	for _, s := range m.ns(ns).services {
		if s.Ref.Name == name {
			return s
		}
	}
	return nil
}

// PDBsFor returns the PDBs whose selector matches w's pod template labels.
func (m *Model) PDBsFor(w *Workload) []*PDB {
	var out []*PDB
	for _, p := range m.ns(w.Object.Ref.Namespace).pdbs {
		if p.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// HPAsFor returns the HPAs scaling w.
func (m *Model) HPAsFor(w *Workload) []*HPA {
	var out []*HPA
	for _, h := range m.ns(w.Object.Ref.Namespace).hpas {
		if h.TargetKind == w.Object.Ref.Kind && h.TargetName == w.Object.Ref.Name {
			out = append(out, h)
		}
	}
	return out
}

// NamespaceLabels returns the labels of namespace ns and whether the
// Namespace object is known (in the input or the cluster).
func (m *Model) NamespaceLabels(ns string) (map[string]string, bool) {
	n, ok := m.Namespaces[nsOrDefault(ns)]
	if !ok {
		return nil, false
	}
	return n.Labels, true
}

// IngressesFor returns the Ingresses with a backend on Service s.
func (m *Model) IngressesFor(s *Object) []*Object {
	var out []*Object
	for _, i := range m.ns(s.Ref.Namespace).ingresses {
		if ingressUsesService(i.Obj.(*networkingv1.Ingress), s.Ref.Name) {
			out = append(out, i)
		}
	}
	return out
}

func ingressUsesService(ing *networkingv1.Ingress, name string) bool {
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil && b.Service.Name == name {
		return true
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == name {
				return true
			}
		}
	}
	return false
}

// TargetBindingsFor returns the TargetBindings on Service s.
func (m *Model) TargetBindingsFor(s *Object) []*zdv1alpha1.TargetBinding {
	var out []*zdv1alpha1.TargetBinding
	for _, o := range m.ns(s.Ref.Namespace).targetBindings {
		tb := o.Obj.(*zdv1alpha1.TargetBinding)
		if tb.Spec.ServiceRef.Name == s.Ref.Name {
			out = append(out, tb)
		}
	}
	return out
}

// LoadBalancedContainers returns the names of w's containers that receive
// traffic from a Service selecting w: those exposing a Service's target
// port (by number or name); the first container when no port matches.
// Nil when no Service selects w.
func (m *Model) LoadBalancedContainers(w *Workload) []string {
	svcs := m.ServicesFor(w)
	if len(svcs) == 0 {
		return nil
	}
	set := map[string]bool{}
	for _, s := range svcs {
		for _, sp := range s.Obj.(*corev1.Service).Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			for _, c := range w.Template.Spec.Containers {
				for _, cp := range c.Ports {
					if (target.Type == intstr.Int && cp.ContainerPort == target.IntVal) ||
						(target.Type == intstr.String && cp.Name == target.StrVal) {
						set[c.Name] = true
					}
				}
			}
		}
	}
	if len(set) == 0 && len(w.Template.Spec.Containers) > 0 {
		set[w.Template.Spec.Containers[0].Name] = true
	}
	out := make([]string, 0, len(set))
	for _, c := range w.Template.Spec.Containers {
		if set[c.Name] {
			out = append(out, c.Name)
		}
	}
	return out
}

// Container returns w's container named name.
func (w *Workload) Container(name string) *corev1.Container {
	for i := range w.Template.Spec.Containers {
		if w.Template.Spec.Containers[i].Name == name {
			return &w.Template.Spec.Containers[i]
		}
	}
	return nil
}
