package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

const gate = v1alpha1.GateConditionPrefix + "web"

type podOpt func(*corev1.Pod)

func pod(opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func cond(t corev1.PodConditionType, s corev1.ConditionStatus) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: s})
	}
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func deleting(p *corev1.Pod) {
	now := metav1.Now()
	g := int64(30)
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &g
}

func kinds(evs []report.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func TestPodChanged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new *corev1.Pod
		want     []string
	}{
		{"no change", pod(), pod(), nil},
		{"bound to a node", pod(), pod(onNode("n1")), []string{report.KindPodScheduled}},
		{"PodScheduled condition", pod(), pod(cond(corev1.PodScheduled, corev1.ConditionTrue)), []string{report.KindPodScheduled}},
		{"gate turns True", pod(cond(gate, corev1.ConditionFalse)), pod(cond(gate, corev1.ConditionTrue)), []string{report.KindPodGateTrue}},
		{"gate of another controller ignored", pod(), pod(cond("target-health.alb.ingress.k8s.aws/x", corev1.ConditionTrue)), nil},
		{"gate turns False", pod(cond(gate, corev1.ConditionTrue)), pod(cond(gate, corev1.ConditionFalse)), []string{report.KindPodGateFalse}},
		{"gate then Ready in one update", pod(), pod(cond(gate, corev1.ConditionTrue), cond(corev1.PodReady, corev1.ConditionTrue)), []string{report.KindPodGateTrue, report.KindPodReady}},
		{"Ready lost", pod(cond(corev1.PodReady, corev1.ConditionTrue)), pod(cond(corev1.PodReady, corev1.ConditionFalse)), []string{report.KindPodNotReady}},
		{"terminating", pod(cond(corev1.PodReady, corev1.ConditionTrue)), pod(cond(corev1.PodReady, corev1.ConditionTrue), deleting), []string{report.KindPodTerminating}},
		{"still terminating", pod(deleting), pod(deleting), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kinds(PodChanged(tc.old, tc.new))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPodAdded(t *testing.T) {
	got := kinds(PodAdded(pod(onNode("n1"), cond(gate, corev1.ConditionTrue), cond(corev1.PodReady, corev1.ConditionTrue)), true))
	want := []string{report.KindPodObserved, report.KindPodScheduled, report.KindPodGateTrue, report.KindPodReady}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if k := PodAdded(pod(), false)[0].Kind; k != report.KindPodCreated {
		t.Errorf("a pod added after the initial list is %s, want %s", k, report.KindPodCreated)
	}
}

func TestBindingChanged(t *testing.T) {
	b := func(healthy int32, ready metav1.ConditionStatus) *v1alpha1.TargetBinding {
		tb := &v1alpha1.TargetBinding{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
		tb.Status.Targets = v1alpha1.TargetCounts{Desired: 3, Healthy: healthy}
		if ready != "" {
			tb.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: ready, Reason: "R"}}
		}
		return tb
	}
	for _, tc := range []struct {
		name     string
		old, new *v1alpha1.TargetBinding
		want     []string
	}{
		{"nothing changed", b(3, metav1.ConditionTrue), b(3, metav1.ConditionTrue), nil},
		{"counts changed", b(3, metav1.ConditionTrue), b(2, metav1.ConditionTrue), []string{report.KindBindingTargets}},
		{"Ready lost", b(3, metav1.ConditionTrue), b(3, metav1.ConditionFalse), []string{report.KindBindingNotReady}},
		{"Ready gained with counts", b(2, metav1.ConditionFalse), b(3, metav1.ConditionTrue), []string{report.KindBindingTargets, report.KindBindingReady}},
		{"first Ready condition", b(3, ""), b(3, metav1.ConditionTrue), []string{report.KindBindingReady}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kinds(BindingChanged(tc.old, tc.new))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
