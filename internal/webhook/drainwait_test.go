package webhook

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

var cfg = DrainInjection{Image: "zerodrop:test", BinaryInImage: "/zerodrop", Endpoint: "https://zd/v1/drained", CABundle: "PEM"}

// web is a drain target on port 8080: checks every 2s, fall 2, drain 30s.
var web = drainTarget{port: &corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}, fallback: 34 * time.Second, drainTimeout: 30 * time.Second}

func appPod(mut ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
		{Name: "sidecar", Ports: []corev1.ContainerPort{{ContainerPort: 9090}}},
	}}}
	for _, m := range mut {
		m(p)
	}
	return p
}

func grace(s int64) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = &s }
}

func annotate(k, v string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func execPreStop(cmd ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}}
	}
}

// nativeSidecar moves the serving port into a native sidecar in front of
// an app container that exposes nothing.
func nativeSidecar(p *corev1.Pod) {
	always := corev1.ContainerRestartPolicyAlways
	p.Spec.InitContainers = []corev1.Container{
		{Name: "migrate"},
		{Name: "proxy", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
	}
	p.Spec.Containers[0].Ports = nil
}

// mutated runs mutate on pod as the API server would send it and returns
// the ops and the pod the API server would store after applying them.
func mutated(t *testing.T, pod *corev1.Pod, gates []string, tgts []drainTarget, c DrainInjection) ([]Op, []string, *corev1.Pod) {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	ops, warnings, err := mutate(raw, pod, gates, tgts, c)
	if err != nil {
		t.Fatalf("mutate: %v", err)
	}
	return ops, warnings, decodePod(t, applyOps(t, raw, ops))
}

// applyOps applies ops with the JSON patch library the API server uses.
func applyOps(t *testing.T, raw []byte, ops []Op) []byte {
	t.Helper()
	if len(ops) == 0 {
		return raw
	}
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(b)
	if err != nil {
		t.Fatalf("decoding patch %s: %v", b, err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("applying patch %s: %v", b, err)
	}
	return out
}

func decodePod(t *testing.T, raw []byte) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	if err := json.Unmarshal(raw, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInjectDrainWait(t *testing.T) {
	tests := []struct {
		name         string
		pod          *corev1.Pod
		targets      []drainTarget
		cfg          DrainInjection
		wantGrace    int64
		wantWarnings int
		// waiting lists the containers (init containers as "init/NAME")
		// that must carry the wait; nil means nothing is injected.
		waiting []string
		// wantMaxWait is the app container's --max-wait.
		wantMaxWait time.Duration
		// wantSuffix is what must follow "--" in the app's preStop.
		wantSuffix []string
	}{
		{name: "serving container gets the wait; the grace period is raised to fit drain and shutdown",
			pod: appPod(), targets: []drainTarget{web}, cfg: cfg,
			wantGrace: 44, wantWarnings: 1, waiting: []string{"app"}, wantMaxWait: 34 * time.Second},
		{name: "a long enough grace period is kept and bounds the wait",
			pod: appPod(grace(120)), targets: []drainTarget{web}, cfg: cfg,
			wantGrace: 120, waiting: []string{"app"}, wantMaxWait: 110 * time.Second},
		{name: "an existing exec preStop runs after ours; an unknown command is budgeted the default",
			pod: appPod(grace(120), execPreStop("/bin/flush", "--all")), targets: []drainTarget{web}, cfg: cfg,
			wantGrace: 120, waiting: []string{"app"}, wantMaxWait: 100 * time.Second, wantSuffix: []string{"/bin/flush", "--all"}},
		{name: "an existing sleep preStop is budgeted its sleep: grace = wait + sleep + shutdown",
			pod: appPod(execPreStop("sh", "-c", "sleep 20")), targets: []drainTarget{web}, cfg: cfg,
			wantGrace: 64, wantWarnings: 1, waiting: []string{"app"}, wantMaxWait: 34 * time.Second, wantSuffix: []string{"sh", "-c", "sleep 20"}},
		{name: "an existing hook's budget annotation wins over the guess",
			pod: appPod(execPreStop("/bin/flush"), annotate(v1alpha1.AnnotationPreStopBudget, "5s")), targets: []drainTarget{web}, cfg: cfg,
			wantGrace: 49, wantWarnings: 1, waiting: []string{"app"}, wantMaxWait: 34 * time.Second, wantSuffix: []string{"/bin/flush"}},
		{name: "a sleep followed by another command counts the sleep plus the default",
			pod: appPod(execPreStop("sh", "-c", "sleep 5 && /bin/flush")), targets: []drainTarget{web}, cfg: cfg,
			wantGrace: 59, wantWarnings: 1, waiting: []string{"app"}, wantMaxWait: 34 * time.Second, wantSuffix: []string{"sh", "-c", "sleep 5 && /bin/flush"}},
		{name: "a non-exec preStop is left alone and reported",
			pod: appPod(grace(120), func(p *corev1.Pod) {
				p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
			}), targets: []drainTarget{web}, cfg: cfg, wantGrace: 120, wantWarnings: 1},
		{name: "no image configured: nothing injected",
			pod: appPod(), targets: []drainTarget{web}, cfg: DrainInjection{}, wantGrace: 0},
		{name: "a container not serving a bound port is left alone, and the grace period too",
			pod: appPod(), targets: []drainTarget{{port: &corev1.ServicePort{Port: 7070}, fallback: time.Second, drainTimeout: time.Second}}, cfg: cfg, wantGrace: 0},
		{name: "named target ports match container port names",
			pod: appPod(grace(120)), targets: []drainTarget{{port: &corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, fallback: 34 * time.Second, drainTimeout: 30 * time.Second}}, cfg: cfg,
			waiting: []string{"app"}, wantGrace: 120, wantMaxWait: 110 * time.Second},
		{name: "a native sidecar serving the port waits, and so does every regular container, which the kubelet stops first",
			pod: appPod(grace(120), nativeSidecar), targets: []drainTarget{{port: &corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, fallback: 34 * time.Second, drainTimeout: 30 * time.Second}}, cfg: cfg,
			waiting: []string{"init/proxy", "app", "sidecar"}, wantGrace: 120, wantMaxWait: 110 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warnings, got := mutated(t, tt.pod, nil, tt.targets, tt.cfg)
			if len(warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", warnings, tt.wantWarnings)
			}
			var g int64
			if got.Spec.TerminationGracePeriodSeconds != nil {
				g = *got.Spec.TerminationGracePeriodSeconds
			}
			if g != tt.wantGrace {
				t.Errorf("grace = %d, want %d", g, tt.wantGrace)
			}
			injected := got.Annotations[v1alpha1.AnnotationDrainWait] == v1alpha1.DrainWaitInjected
			if injected != (tt.waiting != nil) {
				t.Errorf("injected = %v, want %v (annotations %v)", injected, tt.waiting != nil, got.Annotations)
			}
			var waiting []string
			var appCmd []string
			for _, c := range got.Spec.InitContainers {
				if pre := preStopOf(&c); pre != nil && pre.Exec != nil && isOurWait(pre.Exec.Command) {
					waiting = append(waiting, "init/"+c.Name)
				}
			}
			for _, c := range got.Spec.Containers {
				if pre := preStopOf(&c); pre != nil && pre.Exec != nil && isOurWait(pre.Exec.Command) {
					waiting = append(waiting, c.Name)
					if c.Name == "app" {
						appCmd = pre.Exec.Command
					}
					if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == BinVolume }) ||
						!slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == TokenVolume }) {
						t.Errorf("container %s waits without the binary and token mounted: %+v", c.Name, c.VolumeMounts)
					}
				}
			}
			if !slices.Equal(waiting, tt.waiting) {
				t.Errorf("waiting containers = %q, want %q", waiting, tt.waiting)
			}
			if tt.waiting == nil {
				if slices.ContainsFunc(got.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == InitContainer }) {
					t.Errorf("init container added without injection")
				}
				return
			}
			if !slices.Contains(appCmd, "--max-wait="+tt.wantMaxWait.String()) {
				t.Errorf("app preStop %q lacks --max-wait=%s (grace - shutdown budget - their hook)", appCmd, tt.wantMaxWait)
			}
			if i := slices.Index(appCmd, "--"); (i >= 0) != (tt.wantSuffix != nil) || (i >= 0 && !slices.Equal(appCmd[i+1:], tt.wantSuffix)) {
				t.Errorf("app preStop = %q, want %q after --", appCmd, tt.wantSuffix)
			}
			if ic := got.Spec.InitContainers[0]; ic.Name != InitContainer || ic.Image != cfg.Image || !slices.Equal(ic.Command, []string{"/zerodrop", "install", BinPath}) {
				t.Errorf("first init container = %+v", ic)
			}
			if len(got.Spec.InitContainers) != len(tt.pod.Spec.InitContainers)+1 {
				t.Errorf("init containers = %d, want the pod's %d and ours", len(got.Spec.InitContainers), len(tt.pod.Spec.InitContainers))
			}
			if len(got.Spec.Volumes) != 2 || got.Spec.Volumes[1].Projected.Sources[0].ServiceAccountToken.Audience != "zerodrop.dev/drain" {
				t.Errorf("volumes = %+v", got.Spec.Volumes)
			}
		})
	}
}

