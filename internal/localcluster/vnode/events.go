package vnode

import (
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// EventType names a pod lifecycle event of a virtual node.
type EventType string

// Pod lifecycle events, in the order they normally happen.
const (
	// EventPodSeen: the node saw the pod bound to it and gave it an address.
	EventPodSeen EventType = "PodSeen"
	// EventContainerStarted: a container's app was started (it listens
	// after its startup delay).
	EventContainerStarted EventType = "ContainerStarted"
	// EventPodReady: the node published Ready=True.
	EventPodReady EventType = "PodReady"
	// EventPodNotReady: the node published Ready=False after Ready=True.
	EventPodNotReady EventType = "PodNotReady"
	// EventContainerRestarted: a liveness or startup probe failure restarted
	// a container.
	EventContainerRestarted EventType = "ContainerRestarted"
	// EventDeletionObserved: the node saw the pod's deletionTimestamp.
	EventDeletionObserved EventType = "DeletionObserved"
	// EventPreStopStarted: a container's preStop hook started.
	EventPreStopStarted EventType = "PreStopStarted"
	// EventPreStopFinished: a container's preStop hook ended (Detail says
	// how, e.g. an error or the grace deadline).
	EventPreStopFinished EventType = "PreStopFinished"
	// EventFailedPreStopHook: an exec preStop hook exited non-zero (or was
	// cut at the grace deadline); the node also created a core/v1 Event
	// with reason FailedPreStopHook, as kubelet does. Detail is its message.
	EventFailedPreStopHook EventType = "FailedPreStopHook"
	// EventSIGTERM: a container's app got "SIGTERM".
	EventSIGTERM EventType = "SIGTERM"
	// EventSIGKILL: the grace deadline passed and a container's app was
	// killed, cutting in-flight requests.
	EventSIGKILL EventType = "SIGKILL"
	// EventContainerExited: a container's app exited (Detail has the exit
	// code).
	EventContainerExited EventType = "ContainerExited"
	// EventPodRemoved: the pod object is gone from the API server and its
	// address was freed.
	EventPodRemoved EventType = "PodRemoved"
)

// Event is one pod lifecycle event.
type Event struct {
	Type      EventType
	Time      time.Time
	Node      string
	Namespace string
	Name      string
	UID       types.UID
	PodIP     netip.Addr
	// Container is set for container events.
	Container string
	// Detail is a short human-readable note (exit code, error).
	Detail string
}

// PodRecord is what a virtual node recorded about one pod. Times are zero
// when the step has not happened.
type PodRecord struct {
	Namespace, Name string
	UID             types.UID
	Node            string
	IP              netip.Addr
	// CreatedAt is when the node saw the pod.
	CreatedAt time.Time
	// ReadyAt is when the node first published Ready=True.
	ReadyAt time.Time
	// DeletionRequestedAt is when the deletion was requested according to
	// the object (deletionTimestamp minus deletionGracePeriodSeconds; one
	// second resolution).
	DeletionRequestedAt time.Time
	// DeletionObservedAt is when the node saw the deletionTimestamp.
	DeletionObservedAt time.Time
	PreStopStartedAt   time.Time
	PreStopFinishedAt  time.Time
	// SIGTERMAt is when the first container got SIGTERM.
	SIGTERMAt time.Time
	// SIGKILLAt is when a container was killed at the grace deadline.
	SIGKILLAt time.Time
	// ExitedAt is when the last container exited after deletion.
	ExitedAt time.Time
	// RemovedAt is when the node saw the object gone.
	RemovedAt time.Time
	// Requests counts requests the pod's apps answered (health path
	// excluded); HealthRequests those to the health path; CutRequests those
	// (health path excluded) in flight when an app closed abruptly; InFlight those in progress now.
	Requests, HealthRequests, CutRequests, InFlight int64
	// Restarts is the sum of the containers' restart counts.
	Restarts int32
}

// DeletionToSIGTERM returns the time from the node seeing the deletion to
// the first SIGTERM (0 if either is unknown).
func (r PodRecord) DeletionToSIGTERM() time.Duration {
	return between(r.DeletionObservedAt, r.SIGTERMAt)
}

// DeletionToExit returns the time from the node seeing the deletion to the
// exit of the last container (0 if either is unknown).
func (r PodRecord) DeletionToExit() time.Duration { return between(r.DeletionObservedAt, r.ExitedAt) }

func between(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return b.Sub(a)
}
