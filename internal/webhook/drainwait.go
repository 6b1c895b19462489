package webhook

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/lint"
	"github.com/zerodrop/zerodrop/internal/targets"
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
	// waitSubcommand follows BinPath in the injected preStop; a preStop
	// that starts with both is already zerodrop's.
	waitSubcommand = "wait-drained"
)

// DrainInjection configures the preStop wait the webhook injects.
type DrainInjection struct {
	// Image holds the static zerodrop binary at BinaryInImage; empty turns
	// injection off. It must be pinned (see ValidateImage).
	Image string
	// BinaryInImage is zerodrop's path inside Image.
	BinaryInImage string
	// Endpoint is the drain URL as pods reach it.
	Endpoint string
	// CABundle is the PEM bundle pods trust for Endpoint (empty: system
	// roots).
	CABundle string
	// CABundleFrom, when set, is asked for the bundle at every admission
	// instead of CABundle, so that pods get the CA in force when they are
	// created (the self-managed certificates rotate it).
	CABundleFrom func() string
	// Resources are the injected init container's requests and limits; nil
	// means DefaultInjectorResources.
	Resources *corev1.ResourceRequirements
}

// Validate checks the configuration before the webhook serves with it.
func (d DrainInjection) Validate() error {
	if err := ValidateImage(d.Image); err != nil {
		return fmt.Errorf("injector image: %w", err)
	}
	return nil
}

// drainTarget is what one binding needs from a pod's drain wait.
type drainTarget struct {
	// port is the bound Service port; its targetPort says which container
	// port serves it.
	port *corev1.ServicePort
	// fallback is interval × unhealthy threshold + drain timeout.
	fallback time.Duration
	// drainTimeout is the binding's drain timeout.
	drainTimeout time.Duration
}

// drainTargetFor returns what binding b needs of a pod serving sp.
func drainTargetFor(b *v1alpha1.TargetBinding, sp *corev1.ServicePort) drainTarget {
	return drainTarget{
		port:         sp,
		fallback:     b.CheckInterval()*time.Duration(b.UnhealthyThreshold()) + b.DrainTimeout(),
		drainTimeout: b.DrainTimeout(),
	}
}

// hookKind is what a waiting container's preStop is before injection.
type hookKind int

const (
	// hookNone: no preStop; the wait becomes it.
	hookNone hookKind = iota
	// hookExec: their exec preStop, run after the wait.
	hookExec
	// hookOurs: already zerodrop's wait (a copied or re-admitted pod).
	hookOurs
	// hookOther: httpGet, sleep or tcpSocket, left alone.
	hookOther
)

// waitingContainer is a container that gets (or has) the drain wait.
type waitingContainer struct {
	// path is the container's JSON path in the pod.
	path []string
	c    *corev1.Container
	kind hookKind
	// theirs is their exec preStop command (run after the wait).
	theirs []string
	// hook is the budget of their command.
	hook time.Duration
}