func TestInjectDrainWait_ShutdownBudgetAnnotation(t *testing.T) {
	p := appPod(annotate(v1alpha1.AnnotationShutdownBudget, "25s"))
	_, w, got := mutated(t, p, nil, []drainTarget{web}, cfg)
	if g := *got.Spec.TerminationGracePeriodSeconds; g != 59 || len(w) != 1 || !strings.Contains(w[0], "from 30 to 59") {
		t.Errorf("grace = %d, warnings %q; want 59 (34s drain + 25s budget)", g, w)
	}
	if got.Annotations[v1alpha1.AnnotationOriginalGracePeriod] != "30" {
		t.Errorf("original grace not recorded: %v", got.Annotations)
	}
}

// TestInjectDrainWait_initContainerPassesRestricted checks the injected
// init container on its own against what PodSecurity `restricted` and a
// ResourceQuota without LimitRange ask of every container.
func TestInjectDrainWait_initContainerPassesRestricted(t *testing.T) {
	_, _, got := mutated(t, appPod(), nil, []drainTarget{web}, cfg)
	ic := got.Spec.InitContainers[0]
	sc := ic.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no securityContext")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0:
		t.Errorf("not non-root with a numeric UID: %+v", sc)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("privilege escalation allowed: %+v", sc)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities = %+v", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccomp = %+v", sc.SeccompProfile)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("root filesystem writable: %+v", sc)
	}
	if ic.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("pull policy = %q", ic.ImagePullPolicy)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := ic.Resources.Requests[r]; !ok {
			t.Errorf("no %s request: %+v", r, ic.Resources)
		}
		if _, ok := ic.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit: %+v", r, ic.Resources)
		}
	}
}

