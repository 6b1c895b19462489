package lint

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

// nsIndex holds one namespace's objects. Selectors are matched through an
// inverted index of pod-template labels, and Services with the same
// selector share one selectorClass, so that matching costs the number of
// matching pairs, not services × workloads.
type nsIndex struct {
	workloads      []*Workload
	byLabel        map[string][]*Workload // "key\x00value" → workloads whose template has that label
	serviceByName  map[string]*Object
	classes        map[string]*selectorClass
	ingressesBySvc map[string][]*Object
	tbsBySvc       map[string][]*Object
	hpasByTarget   map[string][]*HPA // "Kind/name"
	pods           []*Object
	podsByLabel    map[string][]*Object
}

// selectorClass is one distinct Service selector of a namespace, the
// Services sharing it and the workloads it matches.
type selectorClass struct {
	selector  map[string]string
	services  []*Object
	workloads []*Workload

	// Cached on first use.
	frontends  []Frontend
	targets    []intstr.IntOrString
	haveFronts bool
	haveTarget bool
	pods       []*corev1.Pod
	havePods   bool
}

// serviceInfo is what the model caches per Service.
type serviceInfo struct {
	class      *selectorClass
	frontends  []Frontend
	haveFronts bool
}

var emptyNS = &nsIndex{}

// ns returns the index of namespace name ("" is "default").
func (m *Model) ns(name string) *nsIndex {
	if i, ok := m.byNS[nsOrDefault(name)]; ok {
		return i
	}
	return emptyNS
}

func labelKey(k, v string) string { return k + "\x00" + v }

// selectorKey renders a selector map canonically.
func selectorKey(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(labelKey(k, sel[k]))
		b.WriteByte(0)
	}
	return b.String()
}

// candidates returns the smallest posting list among sel's pairs: every
// workload matching sel is in it.
func (i *nsIndex) candidates(sel map[string]string) []*Workload {
	var best []*Workload
	first := true
	for k, v := range sel {
		l := i.byLabel[labelKey(k, v)]
		if first || len(l) < len(best) {
			best, first = l, false
		}
		if len(best) == 0 {
			return nil
		}
	}
	return best
}

func (m *Model) buildIndex() {
	m.byNS = map[string]*nsIndex{}
	get := func(ns string) *nsIndex {
		ns = nsOrDefault(ns)
		i, ok := m.byNS[ns]
		if !ok {
			i = &nsIndex{byLabel: map[string][]*Workload{}, serviceByName: map[string]*Object{}, classes: map[string]*selectorClass{},
				ingressesBySvc: map[string][]*Object{}, tbsBySvc: map[string][]*Object{}, hpasByTarget: map[string][]*HPA{},
				podsByLabel: map[string][]*Object{}}
			m.byNS[ns] = i
		}
		return i
	}
	index := func(w *Workload) {
		i := get(w.Object.Ref.Namespace)
		i.workloads = append(i.workloads, w)
		for k, v := range w.Template.Labels {
			lk := labelKey(k, v)
			i.byLabel[lk] = append(i.byLabel[lk], w)
		}
	}
	for _, w := range m.Workloads {
		index(w)
	}
	for _, w := range m.Unsupported {
		index(w)
	}
	for _, s := range m.Services {
		i := get(s.Ref.Namespace)
		i.serviceByName[s.Ref.Name] = s
		si := &serviceInfo{}
		m.services[s] = si
		sel := s.Obj.(*corev1.Service).Spec.Selector
		if len(sel) == 0 {
			continue
		}
		key := selectorKey(sel)
		c, ok := i.classes[key]
		if !ok {
			c = &selectorClass{selector: sel}
			i.classes[key] = c
			ls := labels.SelectorFromSet(sel)
			for _, w := range i.candidates(sel) {
				if ls.Matches(labels.Set(w.Template.Labels)) {
					c.workloads = append(c.workloads, w)
					w.svcClasses = append(w.svcClasses, c)
				}
			}
		}
		c.services = append(c.services, s)
		si.class = c
	}
	for _, o := range m.Ingresses {
		i := get(o.Ref.Namespace)
		for _, name := range ingressServices(o.Obj.(*networkingv1.Ingress)) {
			i.ingressesBySvc[name] = append(i.ingressesBySvc[name], o)
		}
	}
	for _, o := range m.TargetBindings {
		i := get(o.Ref.Namespace)
		name := o.Obj.(*zdv1alpha1.TargetBinding).Spec.ServiceRef.Name
		i.tbsBySvc[name] = append(i.tbsBySvc[name], o)
	}
	for _, h := range m.HPAs {
		i := get(h.Object.Ref.Namespace)
		k := h.TargetKind + "/" + h.TargetName
		i.hpasByTarget[k] = append(i.hpasByTarget[k], h)
	}
	for _, w := range m.Workloads {
		w.hpas = m.ns(w.Object.Ref.Namespace).hpasByTarget[w.Object.Ref.Kind+"/"+w.Object.Ref.Name]
	}
	m.indexPDBs(get)
	for _, o := range m.Pods {
		i := get(o.Ref.Namespace)
		i.pods = append(i.pods, o)
		for k, v := range o.Labels {
			lk := labelKey(k, v)
			i.podsByLabel[lk] = append(i.podsByLabel[lk], o)
		}
	}
	for _, w := range m.Workloads {
		if len(w.svcClasses) > 0 {
			m.balanced = append(m.balanced, w)
		}
	}
}

