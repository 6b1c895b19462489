package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/zerodrop/zerodrop/internal/localcluster/podapp"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// logPoll is how often the observer reads the real nodes' container logs.
// It does not limit the precision of what it records: every step of a
// podapp carries the app's own time.
const logPoll = 100 * time.Millisecond

// keepTailing is how long the logs of a removed pod are still read.
const keepTailing = 5 * time.Second

// podObserver keeps, for the pods of real nodes, the records and events a
// virtual node keeps for its own: from a watch of the pods (seen, Ready,
// deletion, removal: the observer's times, as close to kubelet's as a watch
// gets) and from the containers' logs (a podapp's preStop, SIGTERM and exit
// with their counts: the app's own times).
type podObserver struct {
	client  kubernetes.Interface
	isNode  func(string) (podLogs string, ok bool)
	publish func(vnode.Event)

	mu   sync.Mutex
	pods map[types.UID]*observedPod
	all  []*observedPod
}

type observedPod struct {
	rec     vnode.PodRecord
	podLogs string
	ready   bool
	files   map[string]int64 // container log file → bytes read
	partial map[string][]byte
}

func newPodObserver(client kubernetes.Interface, isNode func(string) (string, bool), publish func(vnode.Event)) *podObserver {
	return &podObserver{client: client, isNode: isNode, publish: publish, pods: map[types.UID]*observedPod{}}
}

// run watches pods and tails logs until ctx is done.
func (o *podObserver) run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(o.client, 0)
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.observe(obj, false) },
		UpdateFunc: func(_, obj any) { o.observe(obj, false) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			o.observe(obj, true)
		},
	}); err != nil {
		return fmt.Errorf("watching pods of real nodes: %w", err)
	}
	factory.Start(ctx.Done())
	tick := time.NewTicker(logPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			factory.Shutdown()
			return nil
		case <-tick.C:
			o.tailAll()
		}
	}
}

func (o *podObserver) observe(obj any, deleted bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	podLogs, ok := o.isNode(pod.Spec.NodeName)
	if !ok {
		return
	}
	now := time.Now()
	var events []vnode.Event
	o.mu.Lock()
	p := o.pods[pod.UID]
	if p == nil {
		p = &observedPod{
			rec:     vnode.PodRecord{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Node: pod.Spec.NodeName, CreatedAt: now},
			podLogs: podLogs, files: map[string]int64{}, partial: map[string][]byte{},
		}
		o.pods[pod.UID] = p
		o.all = append(o.all, p)
	}
	ev := func(t vnode.EventType, at time.Time, detail string) {
		events = append(events, vnode.Event{Type: t, Time: at, Node: p.rec.Node, Namespace: p.rec.Namespace, Name: p.rec.Name, UID: p.rec.UID, PodIP: p.rec.IP, Detail: detail})
	}
	if !p.rec.IP.IsValid() {
		if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
			p.rec.IP = ip
			ev(vnode.EventPodSeen, now, "")
		}
	}
	ready := podReady(pod)
	switch {
	case ready && !p.ready:
		if p.rec.ReadyAt.IsZero() {
			p.rec.ReadyAt = now
		}
		ev(vnode.EventPodReady, now, "")
	case !ready && p.ready:
		ev(vnode.EventPodNotReady, now, "")
	}
	p.ready = ready
	if pod.DeletionTimestamp != nil && p.rec.DeletionObservedAt.IsZero() {
		p.rec.DeletionObservedAt = now
		grace := int64(0)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		}
		p.rec.DeletionRequestedAt = pod.DeletionTimestamp.Add(-time.Duration(grace) * time.Second)
		ev(vnode.EventDeletionObserved, now, "")
	}
	if deleted && p.rec.RemovedAt.IsZero() {
		p.rec.RemovedAt = now
		ev(vnode.EventPodRemoved, now, "")
	}
	var restarts int32
	for _, cs := range pod.Status.ContainerStatuses {
		restarts += cs.RestartCount
	}
	p.rec.Restarts = restarts
	o.mu.Unlock()
	for _, e := range events {
		o.publish(e)
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// tailAll reads what the containers of every pod wrote since the last
// call.
func (o *podObserver) tailAll() {
	o.mu.Lock()
	var pods []*observedPod
	for _, p := range o.all {
		if p.rec.RemovedAt.IsZero() || time.Since(p.rec.RemovedAt) < keepTailing {
			pods = append(pods, p)
		}
	}
	o.mu.Unlock()
	for _, p := range pods {
		o.tail(p)
	}
}

// tail reads a pod's container logs: <podLogs>/<ns>_<name>_<uid>/<container>/<n>.log.
func (o *podObserver) tail(p *observedPod) {
	dir := containerLogDir(p.podLogs, p.rec.Namespace, p.rec.Name, p.rec.UID)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	for _, f := range files {
		container := filepath.Base(filepath.Dir(f))
		o.mu.Lock()
		off := p.files[f]
		o.mu.Unlock()
		data, err := readFrom(f, off)
		if err != nil || len(data) == 0 {
			continue
		}
		o.mu.Lock()
		p.files[f] = off + int64(len(data))
		data = append(p.partial[f], data...)
		cut := bytes.LastIndexByte(data, '\n')
		p.partial[f] = append([]byte(nil), data[cut+1:]...)
		o.mu.Unlock()
		if cut < 0 {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data[:cut+1]))
		sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
		for sc.Scan() {
			if rec, ok := parseCRILine(sc.Bytes()); ok {
				o.step(p, container, rec)
			}
		}
	}
}

