package controller

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPendingGates(t *testing.T) {
	const gate = "target-health.zerodrop.dev/web"
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pod := func(uid string, age time.Duration, gated bool, status corev1.ConditionStatus, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: types.UID(uid), CreationTimestamp: metav1.NewTime(now.Add(-age))}}
		if gated {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
		}
		if status != "" {
			p.Status.Conditions = []corev1.PodCondition{{Type: gate, Status: status}}
		}
		if deleting {
			ts := metav1.NewTime(now)
			p.DeletionTimestamp = &ts
		}
		return p
	}
	tests := []struct {
		name       string
		pods       []*corev1.Pod
		opened     map[types.UID]bool
		wantN      int
		wantOldest time.Duration
	}{
		{name: "no pod, nothing pending"},
		{name: "gates without condition or False are pending, the oldest counts",
			pods:  []*corev1.Pod{pod("a", 10*time.Second, true, "", false), pod("b", 40*time.Second, true, corev1.ConditionFalse, false)},
			wantN: 2, wantOldest: 40 * time.Second},
		{name: "a True gate is not pending",
			pods:  []*corev1.Pod{pod("a", 10*time.Second, true, corev1.ConditionTrue, false), pod("b", 5*time.Second, true, "", false)},
			wantN: 1, wantOldest: 5 * time.Second},
		{name: "a pod without the gate is missing it, not pending",
			pods: []*corev1.Pod{pod("a", time.Minute, false, "", false)}},
		{name: "a terminating pod is not pending",
			pods: []*corev1.Pod{pod("a", time.Minute, true, "", true)}},
		{name: "a gate set True in this pass is not pending",
			pods:   []*corev1.Pod{pod("a", time.Minute, true, "", false), pod("b", 2*time.Second, true, "", false)},
			opened: map[types.UID]bool{"a": true}, wantN: 1, wantOldest: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, oldest := PendingGates(tt.pods, gate, tt.opened, now)
			if n != tt.wantN || oldest != tt.wantOldest {
				t.Errorf("PendingGates = %d, %v; want %d, %v", n, oldest, tt.wantN, tt.wantOldest)
			}
		})
	}
}
