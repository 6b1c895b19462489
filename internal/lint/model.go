package lint

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

// Workload is anything that runs pods from a template: Deployment,
// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, or (in files)
// a bare Pod. Kinds lint matches selectors against but does not check (Job,
// CronJob, custom resources with a pod template) have Unsupported set.
type Workload struct {
	Object *Object
	// Replicas is spec.replicas with Kubernetes' default (1); 0 for a
	// DaemonSet, whose pod count is its node count.
	Replicas int32
	// MinReadySeconds is spec.minReadySeconds.
	MinReadySeconds int32
	// Template is the pod template; for a bare Pod, the Pod itself.
	Template corev1.PodTemplateSpec
	// Exactly one of these is set for a supported kind (none for a Pod).
	Deployment            *appsv1.Deployment
	StatefulSet           *appsv1.StatefulSet
	DaemonSet             *appsv1.DaemonSet
	ReplicaSet            *appsv1.ReplicaSet
	ReplicationController *corev1.ReplicationController
	// Unsupported is true for a kind whose pod template is matched by
	// selectors but whose rollout lint does not model.
	Unsupported bool
	// templatePath is the YAML path to the pod spec's parent.
	templatePath []string
	// selector is the workload's own selector as match labels, for fixes.
	selector map[string]string

	// Relations, filled in by the model's index.
	svcClasses []*selectorClass
	pdbs       []*PDB
	hpas       []*HPA
	derived    workloadDerived
}

// workloadDerived caches values derived from a workload's relations; each
// is computed on first use.
type workloadDerived struct {
	frontends, lbContainers, injected bool

	frontendList    []Frontend
	containerList   []string
	injectedSeconds int32
}

// PodSpecPath returns the YAML path of the pod spec followed by rest.
func (w *Workload) PodSpecPath(rest ...string) []string {
	p := append([]string{}, w.templatePath...)
	p = append(p, "spec")
	return append(p, rest...)
}

// HasRollout reports whether the workload's controller replaces pods in a
// rolling update (Deployment, StatefulSet, DaemonSet).
func (w *Workload) HasRollout() bool {
	return w.Deployment != nil || w.StatefulSet != nil || w.DaemonSet != nil
}

// Scalable reports whether the workload runs a replica count of pods that
// the scheduler places and a drain evicts (Deployment, StatefulSet,
// ReplicaSet, ReplicationController). DaemonSet pods are one per node and
// `kubectl drain` skips them; a bare Pod is not recreated.
func (w *Workload) Scalable() bool {
	return w.Deployment != nil || w.StatefulSet != nil || w.ReplicaSet != nil || w.ReplicationController != nil
}

// IsPod reports whether the workload is a bare Pod (files only).
func (w *Workload) IsPod() bool {
	_, ok := w.Object.Obj.(*corev1.Pod)
	return ok
}

// PDB is a PodDisruptionBudget of either API version.
type PDB struct {
	Object         *Object
	MinAvailable   *intstr.IntOrString
	MaxUnavailable *intstr.IntOrString
	Selector       *metav1.LabelSelector
	// Deprecated is true for policy/v1beta1.
	Deprecated bool
	// workloads are the workloads the selector matches.
	workloads []*Workload
}

// HPA is a HorizontalPodAutoscaler of either API version.
type HPA struct {
	Object      *Object
	TargetKind  string
	TargetName  string
	MinReplicas int32
	MaxReplicas int32
}

// Duplicate is an object defined more than once in the input: Kept is the
// last definition (the one `kubectl apply` leaves), Dropped an earlier one.
type Duplicate struct {
	Kept, Dropped *Object
}

// Model is every object of one lint run, indexed, with the relations
// between them. Building it is linear in the input plus the number of
// (selector, matching workload) pairs.
type Model struct {
	// Objects are the input objects, one per kind/namespace/name.
	Objects   []*Object
	Workloads []*Workload
	// Unsupported are workloads of kinds lint does not check.
	Unsupported    []*Workload
	Services       []*Object
	Ingresses      []*Object
	PDBs           []*PDB
	HPAs           []*HPA
	TargetBindings []*Object
	// Duplicates are objects defined again, in input order.
	Duplicates []Duplicate
	// Namespaces by name; nil entry means not seen.
	Namespaces map[string]*corev1.Namespace
	// Pods are live pods (live mode only): instances, not workloads.
	Pods []*Object
	// Live is true when the model was read from a cluster.
	Live bool

	byNS          map[string]*nsIndex
	namespaceObjs map[string]*Object
	services      map[*Object]*serviceInfo
	balanced      []*Workload
}