// injectDrainWait adds to p what gives every container serving one of the
// targets' ports a preStop that waits until the load balancers have drained
// the pod, and makes the grace period fit that wait, the pod's own exec
// preStop and the app's shutdown budget. What the pod already has (a copied
// or re-admitted pod) is not added again. It returns admission warnings for
// what the user should know.
func injectDrainWait(p *patch, pod *corev1.Pod, tgts []drainTarget, cfg DrainInjection) ([]string, error) {
	if cfg.Image == "" || len(tgts) == 0 {
		return nil, nil
	}
	var warnings []string
	var fallback, drainTimeout time.Duration
	for _, t := range tgts {
		fallback = max(fallback, t.fallback)
		drainTimeout = max(drainTimeout, t.drainTimeout)
	}
	wait := max(fallback, drainTimeout+drainMargin)
	budget := shutdownBudget(pod)

	waiting := waitingContainers(pod, tgts)
	var hook time.Duration
	for i := range waiting {
		classifyHook(pod, &waiting[i])
		hook = max(hook, waiting[i].hook)
	}

	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	need := int64(math.Ceil((wait + hook + budget).Seconds()))
	if grace < need && slices.ContainsFunc(waiting, func(w waitingContainer) bool { return w.kind != hookOther }) {
		msg := fmt.Sprintf("zerodrop raised terminationGracePeriodSeconds from %d to %d so that the drain wait (up to %s)", grace, need, wait)
		if hook > 0 {
			msg += fmt.Sprintf(", the pod's own preStop (%s)", hook)
		}
		warnings = append(warnings, msg+fmt.Sprintf(" and the app's shutdown budget (%s) fit; the wait ends as soon as every load balancer has drained the pod", budget))
		if err := p.set([]string{"metadata", "annotations", v1alpha1.AnnotationOriginalGracePeriod}, strconv.FormatInt(grace, 10)); err != nil {
			return nil, err
		}
		grace = need
		if err := p.set([]string{"spec", "terminationGracePeriodSeconds"}, grace); err != nil {
			return nil, err
		}
	}

	annotation := v1alpha1.DrainWaitInjected
	injected := false
	for _, w := range waiting {
		lifecycle := append(append([]string{}, w.path...), "lifecycle")
		maxWait := time.Duration(grace)*time.Second - budget - w.hook
		cmd := []string{BinPath, waitSubcommand,
			"--endpoint=" + cfg.Endpoint,
			"--token-file=" + TokenPath,
			"--max-wait=" + maxWait.String(),
			"--fallback-wait=" + min(fallback, maxWait).String(),
		}
		if cfg.CABundle != "" {
			cmd = append(cmd, "--ca-env="+CAEnv)
		}
		var err error
		switch w.kind {
		case hookNone:
			err = p.set(append(lifecycle, "preStop"), corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}})
		case hookExec:
			// Only the command changes: whatever else their handler
			// carries stays as it is.
			err = p.set(append(lifecycle, "preStop", "exec", "command"), append(append(cmd, "--"), w.theirs...))
		case hookOurs:
		case hookOther:
			annotation = v1alpha1.DrainWaitExistingHandler
			warnings = append(warnings, fmt.Sprintf(
				"container %s has a non-exec preStop handler; zerodrop left it alone and did not inject its drain wait", w.c.Name))
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := addContainerMounts(p, w, cfg); err != nil {
			return nil, err
		}
		injected = true
	}
	if len(waiting) > 0 {
		if err := p.set([]string{"metadata", "annotations", v1alpha1.AnnotationDrainWait}, annotation); err != nil {
			return nil, err
		}
	}
	if !injected {
		return warnings, nil
	}
	if err := addPodParts(p, pod, cfg); err != nil {
		return nil, err
	}
	return warnings, nil
}

// waitingContainers returns the containers that get the wait: every
// container serving a bound port, and, when a native sidecar serves one,
// every regular container too. The kubelet stops native sidecars only after
// every regular container has exited, so a sidecar's own preStop runs too
// late to hold the app: the regular containers must wait for the drain, and
// the sidecar's own wait then finds the pod drained at once.
func waitingContainers(pod *corev1.Pod, tgts []drainTarget) []waitingContainer {
	var out []waitingContainer
	sidecarServes := false
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if targets.IsNativeSidecar(c) && servesAny(pod, c, tgts) {
			out = append(out, waitingContainer{path: []string{"spec", "initContainers", strconv.Itoa(i)}, c: c})
			sidecarServes = true
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if sidecarServes || servesAny(pod, c, tgts) {
			out = append(out, waitingContainer{path: []string{"spec", "containers", strconv.Itoa(i)}, c: c})
		}
	}
	return out
}

