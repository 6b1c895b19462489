package lint

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

func execHook(cmd ...string) *corev1.Container {
	return &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}}}
}

func TestPreStopSeconds(t *testing.T) {
	tests := []struct {
		name    string
		c       *corev1.Container
		present bool
		seconds int32
		exact   bool
	}{
		{"no lifecycle", &corev1.Container{}, false, 0, false},
		{"native sleep action", &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 25}}}}, true, 25, true},
		{"exec sleep N", execHook("sleep", "40"), true, 40, true},
		{"exec /bin/sleep with s suffix", execHook("/bin/sleep", "5s"), true, 5, true},
		{"sh -c sleep", execHook("sh", "-c", "sleep 15"), true, 15, true},
		{"seed 001 /bin/sh -c sleep 180", execHook("/bin/sh", "-c", "sleep 180"), true, 180, true},
		{"bash -c with quotes", execHook("bash", "-c", "'sleep' '20'"), true, 20, true},
		{"minutes suffix", execHook("sh", "-c", "sleep 1m"), true, 60, true},
		{"GNU multiple arguments", execHook("sleep", "1m", "30s"), true, 90, true},
		{"fraction rounds up", execHook("sleep", "0.5"), true, 1, true},
		{"sleep then graceful command is a lower bound", execHook("/bin/sh", "-c", "sleep 10 && nginx -s quit"), true, 10, false},
		{"two sleeps summed", execHook("sh", "-c", "sleep 5; curl -X POST localhost/drain; sleep 5"), true, 10, false},
		{"no sleep at all", execHook("/app/drain"), true, 0, false},
		{"bad sleep argument", execHook("sleep", "forever"), true, 0, false},
		{"httpGet hook", &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain"}}}}, true, 0, false},
		{"busybox sleep", execHook("busybox", "sleep", "7"), true, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PreStopSeconds(tt.c)
			if got.Present != tt.present || got.Seconds != tt.seconds || got.Exact != tt.exact {
				t.Errorf("PreStopSeconds = %+v, want present=%v seconds=%d exact=%v", got, tt.present, tt.seconds, tt.exact)
			}
		})
	}
}

func TestGraceNeeded(t *testing.T) {
	tests := []struct {
		name                   string
		preStop, shutdown, buf int32
		grace                  int64
		wantOK                 bool
	}{
		{"seed 003 correct: 15 + 30 + 15 = 60", 15, 30, 15, 60, true},
		{"seed 003 mistake 1 with defaults", 40, DefaultShutdownSeconds, DefaultBufferSeconds, 45, false},
		{"seed 003 mistake 2 with defaults", 15, DefaultShutdownSeconds, DefaultBufferSeconds, 30, false},
		{"seed 001 sleep 180 grace 200 with defaults", 180, DefaultShutdownSeconds, DefaultBufferSeconds, 200, true},
		{"seed 001 with a 30 s shutdown", 180, 30, 10, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok := tt.grace >= GraceNeeded(tt.preStop, tt.shutdown, tt.buf); ok != tt.wantOK {
				t.Errorf("grace %d >= GraceNeeded(%d,%d,%d)=%d is %v, want %v", tt.grace, tt.preStop, tt.shutdown, tt.buf,
					GraceNeeded(tt.preStop, tt.shutdown, tt.buf), ok, tt.wantOK)
			}
		})
	}
}

func ios(s string) *intstr.IntOrString { v := intstr.Parse(s); return &v }

func TestResolveRollingUpdate(t *testing.T) {
	tests := []struct {
		name           string
		replicas       int32
		surge, unavail *intstr.IntOrString
		want           RollingUpdate
	}{
		{"defaults 25% of 4", 4, nil, nil, RollingUpdate{Surge: 1, Unavailable: 1}},
		{"defaults 25% of 3: surge up, unavailable down", 3, nil, nil, RollingUpdate{Surge: 1, Unavailable: 0}},
		{"defaults of 1 replica", 1, nil, nil, RollingUpdate{Surge: 1, Unavailable: 0}},
		{"both written 0 is rejected", 3, ios("0"), ios("0"), RollingUpdate{Rejected: true}},
		{"0 and 0% is rejected", 3, ios("0"), ios("0%"), RollingUpdate{Rejected: true}},
		{"percentages rounding to 0 bump unavailable to 1", 3, ios("0%"), ios("10%"), RollingUpdate{Unavailable: 1, FencepostBumped: true}},
		{"maxUnavailable 1 of 1", 1, ios("0"), ios("1"), RollingUpdate{Unavailable: 1}},
		{"50% of 5", 5, ios("50%"), ios("50%"), RollingUpdate{Surge: 3, Unavailable: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveRollingUpdate(tt.replicas, tt.surge, tt.unavail)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := ResolveRollingUpdate(3, ios("abc%"), nil); err == nil {
		t.Error("invalid percentage: want an error")
	}
}

func TestLBDeregistrationSeconds(t *testing.T) {
	tests := []struct {
		attrs string
		want  int32
	}{
		{"", 300},
		{"deregistration_delay.timeout_seconds=30", 30},
		{"stickiness.enabled=true, deregistration_delay.timeout_seconds=25 ,stickiness.type=source_ip", 25},
		{"deregistration_delay.timeout_seconds=abc", 300},
		{"deregistration_delay.timeout_seconds=0", 0},
	}
	for _, tt := range tests {
		if got := LBDeregistrationSeconds(tt.attrs); got != tt.want {
			t.Errorf("LBDeregistrationSeconds(%q) = %d, want %d", tt.attrs, got, tt.want)
		}
	}
}

func TestTargetBindingDeregistrationSeconds(t *testing.T) {
	off := false
	tests := []struct {
		name string
		spec zdv1alpha1.TargetBindingSpec
		want int32
	}{
		{"defaults: drain timeout 30", zdv1alpha1.TargetBindingSpec{}, 30},
		{"drain wait off: interval × unhealthy", zdv1alpha1.TargetBindingSpec{Drain: zdv1alpha1.Drain{Wait: &off}}, 4},
		{"slow checks beat a short drain", zdv1alpha1.TargetBindingSpec{HealthCheck: zdv1alpha1.HealthCheck{Interval: &metav1.Duration{Duration: 10 * time.Second}, UnhealthyThreshold: 5},
			Drain: zdv1alpha1.Drain{Timeout: &metav1.Duration{Duration: 20 * time.Second}}}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetBindingDeregistrationSeconds(&zdv1alpha1.TargetBinding{Spec: tt.spec}); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPDBAllowsNoEviction(t *testing.T) {
	tests := []struct {
		name     string
		min, max *intstr.IntOrString
		replicas int32
		want     bool
	}{
		{"maxUnavailable 0", nil, ios("0"), 3, true},
		{"maxUnavailable 0%", nil, ios("0%"), 3, true},
		{"maxUnavailable 1", nil, ios("1"), 3, false},
		{"minAvailable 100%", ios("100%"), nil, 3, true},
		{"minAvailable = replicas", ios("3"), nil, 3, true},
		{"minAvailable 1 of 1 (seed 001 with one replica)", ios("1"), nil, 1, true},
		{"minAvailable 1 of 3", ios("1"), nil, 3, false},
		{"minAvailable 50% of 3 rounds up to 2", ios("50%"), nil, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PDBAllowsNoEviction(tt.min, tt.max, tt.replicas); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