// NewModel indexes objs. In live mode pods are instances; in files a Pod is
// a workload of one replica. An object defined twice (same kind, namespace
// and name) is kept once, its last definition, and recorded in Duplicates.
func NewModel(objs []*Object, live bool) *Model {
	m := &Model{Namespaces: map[string]*corev1.Namespace{}, Live: live, namespaceObjs: map[string]*Object{},
		services: map[*Object]*serviceInfo{}}
	m.Objects, m.Duplicates = dedupe(objs)
	for _, o := range m.Objects {
		if w := newWorkload(o, live); w != nil {
			if w.Unsupported {
				m.Unsupported = append(m.Unsupported, w)
			} else {
				m.Workloads = append(m.Workloads, w)
			}
			continue
		}
		switch t := o.Obj.(type) {
		case *corev1.Pod:
			m.Pods = append(m.Pods, o)
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
			m.namespaceObjs[t.Name] = o
		}
	}
	m.buildIndex()
	return m
}

// dedupeKey identifies an object the way the API server does: kind,
// namespace and name (the API version does not make a second object).
type dedupeKey struct{ kind, namespace, name string }

// dedupe keeps the last definition of each object, in the position of its
// first, and returns the earlier definitions as duplicates.
func dedupe(objs []*Object) ([]*Object, []Duplicate) {
	last := make(map[dedupeKey]int, len(objs))
	key := func(o *Object) dedupeKey {
		ns := o.Ref.Namespace
		if ns == "" && o.Ref.Kind != "Namespace" {
			ns = "default"
		}
		return dedupeKey{o.Ref.Kind, ns, o.Ref.Name}
	}
	for i, o := range objs {
		last[key(o)] = i
	}
	if len(last) == len(objs) {
		return objs, nil
	}
	out := make([]*Object, 0, len(last))
	var dups []Duplicate
	placed := make(map[dedupeKey]bool, len(last))
	for i, o := range objs {
		k := key(o)
		kept := objs[last[k]]
		if i != last[k] {
			dups = append(dups, Duplicate{Kept: kept, Dropped: o})
		}
		if !placed[k] {
			placed[k] = true
			out = append(out, kept)
		}
	}
	return out, dups
}

// newWorkload returns the workload o describes, nil if it runs no pods. In
// live mode a Pod is an instance, not a workload.
func newWorkload(o *Object, live bool) *Workload {
	tp := []string{"spec", "template"}
	switch t := o.Obj.(type) {
	case *appsv1.Deployment:
		return &Workload{Object: o, Replicas: replicasOrOne(t.Spec.Replicas), MinReadySeconds: t.Spec.MinReadySeconds,
			Template: t.Spec.Template, Deployment: t, templatePath: tp, selector: matchLabelsOf(t.Spec.Selector)}
	case *appsv1.StatefulSet:
		return &Workload{Object: o, Replicas: replicasOrOne(t.Spec.Replicas), MinReadySeconds: t.Spec.MinReadySeconds,
			Template: t.Spec.Template, StatefulSet: t, templatePath: tp, selector: matchLabelsOf(t.Spec.Selector)}
	case *appsv1.DaemonSet:
		return &Workload{Object: o, MinReadySeconds: t.Spec.MinReadySeconds,
			Template: t.Spec.Template, DaemonSet: t, templatePath: tp, selector: matchLabelsOf(t.Spec.Selector)}
	case *appsv1.ReplicaSet:
		return &Workload{Object: o, Replicas: replicasOrOne(t.Spec.Replicas), MinReadySeconds: t.Spec.MinReadySeconds,
			Template: t.Spec.Template, ReplicaSet: t, templatePath: tp, selector: matchLabelsOf(t.Spec.Selector)}
	case *corev1.ReplicationController:
		w := &Workload{Object: o, Replicas: replicasOrOne(t.Spec.Replicas), MinReadySeconds: t.Spec.MinReadySeconds,
			ReplicationController: t, templatePath: tp, selector: t.Spec.Selector}
		if t.Spec.Template != nil {
			w.Template = *t.Spec.Template
		}
		if len(w.Template.Labels) == 0 {
			// The API server defaults the template's labels from the selector.
			w.Template.Labels = t.Spec.Selector
		}
		return w
	case *corev1.Pod:
		if live {
			return nil
		}
		return &Workload{Object: o, Replicas: 1, Template: corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: t.Spec}}
	case *batchv1.Job:
		return &Workload{Object: o, Template: t.Spec.Template, templatePath: tp, Unsupported: true}
	case *batchv1.CronJob:
		return &Workload{Object: o, Template: t.Spec.JobTemplate.Spec.Template, Unsupported: true,
			templatePath: []string{"spec", "jobTemplate", "spec", "template"}}
	case *unstructured.Unstructured:
		return unstructuredWorkload(o, t)
	}
	return nil
}

