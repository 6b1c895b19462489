package lint

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

// Annotations, labels and defaults of the AWS Load Balancer Controller
// (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/
// and .../guide/service/annotations/).
const (
	AnnALBTargetType          = "alb.ingress.kubernetes.io/target-type"
	AnnALBTargetGroupAttrs    = "alb.ingress.kubernetes.io/target-group-attributes"
	AnnALBHealthInterval      = "alb.ingress.kubernetes.io/healthcheck-interval-seconds"
	AnnALBHealthyThreshold    = "alb.ingress.kubernetes.io/healthy-threshold-count"
	AnnALBUnhealthyThreshold  = "alb.ingress.kubernetes.io/unhealthy-threshold-count"
	AnnIngressClass           = "kubernetes.io/ingress.class"
	AnnNLBType                = "service.beta.kubernetes.io/aws-load-balancer-type"
	AnnNLBTargetType          = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
	AnnNLBTargetGroupAttrs    = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
	AnnNLBHealthInterval      = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval"
	AnnNLBHealthTimeout       = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout"
	AnnNLBHealthyThreshold    = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-healthy-threshold"
	AnnNLBUnhealthyThreshold  = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-unhealthy-threshold"
	AWSLoadBalancerClassNLB   = "service.k8s.aws/nlb"
	AttrDeregistrationTimeout = "deregistration_delay.timeout_seconds"

	// LabelAWSReadinessGateInject on a Namespace makes the AWS Load
	// Balancer Controller inject its readiness gates into new pods.
	LabelAWSReadinessGateInject = "elbv2.k8s.aws/pod-readiness-gate-inject"
	// AWSGateConditionPrefix starts the AWS controller's gate condition
	// types; AWSLegacyGateConditionPrefix is the v1 controller's.
	AWSGateConditionPrefix       = "target-health.elbv2.k8s.aws/"
	AWSLegacyGateConditionPrefix = "target-health.alb.ingress.k8s.aws/"

	DefaultAWSDeregistrationSeconds = 300
	DefaultALBHealthInterval        = 15
	DefaultALBHealthyThreshold      = 2
	DefaultALBUnhealthyThreshold    = 2
	DefaultNLBHealthInterval        = 10
	DefaultNLBHealthyThreshold      = 3
	DefaultNLBUnhealthyThreshold    = 3

	// zerodrop TargetBinding defaults (api/v1alpha1 kubebuilder defaults).
	DefaultTBHealthInterval      = 2
	DefaultTBHealthyThreshold    = 2
	DefaultTBUnhealthyThreshold  = 2
	DefaultTBDrainTimeoutSeconds = 30
)

// FrontendKind is the kind of load balancer in front of a workload.
type FrontendKind string

// Frontend kinds.
const (
	FrontendALB           FrontendKind = "AWS ALB"
	FrontendNLB           FrontendKind = "AWS NLB"
	FrontendTargetBinding FrontendKind = "zerodrop TargetBinding"
)

// Frontend is one load balancer in front of a Service, with its timing.
type Frontend struct {
	Kind FrontendKind
	// Via is the object that configures it: Ingress, Service or
	// TargetBinding.
	Via *Object
	// Service is the Service whose pods are the targets.
	Service *Object
	// TargetTypeIP is true when pods are registered by IP (needed for
	// readiness gates); TargetTypeAnnotation is where that was read from.
	TargetTypeIP bool
	// HealthInterval, HealthyThreshold and UnhealthyThreshold are the
	// load balancer's health-check settings.
	HealthInterval, HealthyThreshold, UnhealthyThreshold int32
	// DeregistrationSeconds is how long the load balancer may keep sending
	// to (or draining) a leaving target.
	DeregistrationSeconds int32
	// GateLabel is the Namespace label that turns gate injection on;
	// GateConditionPrefixes the gate condition types it injects.
	GateLabel             string
	GateConditionPrefixes []string
	// GateEnabled is false for a TargetBinding with its gate switched off.
	GateEnabled bool
	// DrainWait is true for a TargetBinding waiting for drain (zerodrop's
	// injected preStop).
	DrainWait bool
	// drainTimeout is a TargetBinding's drain.timeout in seconds.
	drainTimeout int32
}

// SecondsToHealthy is how long the load balancer takes to mark a new
// target healthy: interval × healthy threshold.
func (f Frontend) SecondsToHealthy() int32 { return f.HealthInterval * f.HealthyThreshold }

// Name renders the frontend for messages.
func (f Frontend) Name() string { return string(f.Kind) + " via " + f.Via.Ref.String() }

