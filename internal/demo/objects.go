package demo

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// Mode is one way of running the same app behind the same load balancer.
type Mode string

// The modes the demo compares.
const (
	// ModeNone is a plain endpoint sync: pods are registered once Ready and
	// removed the moment they leave; no preStop, no gate.
	ModeNone Mode = "no-zerodrop"
	// ModeStatic is the seeds' static recipe: preStop sleep,
	// minReadySeconds, maxUnavailable 0 / maxSurge 1, a grace period to
	// fit, no gate; the load balancer drains a leaving target's open
	// requests before removing it (like a deregistration delay) but nothing
	// ties SIGTERM to it.
	ModeStatic Mode = "static-recipe"
	// ModeZerodrop is zerodrop: readiness gate and drain-aware
	// termination, the app with no preStop of its own.
	ModeZerodrop Mode = "zerodrop"
	// ModeObserve (provider elbv2 only) is zerodrop in mode Observe beside
	// a plain syncer that registers and deregisters the pods (the AWS Load
	// Balancer Controller's stand-in, lbcsync.go): zerodrop only gates
	// readiness on the target group's state and holds SIGTERM until the
	// target left draining.
	ModeObserve Mode = "zerodrop-observe"
)

// Modes lists the modes in the order the demo shows them.
func Modes() []Mode { return []Mode{ModeNone, ModeStatic, ModeZerodrop} }

// Names of the objects every mode has.
const (
	// AppName names the Deployment, Service, PDB and TargetBinding.
	AppName = "web"
	// LoadBalancerName names the one LoadBalancer object.
	LoadBalancerName = "demo"
	// InstanceName names the one HAProxy instance in it.
	InstanceName = "haproxy-0"
	// AppImage is the app containers' image (virtual nodes run no images).
	AppImage = "zerodrop.dev/demo-app:1"
	// ContainerPort is where the app listens.
	ContainerPort = 8080
	// ServicePort is the Service's port.
	ServicePort = 80
	// AnnotationRevision is the pod-template annotation a rolling update
	// changes.
	AnnotationRevision = "demo.zerodrop.dev/revision"
	// labelApp selects the app's pods.
	labelApp = "app"
)

// Namespace is the namespace of a mode.
func (m Mode) Namespace() string { return "demo-" + string(m) }

// Backend is the HAProxy backend (and frontend) of a mode.
func (m Mode) Backend() string { return string(m) }

// Frontend is the HAProxy frontend of a mode.
func (m Mode) Frontend() string { return "fe-" + string(m) }

// Title is the short column heading of a mode.
func (m Mode) Title() string {
	switch m {
	case ModeNone:
		return "no zerodrop"
	case ModeStatic:
		return "static recipe"
	case ModeObserve:
		return "zerodrop observe"
	}
	return string(m)
}

// Objects are the API objects of one mode.
type Objects struct {
	Namespace  *corev1.Namespace
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	PDB        *policyv1.PodDisruptionBudget
	Binding    *v1alpha1.TargetBinding
}

// BuildObjects returns mode m's objects for scenario s.
func BuildObjects(m Mode, s *Scenario) Objects {
	ns := m.Namespace()
	labels := map[string]string{labelApp: AppName}
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	replicas := s.Replicas
	podAnn := map[string]string{
		vnode.AnnotationStartupDelay: s.App.StartupDelay.Duration.String(),
		vnode.AnnotationLatency:      s.App.Latency.Duration.String(),
		vnode.AnnotationShutdown:     string(s.App.Shutdown),
		AnnotationRevision:           "1",
	}
	container := corev1.Container{
		Name:  "app",
		Image: AppImage,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: ContainerPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: vnode.DefaultHealthPath, Port: intstr.FromString("http")}},
			PeriodSeconds: 1,
			// Kubernetes' default: one slow answer while the machine is busy
			// starting new pods does not take a serving pod out. zerodrop
			// drains a pod that turns not ready (runtime readiness), and on
			// ELBv2 that costs a deregistration and a full re-registration:
			// with a threshold of 1 every old pod of a rolling update
			// flapped at once on this 2-core machine, and the target group
			// had no healthy target for about 3 s.
			FailureThreshold: 3,
		},
	}
	grace := int64(s.App.ShutdownBudget.Duration.Seconds()) + 1
	var minReady int32
	surge := s.MaxSurge
	switch m {
	case ModeStatic:
		container.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"sleep", strconv.Itoa(int(s.StaticRecipe.PreStopSleep.Duration.Seconds()))},
		}}}
		minReady = s.MinReadySeconds()
		grace = s.StaticGraceSeconds()
		surge = one
	case ModeZerodrop, ModeObserve:
		podAnn[v1alpha1.AnnotationShutdownBudget] = s.App.ShutdownBudget.Duration.String()
	}
	objs := Objects{
		Namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		Deployment: &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: AppName, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas:        &replicas,
				MinReadySeconds: minReady,
				Selector:        &metav1.LabelSelector{MatchLabels: labels},
				Strategy: appsv1.DeploymentStrategy{
					Type:          appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &zero},
				},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnn},
					Spec: corev1.PodSpec{
						Containers:                    []corev1.Container{container},
						TerminationGracePeriodSeconds: &grace,
						// Spread the replicas over the nodes (softly: a
						// cordoned node still counts for the skew).
						TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
							MaxSkew: 1, TopologyKey: corev1.LabelHostname,
							WhenUnsatisfiable: corev1.ScheduleAnyway,
							LabelSelector:     &metav1.LabelSelector{MatchLabels: labels},
						}},
					},
				},
			},
		},
		Service: &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: AppName, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Name: "http", Port: ServicePort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
			},
		},
		PDB: &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: AppName, Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable: &one,
				Selector:       &metav1.LabelSelector{MatchLabels: labels},
			},
		},
		Binding: buildBinding(m, s),
	}
	if m == ModeZerodrop || m == ModeObserve {
		objs.Namespace.Labels = map[string]string{v1alpha1.LabelInject: v1alpha1.LabelInjectEnabled}
	}
	return objs
}

