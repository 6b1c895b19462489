package webhook

import (
	"fmt"
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/drain"
)

// Names and paths of what the drain-wait injection adds to a pod.
const (
	BinVolume       = "zerodrop-bin"
	TokenVolume     = "zerodrop-token"
	InitContainer   = "zerodrop-install"
	BinDir          = "/opt/zerodrop/bin"
	BinPath         = BinDir + "/zerodrop"
	TokenDir        = "/var/run/secrets/zerodrop.dev"
	TokenPath       = TokenDir + "/token"
	CAEnv           = "ZERODROP_DRAIN_CA"
	tokenExpiration = 3600
	// drainMargin covers the controller's poll interval and the last
	// answer's round trip on top of the drain timeout.
	drainMargin = 2 * time.Second
)

// DrainInjection configures the preStop wait the webhook injects.
type DrainInjection struct {
	// Image holds the static zerodrop binary at BinaryInImage; empty turns
	// injection off.
	Image string
	// BinaryInImage is zerodrop's path inside Image.
	BinaryInImage string
	// Endpoint is the drain URL as pods reach it.
	Endpoint string
	// CABundle is the PEM bundle pods trust for Endpoint (empty: system
	// roots).
	CABundle string
}

// drainTarget is what one binding needs from a pod's drain wait.
type drainTarget struct {
	// port is the pod's target port (number) or its name.
	port     int32
	portName string
	// fallback is interval × unhealthy threshold + drain timeout.
	fallback time.Duration
	// drainTimeout is the binding's drain timeout.
	drainTimeout time.Duration
}

// drainTargetFor returns what binding b needs of a pod serving sp.
func drainTargetFor(b *v1alpha1.TargetBinding, sp *corev1.ServicePort) drainTarget {
	dt := drainTarget{
		fallback:     b.CheckInterval()*time.Duration(b.UnhealthyThreshold()) + b.DrainTimeout(),
		drainTimeout: b.DrainTimeout(),
	}
	switch {
	case sp.TargetPort.StrVal != "":
		dt.portName = sp.TargetPort.StrVal
	case sp.TargetPort.IntVal != 0:
		dt.port = sp.TargetPort.IntVal
	default:
		dt.port = sp.Port
	}
	return dt
}