// classifyHook fills in w's hook kind, their command and its budget.
func classifyHook(pod *corev1.Pod, w *waitingContainer) {
	pre := preStopOf(w.c)
	switch {
	case pre == nil:
		w.kind = hookNone
	case pre.Exec == nil:
		w.kind = hookOther
	case isOurWait(pre.Exec.Command):
		w.kind = hookOurs
		if i := slices.Index(pre.Exec.Command, "--"); i >= 0 {
			w.theirs = pre.Exec.Command[i+1:]
		}
	default:
		w.kind = hookExec
		w.theirs = pre.Exec.Command
	}
	if len(w.theirs) > 0 {
		w.hook = preStopBudget(pod, w.theirs)
	}
}

// isOurWait reports whether an exec preStop command is zerodrop's wait.
func isOurWait(cmd []string) bool {
	return len(cmd) >= 2 && cmd[0] == BinPath && cmd[1] == waitSubcommand
}

// preStopBudget is how long the pod's own exec preStop cmd may run after
// the wait: the pod's prestop-budget annotation, else the seconds a
// sleep-only command sleeps, else its sleeps plus DefaultPreStopBudget.
func preStopBudget(pod *corev1.Pod, cmd []string) time.Duration {
	if v, ok := pod.Annotations[v1alpha1.AnnotationPreStopBudget]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	secs, exact := lint.ExecSleepSeconds(cmd)
	d := time.Duration(secs) * time.Second
	if !exact {
		d += v1alpha1.DefaultPreStopBudget
	}
	return d
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

// servesAny reports whether the container exposes the pod's target port of
// one of the targets.
func servesAny(pod *corev1.Pod, c *corev1.Container, tgts []drainTarget) bool {
	for _, t := range tgts {
		port, ok := targets.PodTargetPort(pod, t.port)
		if !ok {
			continue
		}
		for _, p := range c.Ports {
			if p.ContainerPort == port {
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

// addContainerMounts mounts the binary and the token into a waiting
// container and gives it the CA variable, unless it has them.
func addContainerMounts(p *patch, w waitingContainer, cfg DrainInjection) error {
	mounts := append(append([]string{}, w.path...), "volumeMounts")
	for _, m := range []corev1.VolumeMount{
		{Name: BinVolume, MountPath: BinDir, ReadOnly: true},
		{Name: TokenVolume, MountPath: TokenDir, ReadOnly: true},
	} {
		if slices.ContainsFunc(w.c.VolumeMounts, func(h corev1.VolumeMount) bool { return h.Name == m.Name }) {
			continue
		}
		if err := p.appendTo(mounts, m); err != nil {
			return err
		}
	}
	if cfg.CABundle == "" || slices.ContainsFunc(w.c.Env, func(e corev1.EnvVar) bool { return e.Name == CAEnv }) {
		return nil
	}
	return p.appendTo(append(append([]string{}, w.path...), "env"), corev1.EnvVar{Name: CAEnv, Value: cfg.CABundle})
}

// addPodParts adds the volumes, the service account and the init container
// the wait needs, unless the pod has them. The init container goes first,
// so it has run before any native sidecar starts; it is inserted last, so
// the ops before it address the pod's own init containers by their
// original index.
func addPodParts(p *patch, pod *corev1.Pod, cfg DrainInjection) error {
	exp := int64(tokenExpiration)
	for _, v := range []corev1.Volume{
		{Name: BinVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: drain.Audience, ExpirationSeconds: &exp, Path: "token",
			}}},
		}}},
	} {
		if slices.ContainsFunc(pod.Spec.Volumes, func(h corev1.Volume) bool { return h.Name == v.Name }) {
			continue
		}
		if err := p.appendTo([]string{"spec", "volumes"}, v); err != nil {
			return err
		}
	}
	if pod.Spec.ServiceAccountName == "" {
		// What the ServiceAccount admission plugin does; a projected token
		// needs it, and API servers without that plugin reject the pod.
		if err := p.set([]string{"spec", "serviceAccountName"}, "default"); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == InitContainer }) {
		return nil
	}
	return p.insertFirst([]string{"spec", "initContainers"}, initContainer(cfg))
}
