package vnode

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kubelet's event reasons the virtual node emits (pkg/kubelet/events).
const (
	// ReasonFailedPreStopHook: a preStop hook failed.
	ReasonFailedPreStopHook = "FailedPreStopHook"
)

// kubeEventTimeout bounds the creation of one core/v1 Event.
const kubeEventTimeout = 10 * time.Second

// failedPreStopHook reports a failed exec preStop as kubelet does: a
// Warning Event on the pod, reason FailedPreStopHook, whose message carries
// the command and its output; and the same message in the node's event
// stream.
func (w *podWorker) failedPreStopHook(container string, command []string, err *execError) {
	w.mu.Lock()
	pod := w.pod
	w.mu.Unlock()
	msg := fmt.Sprintf("PreStopHook failed: Exec lifecycle hook (%v) for Container %q in Pod \"%s_%s(%s)\" failed - error: %v, message: %q",
		command, container, pod.Name, pod.Namespace, pod.UID, err.err, err.output)
	w.emit(EventFailedPreStopHook, container, msg)
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: fmt.Sprintf("spec.containers{%s}", container),
		},
		Reason: ReasonFailedPreStopHook, Message: msg, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: w.a.opts.Name},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "kubelet", ReportingInstance: w.a.opts.Name,
	}
	// Sent in the background like kubelet's recorder, so SIGTERM is not
	// held up; the pod's context may already be ending (the object is being
	// removed) and the event outlives it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), kubeEventTimeout)
	go func() {
		defer cancel()
		if _, cerr := w.a.opts.Client.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); cerr != nil {
			w.log.Error(cerr, "eventCreateFailed", "reason", ReasonFailedPreStopHook)
		}
	}()
}