// unstructuredWorkload returns an unsupported workload for a custom
// resource with a pod template at spec.template (Argo Rollouts, Knative,
// OpenKruise and the like): its pods are real, so a Service selecting
// them does not select nothing.
func unstructuredWorkload(o *Object, u *unstructured.Unstructured) *Workload {
	tmpl, found, err := unstructured.NestedMap(u.Object, "spec", "template")
	if !found || err != nil {
		return nil
	}
	if _, ok, _ := unstructured.NestedSlice(tmpl, "spec", "containers"); !ok {
		return nil
	}
	var pt corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pt); err != nil {
		return nil
	}
	return &Workload{Object: o, Template: pt, templatePath: []string{"spec", "template"}, Unsupported: true}
}

func matchLabelsOf(s *metav1.LabelSelector) map[string]string {
	if s == nil {
		return nil
	}
	return s.MatchLabels
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

// MinReplicas is the fewest pods w runs: the HPA's minReplicas when an HPA
// scales it (it overrides spec.replicas), else spec.replicas.
func (m *Model) MinReplicas(w *Workload) int32 {
	if len(w.hpas) == 0 {
		return w.Replicas
	}
	min := w.hpas[0].MinReplicas
	for _, h := range w.hpas[1:] {
		if h.MinReplicas < min {
			min = h.MinReplicas
		}
	}
	return min
}

// ServicesFor returns the Services in w's namespace whose selector matches
// w's pod template labels.
func (m *Model) ServicesFor(w *Workload) []*Object {
	var out []*Object
	for _, c := range w.svcClasses {
		out = append(out, c.services...)
	}
	return out
}

// WorkloadsFor returns the workloads (supported or not) a Service selects.
func (m *Model) WorkloadsFor(s *Object) []*Workload {
	if si := m.services[s]; si != nil && si.class != nil {
		return si.class.workloads
	}
	return nil
}

// PodsFor returns the live pods a Service selects.
func (m *Model) PodsFor(s *Object) []*corev1.Pod {
	si := m.services[s]
	if si == nil || si.class == nil {
		return nil
	}
	return m.ns(s.Ref.Namespace).podsMatching(si.class)
}

// Service returns the Service named name in namespace ns, or nil.
func (m *Model) Service(ns, name string) *Object {
	return m.ns(ns).serviceByName[name]
}

// PDBsFor returns the PDBs whose selector matches w's pod template labels.
func (m *Model) PDBsFor(w *Workload) []*PDB { return w.pdbs }

// HPAsFor returns the HPAs scaling w.
func (m *Model) HPAsFor(w *Workload) []*HPA { return w.hpas }

// NamespaceLabels returns the labels of namespace ns and whether the
// Namespace object is known (in the input or the cluster).
func (m *Model) NamespaceLabels(ns string) (map[string]string, bool) {
	n, ok := m.Namespaces[nsOrDefault(ns)]
	if !ok {
		return nil, false
	}
	return n.Labels, true
}

// NamespaceObject returns the Namespace object named ns, or nil.
func (m *Model) NamespaceObject(ns string) *Object { return m.namespaceObjs[nsOrDefault(ns)] }

// IngressesFor returns the Ingresses with a backend on Service s.
func (m *Model) IngressesFor(s *Object) []*Object {
	return m.ns(s.Ref.Namespace).ingressesBySvc[s.Ref.Name]
}

func ingressServices(ing *networkingv1.Ingress) []string {
	var out []string
	seen := map[string]bool{}
	add := func(b *networkingv1.IngressServiceBackend) {
		if b != nil && !seen[b.Name] {
			seen[b.Name] = true
			out = append(out, b.Name)
		}
	}
	if b := ing.Spec.DefaultBackend; b != nil {
		add(b.Service)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			add(p.Backend.Service)
		}
	}
	return out
}

// TargetBindingsFor returns the TargetBindings on Service s.
func (m *Model) TargetBindingsFor(s *Object) []*zdv1alpha1.TargetBinding {
	var out []*zdv1alpha1.TargetBinding
	for _, o := range m.ns(s.Ref.Namespace).tbsBySvc[s.Ref.Name] {
		out = append(out, o.Obj.(*zdv1alpha1.TargetBinding))
	}
	return out
}

// LoadBalancedContainers returns the names of w's containers that receive
// traffic from a Service selecting w: those exposing a Service's target
// port (by number or name); the first container when no port matches.
// Nil when no Service selects w.
func (m *Model) LoadBalancedContainers(w *Workload) []string {
	if w.derived.lbContainers {
		return w.derived.containerList
	}
	w.derived.lbContainers = true
	if len(w.svcClasses) == 0 {
		return nil
	}
	set := map[string]bool{}
	for _, cl := range w.svcClasses {
		for _, target := range cl.targetPorts() {
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
	w.derived.containerList = out
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