// TestMutate_alreadyMutatedPodGetsNoOps proves idempotency: a pod that
// already carries everything (a copied spec, `kubectl debug --copy-to`, a
// second admission) gets no op at all; in particular its preStop is not
// wrapped twice.
func TestMutate_alreadyMutatedPodGetsNoOps(t *testing.T) {
	gates := []string{v1alpha1.GateConditionType("web"), v1alpha1.GateConditionType("admin")}
	named := drainTarget{port: &corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, fallback: 34 * time.Second, drainTimeout: 30 * time.Second}
	tests := []struct {
		name string
		pod  *corev1.Pod
		tgts []drainTarget
	}{
		{"plain pod", appPod(), []drainTarget{web}},
		{"pod with an exec preStop", appPod(execPreStop("sh", "-c", "sleep 20")), []drainTarget{web}},
		{"pod with a native sidecar serving the port", appPod(nativeSidecar), []drainTarget{named}},
		{"pod with a non-exec preStop", appPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
		}), []drainTarget{web}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, _, once := mutated(t, tt.pod, gates, tt.tgts, cfg)
			if len(first) == 0 {
				t.Fatal("first admission changed nothing")
			}
			ops, _, twice := mutated(t, once, gates, tt.tgts, cfg)
			if len(ops) != 0 {
				t.Errorf("second admission ops = %+v, want none", ops)
			}
			a, _ := json.Marshal(once)
			b, _ := json.Marshal(twice)
			if string(a) != string(b) {
				t.Errorf("second admission changed the pod:\n%s\n%s", a, b)
			}
		})
	}
}