// ParseTargetGroupAttributes parses the AWS controller's stringMap
// annotation format: "k1=v1,k2=v2".
func ParseTargetGroupAttributes(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// LBDeregistrationSeconds returns the AWS target group's deregistration
// delay from a target-group-attributes annotation value, 300 (AWS's
// default) when unset or unparsable.
func LBDeregistrationSeconds(targetGroupAttributes string) int32 {
	v, ok := ParseTargetGroupAttributes(targetGroupAttributes)[AttrDeregistrationTimeout]
	if !ok {
		return DefaultAWSDeregistrationSeconds
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return DefaultAWSDeregistrationSeconds
	}
	return int32(n)
}

// TargetBindingDeregistrationSeconds is how long a TargetBinding's load
// balancer may still send to or drain a leaving pod: the drain timeout when
// drain-waiting is on, and at least the time health checks take to notice
// (interval × unhealthy threshold).
func TargetBindingDeregistrationSeconds(tb *zdv1alpha1.TargetBinding) int32 {
	interval, _, unhealthy := targetBindingHealth(tb)
	d := interval * unhealthy
	if tb.DrainWaitEnabled() {
		if t := drainTimeout(tb); t > d {
			d = t
		}
	}
	return d
}

func drainTimeout(tb *zdv1alpha1.TargetBinding) int32 {
	return ceilSeconds(tb.DrainTimeout())
}

func targetBindingHealth(tb *zdv1alpha1.TargetBinding) (interval, healthy, unhealthy int32) {
	return ceilSeconds(tb.CheckInterval()), tb.HealthyThreshold(), tb.UnhealthyThreshold()
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int32 {
	return int32((d + time.Second - 1) / time.Second)
}

func annInt(ann map[string]string, key string, def int32) int32 {
	v, ok := ann[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n <= 0 {
		return def
	}
	return int32(n)
}

// IsALBIngress reports whether the AWS Load Balancer Controller serves ing.
func IsALBIngress(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName == "alb" {
		return true
	}
	if ing.Annotations[AnnIngressClass] == "alb" {
		return true
	}
	for k := range ing.Annotations {
		if strings.HasPrefix(k, "alb.ingress.kubernetes.io/") {
			return true
		}
	}
	return false
}

// IsAWSNLBService reports whether svc is a LoadBalancer Service for an AWS
// NLB (in-tree "nlb", the AWS controller's "nlb-ip"/"external", or its
// load-balancer class).
func IsAWSNLBService(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass != nil && *svc.Spec.LoadBalancerClass == AWSLoadBalancerClassNLB {
		return true
	}
	switch svc.Annotations[AnnNLBType] {
	case "nlb", "nlb-ip", "external":
		return true
	}
	return false
}

// NLBTargetTypeIP reports whether an NLB Service registers pods by IP.
func NLBTargetTypeIP(ann map[string]string) bool {
	return ann[AnnNLBType] == "nlb-ip" || ann[AnnNLBTargetType] == "ip"
}

// ALBTargetTypeIP reports whether an ALB registers the Service's pods by
// IP: the Service's target-type annotation wins over the Ingress's; the
// default is instance.
func ALBTargetTypeIP(ingressAnn, serviceAnn map[string]string) bool {
	if v, ok := serviceAnn[AnnALBTargetType]; ok {
		return v == "ip"
	}
	return ingressAnn[AnnALBTargetType] == "ip"
}

// mergedALBAnnotations returns the Ingress's annotations overridden by the
// Service's (the AWS controller gives the Service priority).
func mergedALBAnnotations(ingressAnn, serviceAnn map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ingressAnn {
		out[k] = v
	}
	for k, v := range serviceAnn {
		if strings.HasPrefix(k, "alb.ingress.kubernetes.io/") {
			out[k] = v
		}
	}
	return out
}

// FrontendsFor returns every load balancer in front of Service s: ALBs
// through Ingresses, an NLB when s is an AWS LoadBalancer Service, and
// zerodrop TargetBindings.
func (m *Model) FrontendsFor(s *Object) []Frontend {
	si := m.services[s]
	if si == nil {
		return m.frontendsFor(s)
	}
	if !si.haveFronts {
		si.frontends, si.haveFronts = m.frontendsFor(s), true
	}
	return si.frontends
}

func (m *Model) frontendsFor(s *Object) []Frontend {
	svc := s.Obj.(*corev1.Service)
	var out []Frontend
	for _, io := range m.IngressesFor(s) {
		ing := io.Obj.(*networkingv1.Ingress)
		if !IsALBIngress(ing) {
			continue
		}
		ann := mergedALBAnnotations(ing.Annotations, svc.Annotations)
		out = append(out, Frontend{
			Kind: FrontendALB, Via: io, Service: s,
			TargetTypeIP:          ALBTargetTypeIP(ing.Annotations, svc.Annotations),
			HealthInterval:        annInt(ann, AnnALBHealthInterval, DefaultALBHealthInterval),
			HealthyThreshold:      annInt(ann, AnnALBHealthyThreshold, DefaultALBHealthyThreshold),
			UnhealthyThreshold:    annInt(ann, AnnALBUnhealthyThreshold, DefaultALBUnhealthyThreshold),
			DeregistrationSeconds: LBDeregistrationSeconds(ann[AnnALBTargetGroupAttrs]),
			GateLabel:             LabelAWSReadinessGateInject,
			GateConditionPrefixes: []string{AWSGateConditionPrefix, AWSLegacyGateConditionPrefix},
			GateEnabled:           true,
		})
	}
	if IsAWSNLBService(svc) {
		ann := svc.Annotations
		out = append(out, Frontend{
			Kind: FrontendNLB, Via: s, Service: s,
			TargetTypeIP:          NLBTargetTypeIP(ann),
			HealthInterval:        annInt(ann, AnnNLBHealthInterval, DefaultNLBHealthInterval),
			HealthyThreshold:      annInt(ann, AnnNLBHealthyThreshold, DefaultNLBHealthyThreshold),
			UnhealthyThreshold:    annInt(ann, AnnNLBUnhealthyThreshold, DefaultNLBUnhealthyThreshold),
			DeregistrationSeconds: LBDeregistrationSeconds(ann[AnnNLBTargetGroupAttrs]),
			GateLabel:             LabelAWSReadinessGateInject,
			GateConditionPrefixes: []string{AWSGateConditionPrefix, AWSLegacyGateConditionPrefix},
			GateEnabled:           true,
		})
	}
	for _, o := range m.ns(s.Ref.Namespace).tbsBySvc[s.Ref.Name] {
		tb := o.Obj.(*zdv1alpha1.TargetBinding)
		interval, healthy, unhealthy := targetBindingHealth(tb)
		out = append(out, Frontend{
			Kind: FrontendTargetBinding, Via: o, Service: s,
			TargetTypeIP:   true,
			HealthInterval: interval, HealthyThreshold: healthy, UnhealthyThreshold: unhealthy,
			DeregistrationSeconds: TargetBindingDeregistrationSeconds(tb),
			GateLabel:             zdv1alpha1.LabelInject,
			GateConditionPrefixes: []string{zdv1alpha1.GateConditionType(tb.Name)},
			GateEnabled:           tb.GateEnabled(),
			DrainWait:             tb.DrainWaitEnabled(),
			drainTimeout:          drainTimeout(tb),
		})
	}
	return out
}

// WorkloadFrontends returns the frontends of every Service selecting w.
// The slice is shared: callers must not modify it.
func (m *Model) WorkloadFrontends(w *Workload) []Frontend {
	if w.derived.frontends {
		return w.derived.frontendList
	}
	w.derived.frontends = true
	if len(w.svcClasses) == 1 {
		w.derived.frontendList = m.classFrontends(w.svcClasses[0])
		return w.derived.frontendList
	}
	var out []Frontend
	for _, c := range w.svcClasses {
		out = append(out, m.classFrontends(c)...)
	}
	w.derived.frontendList = out
	return out
}

// classFrontends returns the frontends of every Service of c.
func (m *Model) classFrontends(c *selectorClass) []Frontend {
	if !c.haveFronts {
		c.haveFronts = true
		for _, s := range c.services {
			c.frontends = append(c.frontends, m.FrontendsFor(s)...)
		}
	}
	return c.frontends
}

// GateCovers reports whether f's readiness gate holds w's new pods back
// until the load balancer reports them healthy: the gate is on, pods are
// registered by IP, and either w's template already lists the gate or w's
// namespace carries f's injection label.
func (m *Model) GateCovers(w *Workload, f Frontend) bool {
	if !f.GateEnabled || !f.TargetTypeIP {
		return false
	}
	for _, g := range w.Template.Spec.ReadinessGates {
		for _, p := range f.GateConditionPrefixes {
			if strings.HasPrefix(string(g.ConditionType), p) {
				return true
			}
		}
	}
	lbls, _ := m.NamespaceLabels(w.Object.Ref.Namespace)
	return lbls[f.GateLabel] == "enabled"
}

// InjectedWaitSeconds returns how long zerodrop's injected preStop
// (`zerodrop wait-drained`) may wait for w's pods: the longest drain
// timeout of the TargetBindings that select w with drain-waiting on, when
// w's namespace has zerodrop injection enabled; 0 otherwise.
func (m *Model) InjectedWaitSeconds(w *Workload) int32 {
	if w.derived.injected {
		return w.derived.injectedSeconds
	}
	w.derived.injected = true
	lbls, _ := m.NamespaceLabels(w.Object.Ref.Namespace)
	if lbls[zdv1alpha1.LabelInject] != zdv1alpha1.LabelInjectEnabled {
		return 0
	}
	var wait int32
	for _, f := range m.WorkloadFrontends(w) {
		if f.Kind == FrontendTargetBinding && f.DrainWait && f.drainTimeout > wait {
			wait = f.drainTimeout
		}
	}
	w.derived.injectedSeconds = wait
	return wait
}

// EffectivePreStop returns c's preStop including zerodrop's injected wait
// (the longer of the two; the injected hook runs instead of a missing one).
func (m *Model) EffectivePreStop(w *Workload, c *corev1.Container) (PreStop, bool) {
	p := PreStopSeconds(c)
	inj := m.InjectedWaitSeconds(w)
	if inj == 0 {
		return p, false
	}
	if !p.Present || inj > p.Seconds {
		return PreStop{Present: true, Seconds: inj, Exact: true, Source: "zerodrop wait-drained (drain timeout)"}, true
	}
	return p, true
}