// indexPDBs matches each PDB's selector against the pod templates of its
// namespace; PDBs with the same selector share the work. In policy/v1 an
// empty selector ({}) selects every pod of the namespace; a missing one,
// and in policy/v1beta1 an empty one, selects none.
func (m *Model) indexPDBs(get func(string) *nsIndex) {
	type pdbClass struct{ workloads []*Workload }
	classes := map[string]*pdbClass{}
	for _, p := range m.PDBs {
		if p.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Selector)
		if err != nil || sel.Empty() && p.Deprecated {
			continue
		}
		i := get(p.Object.Ref.Namespace)
		key := nsOrDefault(p.Object.Ref.Namespace) + "\x00" + sel.String()
		c, ok := classes[key]
		if !ok {
			c = &pdbClass{}
			classes[key] = c
			cands := i.workloads
			if len(p.Selector.MatchLabels) > 0 {
				cands = i.candidates(p.Selector.MatchLabels)
			}
			for _, w := range cands {
				if !w.Unsupported && sel.Matches(labels.Set(w.Template.Labels)) {
					c.workloads = append(c.workloads, w)
				}
			}
		}
		p.workloads = c.workloads
		for _, w := range c.workloads {
			w.pdbs = append(w.pdbs, p)
		}
	}
}

// podsMatching returns the live pods of the namespace that c's selector
// matches.
func (i *nsIndex) podsMatching(c *selectorClass) []*corev1.Pod {
	if c.havePods {
		return c.pods
	}
	c.havePods = true
	var best []*Object
	first := true
	for k, v := range c.selector {
		l := i.podsByLabel[labelKey(k, v)]
		if first || len(l) < len(best) {
			best, first = l, false
		}
	}
	ls := labels.SelectorFromSet(c.selector)
	for _, o := range best {
		if ls.Matches(labels.Set(o.Labels)) {
			c.pods = append(c.pods, o.Obj.(*corev1.Pod))
		}
	}
	return c.pods
}

// targetPorts returns the distinct target ports of the class's Services
// (a Service port's own number when targetPort is unset).
func (c *selectorClass) targetPorts() []intstr.IntOrString {
	if c.haveTarget {
		return c.targets
	}
	c.haveTarget = true
	seen := map[intstr.IntOrString]bool{}
	for _, s := range c.services {
		for _, sp := range s.Obj.(*corev1.Service).Spec.Ports {
			t := sp.TargetPort
			if t.Type == intstr.Int && t.IntVal == 0 {
				t = intstr.FromInt32(sp.Port)
			}
			if !seen[t] {
				seen[t] = true
				c.targets = append(c.targets, t)
			}
		}
	}
	return c.targets
}

// loadBalanced returns the workloads some Service selects.
func (m *Model) loadBalanced() []*Workload { return m.balanced }