func buildBinding(m Mode, s *Scenario) *v1alpha1.TargetBinding {
	// The static recipe's load balancers drain a deregistered target (AWS's
	// deregistration delay, the seeds' setting); the plain sync removes it
	// with its sessions.
	gate, wait := m == ModeZerodrop || m == ModeObserve, m != ModeNone
	mode := v1alpha1.ModeManage
	if m == ModeObserve {
		mode = v1alpha1.ModeObserve
	}
	return &v1alpha1.TargetBinding{
		ObjectMeta: metav1.ObjectMeta{Name: AppName, Namespace: m.Namespace()},
		Spec: v1alpha1.TargetBindingSpec{
			ServiceRef:      v1alpha1.ServiceReference{Name: AppName, Port: intstr.FromInt32(ServicePort)},
			LoadBalancerRef: LoadBalancerName,
			Backend:         m.Backend(),
			HealthCheck: v1alpha1.HealthCheck{
				Interval:           &metav1.Duration{Duration: s.LoadBalancer.CheckInterval.Duration},
				HealthyThreshold:   s.LoadBalancer.Rise,
				UnhealthyThreshold: s.LoadBalancer.Fall,
			},
			Drain:         v1alpha1.Drain{Timeout: &metav1.Duration{Duration: s.Drain.Timeout.Duration}, Wait: &wait},
			ReadinessGate: &gate,
			Mode:          mode,
		},
	}
}

// haproxyLoadBalancer is the provider member for the HAProxy instance whose
// runtime socket is socket.
func haproxyLoadBalancer(socket string) v1alpha1.LoadBalancerSpec {
	return v1alpha1.LoadBalancerSpec{HAProxy: &v1alpha1.HAProxyLoadBalancer{
		Instances: []v1alpha1.HAProxyInstance{{Name: InstanceName, Socket: socket}},
	}}
}

// loadBalancer returns the LoadBalancer object of provider spec for the
// modes. It grants each mode's namespace its own backend and nothing else
// (docs/grants.md).
func loadBalancer(spec v1alpha1.LoadBalancerSpec, modes []Mode) *v1alpha1.LoadBalancer {
	lb := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: LoadBalancerName}, Spec: spec}
	for _, m := range modes {
		lb.Spec.AllowedBindings = append(lb.Spec.AllowedBindings, v1alpha1.BindingGrant{
			Namespaces: v1alpha1.NamespaceGrant{From: v1alpha1.NamespacesFromNames, Names: []string{m.Namespace()}},
			Backends:   []string{m.Backend()},
		})
	}
	return lb
}

// describe is a one-line summary of a mode's set-up for the progress output.
func describe(m Mode, s *Scenario) string {
	switch m {
	case ModeNone:
		return "plain endpoint sync, no preStop, no gate"
	case ModeStatic:
		return fmt.Sprintf("preStop sleep %d, minReadySeconds %d, grace %ds, maxSurge 1 / maxUnavailable 0, LB drains leaving targets, no gate",
			int(s.StaticRecipe.PreStopSleep.Duration.Seconds()), s.MinReadySeconds(), s.StaticGraceSeconds())
	}
	if m == ModeObserve {
		return "a plain syncer registers and deregisters; zerodrop observes: readiness gate on the target group's state + drain-aware termination"
	}
	return fmt.Sprintf("readiness gate + drain-aware termination (drain timeout %s), no preStop of its own", s.Drain.Timeout.Duration)
}
