package vnode

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons kubelet puts on the conditions it owns (pkg/kubelet/status).
const (
	ReasonContainersNotReady       = "ContainersNotReady"
	ReasonContainersNotInitialized = "ContainersNotInitialized"
	ReasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
	ReasonPodCompleted             = "PodCompleted"
	ReasonPodFailed                = "PodFailed"
)

// ownedConditions are the pod condition types a virtual node sets, as
// kubelet does. Every other condition (PodScheduled from the scheduler,
// readiness-gate conditions from other controllers, DisruptionTarget) is
// left alone.
var ownedConditions = []corev1.PodConditionType{
	corev1.PodReadyToStartContainers,
	corev1.PodInitialized,
	corev1.ContainersReady,
	corev1.PodReady,
}

// containerState is the virtual runtime's view of one container.
type containerState struct {
	Name          string
	Image         string
	ID            string
	Running       bool
	Terminated    bool
	WaitingReason string
	StartedAt     time.Time
	FinishedAt    time.Time
	ExitCode      int32
	Reason        string
	Started       bool // the startup probe passed, or there is none
	Ready         bool // the readiness probe passed, or there is none
	RestartCount  int32
	Last          *corev1.ContainerStateTerminated
}

// podState is the virtual runtime's view of one pod, from which its status
// is computed.
type podState struct {
	Phase          corev1.PodPhase
	SandboxReady   bool
	PodIP, HostIP  string
	StartTime      time.Time
	InitContainers []containerState
	Containers     []containerState
}

// conditionMemory keeps the status and transition time of each owned
// condition, so that lastTransitionTime changes only on a transition.
type conditionMemory map[corev1.PodConditionType]corev1.PodCondition

// desiredConditions computes the owned conditions of pod from st following
// kubelet's rules: Initialized when every init container completed,
// ContainersReady when every container is ready, Ready when ContainersReady
// and every readiness gate's condition (read from the pod's current status)
// is True; terminal phases make both False with PodCompleted/PodFailed.
func desiredConditions(pod *corev1.Pod, st podState, mem conditionMemory, now time.Time) []corev1.PodCondition {
	var out []corev1.PodCondition
	add := func(c corev1.PodCondition) {
		c.ObservedGeneration = pod.Generation
		if prev, ok := mem[c.Type]; ok && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		} else {
			c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
		}
		mem[c.Type] = c
		out = append(out, c)
	}

	sandbox := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}
	if st.SandboxReady {
		sandbox.Status = corev1.ConditionTrue
	}
	add(sandbox)

	var incomplete []string
	for _, c := range st.InitContainers {
		if !(c.Terminated && c.ExitCode == 0) {
			incomplete = append(incomplete, c.Name)
		}
	}
	initialized := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	if len(incomplete) > 0 && st.Phase != corev1.PodSucceeded {
		initialized.Status = corev1.ConditionFalse
		initialized.Reason = ReasonContainersNotInitialized
		initialized.Message = fmt.Sprintf("containers with incomplete status: %s", bracket(incomplete))
	}
	if st.Phase == corev1.PodSucceeded {
		initialized.Reason = ReasonPodCompleted
	}
	add(initialized)

	containersReady := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	switch st.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		reason := ReasonPodCompleted
		if st.Phase == corev1.PodFailed {
			reason = ReasonPodFailed
		}
		containersReady.Status, containersReady.Reason = corev1.ConditionFalse, reason
		ready.Status, ready.Reason = corev1.ConditionFalse, reason
	default:
		var unready []string
		for _, c := range st.Containers {
			if !c.Ready {
				unready = append(unready, c.Name)
			}
		}
		if len(unready) > 0 {
			containersReady.Status = corev1.ConditionFalse
			containersReady.Reason = ReasonContainersNotReady
			containersReady.Message = fmt.Sprintf("containers with unready status: %s", bracket(unready))
			ready.Status, ready.Reason, ready.Message = containersReady.Status, containersReady.Reason, containersReady.Message
		} else if msgs := unreadyGates(pod); len(msgs) > 0 {
			ready.Status = corev1.ConditionFalse
			ready.Reason = ReasonReadinessGatesNotReady
			ready.Message = strings.Join(msgs, ", ")
		}
	}
	add(containersReady)
	add(ready)
	return out
}

// unreadyGates returns kubelet's message for every readiness gate of pod
// whose condition is missing or not True.
func unreadyGates(pod *corev1.Pod) []string {
	var msgs []string
	for _, rg := range pod.Spec.ReadinessGates {
		var found *corev1.PodCondition
		for i := range pod.Status.Conditions {
			if pod.Status.Conditions[i].Type == rg.ConditionType {
				found = &pod.Status.Conditions[i]
			}
		}
		switch {
		case found == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(rg.ConditionType)))
		case found.Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(rg.ConditionType), found.Status))
		}
	}
	return msgs
}

// bracket formats names as kubelet does with %s on a []string.
func bracket(names []string) string { return "[" + strings.Join(names, " ") + "]" }

// containerStatus converts the runtime view of a container to the API form.
func containerStatus(c containerState) corev1.ContainerStatus {
	started := c.Started && c.Running
	cs := corev1.ContainerStatus{
		Name:         c.Name,
		Image:        c.Image,
		ImageID:      c.Image,
		ContainerID:  c.ID,
		Ready:        c.Ready && c.Running,
		RestartCount: c.RestartCount,
		Started:      &started,
		LastTerminationState: corev1.ContainerState{
			Terminated: c.Last,
		},
	}
	switch {
	case c.Running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt)}
	case c.Terminated:
		cs.State.Terminated = &corev1.ContainerStateTerminated{
			ExitCode:    c.ExitCode,
			Reason:      c.Reason,
			StartedAt:   metav1.NewTime(c.StartedAt),
			FinishedAt:  metav1.NewTime(c.FinishedAt),
			ContainerID: c.ID,
		}
	default:
		reason := c.WaitingReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
	}
	return cs
}

// desiredStatus computes the part of the pod status a virtual node owns. The
// conditions list holds only owned conditions: sent as a strategic merge
// patch (merge key "type") it leaves every other condition untouched.
func desiredStatus(pod *corev1.Pod, st podState, mem conditionMemory, now time.Time) corev1.PodStatus {
	status := corev1.PodStatus{
		ObservedGeneration: pod.Generation,
		Phase:              st.Phase,
		Conditions:         desiredConditions(pod, st, mem, now),
		HostIP:             st.HostIP,
		PodIP:              st.PodIP,
	}
	if st.HostIP != "" {
		status.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if st.PodIP != "" {
		status.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if !st.StartTime.IsZero() {
		t := metav1.NewTime(st.StartTime)
		status.StartTime = &t
	}
	for _, c := range st.InitContainers {
		status.InitContainerStatuses = append(status.InitContainerStatuses, containerStatus(c))
	}
	for _, c := range st.Containers {
		status.ContainerStatuses = append(status.ContainerStatuses, containerStatus(c))
	}
	return status
}