func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// parseCRILine parses a line of a CRI container log ("<time> stdout F
// <message>") whose message is a podapp record.
func parseCRILine(line []byte) (podapp.Record, bool) {
	parts := bytes.SplitN(line, []byte(" "), 4)
	if len(parts) != 4 {
		return podapp.Record{}, false
	}
	return podapp.ParseRecord(parts[3])
}

// step records one podapp step.
func (o *podObserver) step(p *observedPod, container string, r podapp.Record) {
	o.mu.Lock()
	var t vnode.EventType
	detail := ""
	switch r.Step {
	case podapp.StepListening:
		t = vnode.EventContainerStarted
	case podapp.StepPreStopStarted:
		t = vnode.EventPreStopStarted
		if p.rec.PreStopStartedAt.IsZero() {
			p.rec.PreStopStartedAt = r.Time
		}
	case podapp.StepPreStopFinished:
		t = vnode.EventPreStopFinished
		if p.rec.PreStopFinishedAt.IsZero() {
			p.rec.PreStopFinishedAt = r.Time
		}
	case podapp.StepSIGTERM:
		t = vnode.EventSIGTERM
		if p.rec.SIGTERMAt.IsZero() {
			p.rec.SIGTERMAt = r.Time
		}
	case podapp.StepExit:
		t = vnode.EventContainerExited
		detail = fmt.Sprintf("exit code %d", r.Code)
		p.rec.Requests += r.Served
		p.rec.HealthRequests += r.Health
		p.rec.CutRequests += r.Cut
		if !p.rec.DeletionObservedAt.IsZero() {
			p.rec.ExitedAt = r.Time
		}
	default:
		o.mu.Unlock()
		return
	}
	e := vnode.Event{Type: t, Time: r.Time, Node: p.rec.Node, Namespace: p.rec.Namespace, Name: p.rec.Name, UID: p.rec.UID, PodIP: p.rec.IP, Container: container, Detail: detail}
	o.mu.Unlock()
	o.publish(e)
}

// records returns a copy of every pod record.
func (o *podObserver) records() []vnode.PodRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]vnode.PodRecord, 0, len(o.all))
	for _, p := range o.all {
		out = append(out, p.rec)
	}
	return out
}

// containerLogDir returns where kubelet keeps a pod's logs.
func containerLogDir(podLogs, namespace, name string, uid types.UID) string {
	return filepath.Join(podLogs, strings.Join([]string{namespace, name, string(uid)}, "_"))
}