// InjectDrainWait gives every container serving one of the targets' ports a
// preStop that waits until the load balancers have drained the pod, and
// makes the grace period fit that wait plus the app's shutdown budget. It
// returns admission warnings for what the user should know.
func InjectDrainWait(pod *corev1.Pod, targets []drainTarget, cfg DrainInjection) []string {
	if cfg.Image == "" || len(targets) == 0 {
		return nil
	}
	var warnings []string
	var fallback, drainTimeout time.Duration
	for _, t := range targets {
		fallback = max(fallback, t.fallback)
		drainTimeout = max(drainTimeout, t.drainTimeout)
	}
	budget := shutdownBudget(pod)
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	need := int64(math.Ceil((max(fallback, drainTimeout+drainMargin) + budget).Seconds()))
	if grace < need {
		warnings = append(warnings, fmt.Sprintf(
			"zerodrop raised terminationGracePeriodSeconds from %d to %d so that the drain wait (up to %s) and the app's shutdown budget (%s) fit; the wait ends as soon as every load balancer has drained the pod",
			grace, need, max(fallback, drainTimeout+drainMargin), budget))
		setAnnotation(pod, v1alpha1.AnnotationOriginalGracePeriod, strconv.FormatInt(grace, 10))
		grace = need
		pod.Spec.TerminationGracePeriodSeconds = &grace
	}
	maxWait := time.Duration(grace)*time.Second - budget
	cmd := []string{BinPath, "wait-drained",
		"--endpoint=" + cfg.Endpoint,
		"--token-file=" + TokenPath,
		"--max-wait=" + maxWait.String(),
		"--fallback-wait=" + min(fallback, maxWait).String(),
	}
	if cfg.CABundle != "" {
		cmd = append(cmd, "--ca-env="+CAEnv)
	}

	injected := false
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if !servesAny(c, targets) {
			continue
		}
		switch pre := preStopOf(c); {
		case pre == nil:
			setPreStop(c, cmd)
		case pre.Exec != nil:
			setPreStop(c, append(append(append([]string{}, cmd...), "--"), pre.Exec.Command...))
		default:
			setAnnotation(pod, v1alpha1.AnnotationDrainWait, v1alpha1.DrainWaitExistingHandler)
			warnings = append(warnings, fmt.Sprintf(
				"container %s has a non-exec preStop handler; zerodrop left it alone and did not inject its drain wait", c.Name))
			continue
		}
		mountOnce(c, corev1.VolumeMount{Name: BinVolume, MountPath: BinDir, ReadOnly: true})
		mountOnce(c, corev1.VolumeMount{Name: TokenVolume, MountPath: TokenDir, ReadOnly: true})
		if cfg.CABundle != "" {
			c.Env = append(c.Env, corev1.EnvVar{Name: CAEnv, Value: cfg.CABundle})
		}
		injected = true
	}
	if !injected {
		return warnings
	}
	if pod.Annotations[v1alpha1.AnnotationDrainWait] == "" {
		setAnnotation(pod, v1alpha1.AnnotationDrainWait, v1alpha1.DrainWaitInjected)
	}
	addVolumes(pod)
	if pod.Spec.ServiceAccountName == "" {
		// What the ServiceAccount admission plugin does; a projected token
		// needs it, and API servers without that plugin reject the pod.
		pod.Spec.ServiceAccountName = "default"
	}
	pod.Spec.InitContainers = append([]corev1.Container{{
		Name:         InitContainer,
		Image:        cfg.Image,
		Command:      []string{cfg.BinaryInImage, "install", BinPath},
		VolumeMounts: []corev1.VolumeMount{{Name: BinVolume, MountPath: BinDir}},
	}}, pod.Spec.InitContainers...)
	return warnings
}

// shutdownBudget reads the pod's shutdown-budget annotation.
func shutdownBudget(pod *corev1.Pod) time.Duration {
	if v, ok := pod.Annotations[v1alpha1.AnnotationShutdownBudget]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return v1alpha1.DefaultShutdownBudget
}

// servesAny reports whether the container exposes one of the targets' ports.
func servesAny(c *corev1.Container, targets []drainTarget) bool {
	for _, p := range c.Ports {
		for _, t := range targets {
			if (t.portName != "" && p.Name == t.portName) || (t.port != 0 && p.ContainerPort == t.port) {
				return true
			}
		}
	}
	return false
}

func preStopOf(c *corev1.Container) *corev1.LifecycleHandler {
	if c.Lifecycle == nil {
		return nil
	}
	return c.Lifecycle.PreStop
}

func setPreStop(c *corev1.Container, cmd []string) {
	if c.Lifecycle == nil {
		c.Lifecycle = &corev1.Lifecycle{}
	}
	c.Lifecycle.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
}

func mountOnce(c *corev1.Container, m corev1.VolumeMount) {
	for _, have := range c.VolumeMounts {
		if have.Name == m.Name {
			return
		}
	}
	c.VolumeMounts = append(c.VolumeMounts, m)
}

func addVolumes(pod *corev1.Pod) {
	exp := int64(tokenExpiration)
	for _, v := range []corev1.Volume{
		{Name: BinVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: drain.Audience, ExpirationSeconds: &exp, Path: "token",
			}}},
		}}},
	} {
		have := false
		for _, pv := range pod.Spec.Volumes {
			have = have || pv.Name == v.Name
		}
		if !have {
			pod.Spec.Volumes = append(pod.Spec.Volumes, v)
		}
	}
}

func setAnnotation(pod *corev1.Pod, k, v string) {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[k] = v
}
