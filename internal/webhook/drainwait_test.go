package webhook

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
)

var cfg = DrainInjection{Image: "zerodrop:test", BinaryInImage: "/zerodrop", Endpoint: "https://zd/v1/drained", CABundle: "PEM"}

// web is a drain target on port 8080: checks every 2s, fall 2, drain 30s.
var web = drainTarget{port: 8080, fallback: 34 * time.Second, drainTimeout: 30 * time.Second}

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

func TestInjectDrainWait(t *testing.T) {
	tests := []struct {
		name         string
		pod          *corev1.Pod
		targets      []drainTarget
		cfg          DrainInjection
		wantPreStop  []string // prefix of the app container's preStop command
		wantSuffix   []string // what must follow "--", if anything
		wantGrace    int64
		wantWarnings int
		wantInjected bool
	}{
		{name: "serving container gets the wait; the grace period is raised to fit drain and shutdown",
			pod: appPod(), targets: []drainTarget{web}, cfg: cfg,
			wantPreStop: []string{BinPath, "wait-drained"}, wantGrace: 44, wantWarnings: 1, wantInjected: true},
		{name: "a long enough grace period is kept and bounds the wait",
			pod: appPod(grace(120)), targets: []drainTarget{web}, cfg: cfg,
			wantPreStop: []string{BinPath, "wait-drained"}, wantGrace: 120, wantInjected: true},
		{name: "an existing exec preStop runs after ours",
			pod: appPod(grace(120), func(p *corev1.Pod) {
				p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/flush", "--all"}}}}
			}), targets: []drainTarget{web}, cfg: cfg,
			wantPreStop: []string{BinPath, "wait-drained"}, wantSuffix: []string{"/bin/flush", "--all"}, wantGrace: 120, wantInjected: true},
		{name: "a non-exec preStop is left alone and reported",
			pod: appPod(grace(120), func(p *corev1.Pod) {
				p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
			}), targets: []drainTarget{web}, cfg: cfg, wantGrace: 120, wantWarnings: 1},
		{name: "no image configured: nothing injected",
			pod: appPod(), targets: []drainTarget{web}, cfg: DrainInjection{}, wantGrace: 0},
		{name: "a container not serving a bound port is left alone",
			pod: appPod(grace(120)), targets: []drainTarget{{port: 7070, fallback: time.Second, drainTimeout: time.Second}}, cfg: cfg, wantGrace: 120},
		{name: "named target ports match container port names",
			pod: appPod(grace(120)), targets: []drainTarget{{portName: "http", fallback: 34 * time.Second, drainTimeout: 30 * time.Second}}, cfg: cfg,
			wantPreStop: []string{BinPath, "wait-drained"}, wantGrace: 120, wantInjected: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings := InjectDrainWait(tt.pod, tt.targets, tt.cfg)
			if len(warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", warnings, tt.wantWarnings)
			}
			var g int64
			if tt.pod.Spec.TerminationGracePeriodSeconds != nil {
				g = *tt.pod.Spec.TerminationGracePeriodSeconds
			}
			if g != tt.wantGrace {
				t.Errorf("grace = %d, want %d", g, tt.wantGrace)
			}
			injected := tt.pod.Annotations[v1alpha1.AnnotationDrainWait] == v1alpha1.DrainWaitInjected
			if injected != tt.wantInjected {
				t.Errorf("injected = %v, want %v (annotations %v)", injected, tt.wantInjected, tt.pod.Annotations)
			}
			if sc := tt.pod.Spec.Containers[1]; sc.Lifecycle != nil {
				t.Errorf("sidecar got a preStop: %+v", sc.Lifecycle)
			}
			if !injected {
				if len(tt.pod.Spec.InitContainers) != 0 {
					t.Errorf("init container added without injection")
				}
				return
			}
			cmd := tt.pod.Spec.Containers[0].Lifecycle.PreStop.Exec.Command
			if !slices.Equal(cmd[:2], tt.wantPreStop) {
				t.Errorf("preStop = %q", cmd)
			}
			if i := slices.Index(cmd, "--"); tt.wantSuffix != nil && (i < 0 || !slices.Equal(cmd[i+1:], tt.wantSuffix)) {
				t.Errorf("preStop = %q, want their command after --", cmd)
			}
			maxWait := time.Duration(g)*time.Second - v1alpha1.DefaultShutdownBudget
			if !slices.Contains(cmd, "--max-wait="+maxWait.String()) {
				t.Errorf("preStop %q lacks --max-wait=%s (grace - shutdown budget)", cmd, maxWait)
			}
			if ic := tt.pod.Spec.InitContainers[0]; ic.Name != InitContainer || ic.Image != cfg.Image || !slices.Equal(ic.Command, []string{"/zerodrop", "install", BinPath}) {
				t.Errorf("init container = %+v", ic)
			}
			if len(tt.pod.Spec.Volumes) != 2 || tt.pod.Spec.Volumes[1].Projected.Sources[0].ServiceAccountToken.Audience != "zerodrop.dev/drain" {
				t.Errorf("volumes = %+v", tt.pod.Spec.Volumes)
			}
		})
	}
}

func TestInjectDrainWait_ShutdownBudgetAnnotation(t *testing.T) {
	p := appPod(func(p *corev1.Pod) {
		p.ObjectMeta = metav1.ObjectMeta{Annotations: map[string]string{v1alpha1.AnnotationShutdownBudget: "25s"}}
	})
	w := InjectDrainWait(p, []drainTarget{web}, cfg)
	if got := *p.Spec.TerminationGracePeriodSeconds; got != 59 || len(w) != 1 || !strings.Contains(w[0], "from 30 to 59") {
		t.Errorf("grace = %d, warnings %q; want 59 (34s drain + 25s budget)", got, w)
	}
	if p.Annotations[v1alpha1.AnnotationOriginalGracePeriod] != "30" {
		t.Errorf("original grace not recorded: %v", p.Annotations)
	}
}
