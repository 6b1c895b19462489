package vnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// minimumGracePeriod is kubelet's floor for the time between SIGTERM and
// SIGKILL after a preStop hook used up the grace period
// (minimumGracePeriodInSeconds in pkg/kubelet/kuberuntime).
const minimumGracePeriod = 2 * time.Second

// defaultGracePeriod applies when a pod has no terminationGracePeriodSeconds.
const defaultGracePeriod = 30 * time.Second

// statusResync is how often the status is compared with the API's copy of
// it (the pod watch's), and patched if they differ, so a status overwritten
// by someone else converges back, as kubelet's status manager does.
const statusResync = 10 * time.Second

// initContainerTimeout bounds an init container run on the host.
const initContainerTimeout = 5 * time.Minute

// ctr is one container of a pod in the virtual runtime.
type ctr struct {
	spec    corev1.Container
	st      containerState
	app     *app
	gen     int                // bumped on every (re)start: stale probe workers stop
	cancel  context.CancelFunc // stops this generation's probe workers
	killing bool
	runner  hostRunner
}

// podWorker runs one pod on the virtual node.
type podWorker struct {
	a   *Agent
	uid types.UID
	ip  netip.Addr
	dir string
	log logr.Logger

	ctx    context.Context // cancelled when the object is gone or the agent stops
	cancel context.CancelFunc
	done   chan struct{}

	kick    chan struct{} // status may need a patch
	updated chan struct{} // the pod object changed

	mu           sync.Mutex
	pod          *corev1.Pod
	phase        corev1.PodPhase
	sandboxReady bool
	startTime    time.Time
	inits        []containerState
	containers   []*ctr
	terminating  bool
	termStart    time.Time
	grace        time.Duration // grace period of the termination in progress
	deadline     *deadline
	condMem      conditionMemory
	rec          PodRecord
	counts       *counters
	lastReady    corev1.ConditionStatus
	volumes      map[string]string
	env          map[string]string // agent-provided env for host commands

	pubMu     sync.Mutex
	lastPatch []byte
	// retry is the wait before the next attempt after a failed patch:
	// doubled on each failure up to statusResync, reset on success (a
	// fixed short retry of every pod at once was, with the API server
	// answering 429, a storm that kept it overloaded).
	retry time.Duration
}

func newPodWorker(parent context.Context, a *Agent, pod *corev1.Pod, ip netip.Addr) *podWorker {
	ctx, cancel := context.WithCancel(parent)
	w := &podWorker{
		a: a, uid: pod.UID, ip: ip,
		dir:     filepath.Join(a.opts.Dir, "pods", string(pod.UID)),
		log:     a.log.WithValues("pod", pod.Namespace+"/"+pod.Name, "podIP", ip.String()),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		updated: make(chan struct{}, 1),
		pod:     pod,
		phase:   corev1.PodPending,
		condMem: conditionMemory{},
		counts:  &counters{},
		rec: PodRecord{
			Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Node: a.opts.Name, IP: ip,
			CreatedAt: time.Now(),
		},
	}
	return w
}

// update hands the worker the latest pod object.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	signal(w.updated)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// record returns a snapshot of the pod's record.
func (w *podWorker) record() PodRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.rec
	r.Requests = w.counts.served.Load()
	r.HealthRequests = w.counts.health.Load()
	r.CutRequests = w.counts.cut.Load()
	r.InFlight = w.counts.inFlight.Load()
	for _, c := range w.containers {
		r.Restarts += c.st.RestartCount
	}
	return r
}

func (w *podWorker) emit(t EventType, container, detail string) {
	w.mu.Lock()
	pod := w.pod
	w.mu.Unlock()
	w.a.emit(Event{
		Type: t, Time: time.Now(), Node: w.a.opts.Name, Namespace: pod.Namespace, Name: pod.Name,
		UID: w.uid, PodIP: w.ip, Container: container, Detail: detail,
	})
}

// run is the worker's life: set up, init containers, containers, then
// status sync until the pod object is gone.
func (w *podWorker) run() {
	defer close(w.done)
	defer w.cleanup()
	w.emit(EventPodSeen, "", "")
	if err := w.setup(); err != nil {
		w.log.Error(err, "podSetupFailed")
	}
	go w.start()

	resync := time.NewTicker(statusResync)
	defer resync.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.updated:
			w.mu.Lock()
			deleting := w.pod.DeletionTimestamp != nil
			w.mu.Unlock()
			if deleting {
				w.beginTermination()
			}
			w.publish(false)
		case <-w.kick:
			w.publish(false)
		case <-resync.C:
			w.publish(!w.apiStatusCurrent())
		}
	}
}

// setup creates the pod directory, its volumes and the service-account
// files, and marks the sandbox ready.
func (w *podWorker) setup() error {
	w.mu.Lock()
	pod := w.pod
	w.mu.Unlock()
	volumes := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(w.dir, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating volume %s: %w", v.Name, err)
		}
		volumes[v.Name] = dir
	}
	env := map[string]string{EnvPodDir: w.dir}
	if _, kubeconfig, err := w.a.serviceAccountFiles(w.ctx, pod, filepath.Join(w.dir, "serviceaccount")); err != nil {
		w.log.Error(err, "serviceAccountTokenFailed")
	} else if kubeconfig != "" {
		env["KUBECONFIG"] = kubeconfig
		host, port, _ := net.SplitHostPort(w.a.apiHostPort())
		env["KUBERNETES_SERVICE_HOST"] = host
		env["KUBERNETES_SERVICE_PORT"] = port
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		if err := w.a.projectVolume(w.ctx, pod, v.Projected, volumes[v.Name]); err != nil {
			w.log.Error(err, "projectedVolumeFailed", "volume", v.Name)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.volumes = volumes
	w.env = env
	w.sandboxReady = true
	w.startTime = time.Now()
	for _, c := range pod.Spec.InitContainers {
		w.inits = append(w.inits, containerState{Name: c.Name, Image: c.Image, WaitingReason: "PodInitializing"})
	}
	for _, c := range pod.Spec.Containers {
		cc := &ctr{spec: c, st: containerState{Name: c.Name, Image: c.Image}}
		if len(pod.Spec.InitContainers) > 0 {
			cc.st.WaitingReason = "PodInitializing"
		}
		cc.runner = w.runnerFor(pod, &cc.spec)
		w.containers = append(w.containers, cc)
	}
	signal(w.kick)
	return nil
}

// runnerFor builds the host runner of one container. Caller holds w.mu.
func (w *podWorker) runnerFor(pod *corev1.Pod, c *corev1.Container) hostRunner {
	env, skipped := resolveEnv(c, podFields{
		name: pod.Name, namespace: pod.Namespace, uid: string(pod.UID), podIP: w.ip.String(),
		hostIP: w.a.nodeIP.String(), nodeName: pod.Spec.NodeName, serviceAccount: pod.Spec.ServiceAccountName,
		labels: pod.Labels, annotations: pod.Annotations,
	})
	if len(skipped) > 0 {
		w.log.Info("envNotResolved", "container", c.Name, "variables", skipped)
	}
	return hostRunner{
		podIP:  w.ip.String(),
		c:      c,
		mapper: newPathMapper(c, w.volumes, w.a.opts.ImageRoots[c.Image]),
		env:    hostEnv(env, w.env),
		argEnv: env,
	}
}

// start runs the init containers, then starts every container.
func (w *podWorker) start() {
	w.mu.Lock()
	pod := w.pod
	w.mu.Unlock()
	spec, specErr := ParseAppSpec(pod.Annotations)
	for i := range pod.Spec.InitContainers {
		if !w.runInit(pod, i) {
			return
		}
	}
	w.mu.Lock()
	if w.terminating {
		w.mu.Unlock()
		return
	}
	if specErr != nil {
		for _, c := range w.containers {
			c.st.WaitingReason = "CreateContainerConfigError"
		}
		w.mu.Unlock()
		w.log.Error(specErr, "invalidAppAnnotations")
		signal(w.kick)
		return
	}
	w.phase = corev1.PodRunning
	for _, c := range w.containers {
		w.startContainerLocked(c, spec)
	}
	w.mu.Unlock()
	for _, c := range w.containers {
		w.emit(EventContainerStarted, c.spec.Name, "")
	}
	signal(w.kick)
}

// runInit runs init container i and reports whether the pod may go on.
// An init container runs on the host only when its image has an image root;
// otherwise it completes at once.
func (w *podWorker) runInit(pod *corev1.Pod, i int) bool {
	c := &pod.Spec.InitContainers[i]
	w.mu.Lock()
	runner := w.runnerFor(pod, c)
	_, hasRoot := w.a.opts.ImageRoots[c.Image]
	w.inits[i].Running, w.inits[i].StartedAt, w.inits[i].WaitingReason = true, time.Now(), ""
	w.mu.Unlock()
	signal(w.kick)
	for attempt := 0; ; attempt++ {
		var err error
		if hasRoot && (len(c.Command) > 0 || len(c.Args) > 0) {
			argv := commandLine(c.Command, c.Args, runner.argEnv)
			ctx, cancel := context.WithTimeout(w.ctx, initContainerTimeout)
			err = runner.exec(ctx, argv)
			cancel()
		}
		w.mu.Lock()
		terminating := w.terminating
		st := &w.inits[i]
		st.Running, st.Terminated, st.FinishedAt = false, true, time.Now()
		if err == nil {
			st.ExitCode, st.Reason = 0, "Completed"
		} else {
			st.ExitCode, st.Reason = exitCodeError, "Error"
			st.RestartCount++
		}
		w.mu.Unlock()
		signal(w.kick)
		if err == nil {
			return true
		}
		w.log.Error(err, "initContainerFailed", "container", c.Name, "attempt", attempt)
		if terminating || pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return false
		}
		select {
		case <-w.ctx.Done():
			return false
		case <-time.After(time.Duration(min(attempt+1, 10)) * time.Second):
		}
		w.mu.Lock()
		if w.terminating {
			w.mu.Unlock()
			return false
		}
		w.inits[i].Running, w.inits[i].Terminated, w.inits[i].StartedAt = true, false, time.Now()
		w.mu.Unlock()
	}
}

// startContainerLocked starts a container's app and its probe workers.
// Caller holds w.mu.
func (w *podWorker) startContainerLocked(c *ctr, spec AppSpec) {
	var addrs []string
	for _, p := range c.spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		addrs = append(addrs, net.JoinHostPort(w.ip.String(), strconv.Itoa(int(p.ContainerPort))))
	}
	c.gen++
	c.app = startApp(w.pod.Name, c.spec.Name, spec, addrs, w.counts)
	c.st.Running, c.st.Terminated, c.st.WaitingReason = true, false, ""
	c.st.StartedAt = time.Now()
	c.st.ID = fmt.Sprintf("vnode://%s-%s-%d", w.uid, c.spec.Name, c.gen)
	c.st.Started = c.spec.StartupProbe == nil
	c.st.Ready = c.spec.ReadinessProbe == nil
	ctx, cancel := context.WithCancel(w.ctx)
	c.cancel = cancel
	gen, a := c.gen, c.app
	go w.watchExit(c, gen, a)
	if c.spec.Lifecycle != nil && c.spec.Lifecycle.PostStart != nil {
		go func() {
			if err := c.runner.run(ctx, hookHandler(c.spec.Lifecycle.PostStart), defaultGracePeriod); err != nil {
				w.log.Error(err, "postStartHookFailed", "container", c.spec.Name)
			}
		}()
	}
	for kind, p := range map[probeKind]*corev1.Probe{
		probeStartup: c.spec.StartupProbe, probeReadiness: c.spec.ReadinessProbe, probeLiveness: c.spec.LivenessProbe,
	} {
		if p != nil {
			go w.probeLoop(ctx, c, gen, kind, p)
		}
	}
}

// watchExit notices an app that exits on its own (a failed listen) and
// restarts it as kubelet would (restartPolicy Always).
func (w *podWorker) watchExit(c *ctr, gen int, a *app) {
	select {
	case <-a.done:
	case <-w.ctx.Done():
		return
	}
	w.mu.Lock()
	if c.gen != gen || c.killing || w.terminating {
		w.mu.Unlock()
		return
	}
	msg, _ := a.exitErr.Load().(string)
	w.mu.Unlock()
	w.log.Info("containerExitedUnexpectedly", "container", c.spec.Name, "message", msg)
	w.restartContainer(c, gen, "exited: "+msg)
}

// probeLoop runs one probe of one container generation, following
// kubelet's prober worker: a probe runs every period (the first run right
// away), results are ignored until initialDelaySeconds after the container
// started, readiness and liveness wait for the startup probe, and only
// threshold-many equal results change the state.
func (w *podWorker) probeLoop(ctx context.Context, c *ctr, gen int, kind probeKind, p *corev1.Probe) {
	s := settingsOf(p)
	counter := newProbeCounter(kind)
	h := probeHandler(p)
	tick := time.NewTicker(s.period)
	defer tick.Stop()
	for {
		w.mu.Lock()
		current := c.gen == gen && c.st.Running
		started, startedAt, killing := c.st.Started, c.st.StartedAt, c.killing || w.terminating
		runner := c.runner
		w.mu.Unlock()
		if !current {
			return
		}
		skip := (kind == probeStartup && started) ||
			(kind != probeStartup && !started) ||
			(kind != probeReadiness && killing) ||
			time.Since(startedAt) < s.initialDelay
		if !skip {
			err := runner.run(ctx, h, s.timeout)
			if ctx.Err() != nil {
				return
			}
			result := probeResult(err == nil)
			if state, changed := counter.observe(result, s); changed {
				w.onProbeState(c, gen, kind, state, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// onProbeState applies a probe's new state to its container.
func (w *podWorker) onProbeState(c *ctr, gen int, kind probeKind, state probeResult, err error) {
	w.mu.Lock()
	if c.gen != gen {
		w.mu.Unlock()
		return
	}
	restart := false
	switch kind {
	case probeReadiness:
		c.st.Ready = bool(state)
	case probeStartup:
		if state == probeSuccess {
			c.st.Started = true
		} else {
			restart = true
		}
	case probeLiveness:
		restart = state == probeFailure
	}
	w.mu.Unlock()
	signal(w.kick)
	if restart {
		w.log.Info("probeFailedRestarting", "container", c.spec.Name, "probe", string(kind), "error", fmt.Sprint(err))
		go w.restartContainer(c, gen, fmt.Sprintf("%s probe failed", kind))
	}
}

// restartContainer kills a container (preStop, SIGTERM, SIGKILL at the
// grace deadline, as for a deletion) and starts it again with its restart
// count raised, unless the pod is terminating.
func (w *podWorker) restartContainer(c *ctr, gen int, reason string) {
	w.mu.Lock()
	if c.gen != gen || c.killing || w.terminating {
		w.mu.Unlock()
		return
	}
	grace := w.podGrace()
	for _, p := range []*corev1.Probe{c.spec.LivenessProbe, c.spec.StartupProbe} {
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
	}
	d := newDeadline(time.Now().Add(grace))
	w.mu.Unlock()
	w.killContainer(c, d, false)
	w.mu.Lock()
	if w.terminating {
		w.mu.Unlock()
		signal(w.kick)
		return
	}
	c.st.Last = &corev1.ContainerStateTerminated{
		ExitCode: c.st.ExitCode, Reason: c.st.Reason, Message: reason,
		StartedAt: metav1.NewTime(c.st.StartedAt), FinishedAt: metav1.NewTime(c.st.FinishedAt), ContainerID: c.st.ID,
	}
	c.st.RestartCount++
	spec, _ := ParseAppSpec(w.pod.Annotations)
	w.startContainerLocked(c, spec)
	w.mu.Unlock()
	w.emit(EventContainerRestarted, c.spec.Name, reason)
	signal(w.kick)
}

// podGrace is the grace period of the pod: deletionGracePeriodSeconds when
// set, else terminationGracePeriodSeconds, else 30s. Caller holds w.mu.
func (w *podWorker) podGrace() time.Duration {
	switch {
	case w.pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*w.pod.DeletionGracePeriodSeconds) * time.Second
	case w.pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*w.pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return defaultGracePeriod
}

// killContainer runs kubelet's killContainer: the preStop hook with the
// grace period as its timeout, then SIGTERM, then SIGKILL when the rest of
// the grace period (at least minimumGracePeriod) has passed.
func (w *podWorker) killContainer(c *ctr, d *deadline, deletion bool) {
	w.mu.Lock()
	a := c.app
	if a == nil || c.killing {
		w.mu.Unlock()
		if a != nil {
			<-a.done
		}
		return
	}
	select {
	case <-a.done: // already exited
		w.mu.Unlock()
		w.markExited(c, a, false, deletion)
		return
	default:
	}
	c.killing = true
	var preStop *corev1.LifecycleHandler
	if c.spec.Lifecycle != nil {
		preStop = c.spec.Lifecycle.PreStop
	}
	runner := c.runner
	w.mu.Unlock()

	if preStop != nil && time.Until(d.get()) > 0 {
		w.noteTime(&w.rec.PreStopStartedAt, deletion)
		w.emit(EventPreStopStarted, c.spec.Name, "")
		hookCtx, cancel := d.context(w.ctx)
		err := runner.run(hookCtx, hookHandler(preStop), time.Until(d.get())+time.Second)
		cancel()
		detail := "completed"
		if err != nil {
			detail = err.Error()
		}
		w.noteTime(&w.rec.PreStopFinishedAt, deletion)
		w.emit(EventPreStopFinished, c.spec.Name, detail)
		var ee *execError
		if errors.As(err, &ee) && preStop.Exec != nil {
			w.failedPreStopHook(c.spec.Name, preStop.Exec.Command, ee)
		}
	}
	if w.ctx.Err() != nil {
		a.sigkill()
		<-a.done
		w.markExited(c, a, false, deletion)
		return
	}
	d.atLeast(time.Now().Add(minimumGracePeriod))
	w.noteTime(&w.rec.SIGTERMAt, deletion)
	w.emit(EventSIGTERM, c.spec.Name, "")
	a.sigterm()
	killed := false
	for {
		timer := time.NewTimer(time.Until(d.get()))
		select {
		case <-a.done:
		case <-w.ctx.Done():
			a.sigkill()
			<-a.done
		case <-d.changedCh():
			timer.Stop()
			continue
		case <-timer.C:
			killed = true
			w.noteTime(&w.rec.SIGKILLAt, deletion)
			w.emit(EventSIGKILL, c.spec.Name, "grace period expired")
			a.sigkill()
			<-a.done
		}
		timer.Stop()
		break
	}
	w.markExited(c, a, killed, deletion)
}

// noteTime sets *t to now once, when the kill is for a deletion.
func (w *podWorker) noteTime(t *time.Time, deletion bool) {
	if !deletion {
		return
	}
	w.mu.Lock()
	if t.IsZero() {
		*t = time.Now()
	}
	w.mu.Unlock()
}

// markExited records a container's exit.
func (w *podWorker) markExited(c *ctr, a *app, killed, deletion bool) {
	w.mu.Lock()
	c.killing = false
	c.cancel()
	c.st.Running, c.st.Terminated, c.st.Ready, c.st.Started = false, true, false, false
	c.st.FinishedAt = time.Now()
	c.st.ExitCode = a.exitCode.Load()
	if killed {
		c.st.ExitCode = exitCodeSIGKILL
	}
	c.st.Reason = "Completed"
	if c.st.ExitCode != 0 {
		c.st.Reason = "Error"
	}
	code := c.st.ExitCode
	if deletion {
		w.rec.ExitedAt = time.Now()
	}
	w.mu.Unlock()
	w.emit(EventContainerExited, c.spec.Name, fmt.Sprintf("exit code %d", code))
	signal(w.kick)
}

// beginTermination starts the graceful termination once.
func (w *podWorker) beginTermination() {
	w.mu.Lock()
	if w.terminating {
		// A shorter deletionGracePeriodSeconds (a second delete) moves the
		// deadline closer.
		if g := w.podGrace(); g < w.grace {
			w.grace = g
			w.deadline.shorten(w.termStart.Add(g))
		}
		w.mu.Unlock()
		return
	}
	w.terminating = true
	w.termStart = time.Now()
	w.grace = w.podGrace()
	w.deadline = newDeadline(w.termStart.Add(w.grace))
	w.rec.DeletionObservedAt = w.termStart
	if ts := w.pod.DeletionTimestamp; ts != nil {
		requested := ts.Time
		if g := w.pod.DeletionGracePeriodSeconds; g != nil {
			requested = requested.Add(-time.Duration(*g) * time.Second)
		}
		w.rec.DeletionRequestedAt = requested
	}
	w.mu.Unlock()
	w.emit(EventDeletionObserved, "", "")
	go w.terminate()
}

// terminate kills every container in parallel, publishes the terminal
// status and deletes the pod object with grace period 0 and a UID
// precondition, as kubelet's status manager does.
func (w *podWorker) terminate() {
	w.mu.Lock()
	containers := append([]*ctr(nil), w.containers...)
	d := w.deadline
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range containers {
		wg.Go(func() { w.killContainer(c, d, true) })
	}
	wg.Wait()
	w.mu.Lock()
	w.phase = corev1.PodSucceeded
	for _, c := range w.containers {
		if !c.st.Terminated || c.st.ExitCode != 0 {
			w.phase = corev1.PodFailed
		}
		c.st.WaitingReason = ""
		if !c.st.Terminated {
			c.st.Terminated, c.st.Reason, c.st.ExitCode = true, "ContainerStatusUnknown", exitCodeSIGKILL
			c.st.FinishedAt = time.Now()
		}
	}
	if w.rec.ExitedAt.IsZero() {
		w.rec.ExitedAt = time.Now()
	}
	pod := w.pod
	w.mu.Unlock()
	w.publish(true)
	if w.ctx.Err() != nil {
		return
	}
	zero := int64(0)
	err := w.a.opts.Client.CoreV1().Pods(pod.Namespace).Delete(w.ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &w.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && w.ctx.Err() == nil {
		w.log.Error(err, "podDeleteFailed")
	}
}

// state snapshots the runtime view for status computation. Caller holds w.mu.
func (w *podWorker) stateLocked() podState {
	st := podState{
		Phase: w.phase, SandboxReady: w.sandboxReady, PodIP: w.ip.String(), HostIP: w.a.nodeIP.String(),
		StartTime: w.startTime, InitContainers: append([]containerState(nil), w.inits...),
	}
	if !w.sandboxReady {
		st.PodIP = ""
	}
	for _, c := range w.containers {
		cs := c.st
		cs.Ready = cs.Ready && cs.Started && cs.Running
		st.Containers = append(st.Containers, cs)
	}
	return st
}

// publish patches the owned part of the pod status when it changed (or
// always, with force), with a strategic merge patch on the status
// subresource that names only the conditions the node owns.
func (w *podWorker) publish(force bool) {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	pod := w.pod
	status := desiredStatus(pod, w.stateLocked(), w.condMem, time.Now())
	w.mu.Unlock()
	body, err := statusPatch(status)
	if err != nil {
		w.log.Error(err, "statusPatchEncodeFailed")
		return
	}
	if !force && string(body) == string(w.lastPatch) {
		return
	}
	_, err = w.a.opts.Client.CoreV1().Pods(pod.Namespace).Patch(w.ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		if !apierrors.IsNotFound(err) && w.ctx.Err() == nil {
			w.log.Error(err, "statusPatchFailed")
			w.retry = nextRetry(w.retry)
			wait := w.retry
			go func() {
				select {
				case <-time.After(wait):
					signal(w.kick)
				case <-w.ctx.Done():
				}
			}()
		}
		return
	}
	w.lastPatch, w.retry = body, 0
	var ready corev1.ConditionStatus
	for _, c := range status.Conditions {
		if c.Type == corev1.PodReady {
			ready = c.Status
		}
	}
	w.mu.Lock()
	prev := w.lastReady
	w.lastReady = ready
	if ready == corev1.ConditionTrue && w.rec.ReadyAt.IsZero() {
		w.rec.ReadyAt = time.Now()
	}
	w.mu.Unlock()
	switch {
	case ready == corev1.ConditionTrue && prev != corev1.ConditionTrue:
		w.emit(EventPodReady, "", "")
	case ready != corev1.ConditionTrue && prev == corev1.ConditionTrue:
		w.emit(EventPodNotReady, "", "")
	}
}

// firstRetry is the wait after a status patch's first failure.
const firstRetry = 500 * time.Millisecond

// nextRetry is the wait after another failure when the last wait was
// last: doubled, from firstRetry up to statusResync.
func nextRetry(last time.Duration) time.Duration {
	if last <= 0 {
		return firstRetry
	}
	return min(2*last, statusResync)
}

// apiStatusCurrent reports whether the pod as last seen on the watch holds
// the owned status the node would write now: a resync then sends nothing
// (kubelet patches only a status that differs; an unconditional patch of
// every pod every resync was, at 1,500 pods, 150 writes per second that
// starved the API server).
func (w *podWorker) apiStatusCurrent() bool {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	w.mu.Lock()
	pod := w.pod
	mem := maps.Clone(w.condMem)
	status := desiredStatus(pod, w.stateLocked(), mem, time.Now())
	w.mu.Unlock()
	want, err := statusPatch(status)
	if err != nil || string(want) != string(w.lastPatch) {
		return false
	}
	have, err := statusPatch(ownedPart(pod.Status, status))
	return err == nil && string(have) == string(want)
}

// ownedPart is the part of status that desired, a status the node
// computed, sets: the same fields, and only the conditions of its types.
func ownedPart(status, desired corev1.PodStatus) corev1.PodStatus {
	out := corev1.PodStatus{
		ObservedGeneration: status.ObservedGeneration, Phase: status.Phase,
		HostIP: status.HostIP, HostIPs: status.HostIPs, PodIP: status.PodIP, PodIPs: status.PodIPs,
		StartTime: status.StartTime, InitContainerStatuses: status.InitContainerStatuses, ContainerStatuses: status.ContainerStatuses,
	}
	for _, want := range desired.Conditions {
		for _, c := range status.Conditions {
			if c.Type == want.Type {
				out.Conditions = append(out.Conditions, c)
			}
		}
	}
	return out
}

// statusPatch encodes status as a strategic merge patch of the status
// subresource. Empty reason and message of a condition are sent as null so
// that the merge clears stale values instead of keeping them.
func statusPatch(status corev1.PodStatus) ([]byte, error) {
	raw, err := json.Marshal(status)
	if err != nil {
		return nil, fmt.Errorf("encoding pod status: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding pod status: %w", err)
	}
	if conds, ok := m["conditions"].([]any); ok {
		for _, c := range conds {
			cm := c.(map[string]any)
			for _, k := range []string{"reason", "message"} {
				if _, set := cm[k]; !set {
					cm[k] = nil
				}
			}
		}
	}
	return json.Marshal(map[string]any{"status": m})
}

// cleanup runs when the worker ends (object gone or agent stopping): every
// app is killed at once and the pod directory removed.
func (w *podWorker) cleanup() {
	w.mu.Lock()
	var apps []*app
	for _, c := range w.containers {
		if c.app != nil {
			apps = append(apps, c.app)
		}
		if c.cancel != nil {
			c.cancel()
		}
	}
	w.mu.Unlock()
	for _, a := range apps {
		a.sigkill()
		<-a.done
	}
	_ = os.RemoveAll(w.dir)
}

// deadline is a point in time that can move closer (a shorter grace period)
// or be floored (kubelet's minimum after preStop).
type deadline struct {
	mu      sync.Mutex
	t       time.Time
	changed chan struct{}
}

func newDeadline(t time.Time) *deadline { return &deadline{t: t, changed: make(chan struct{})} }

func (d *deadline) get() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t
}

func (d *deadline) changedCh() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

func (d *deadline) set(t time.Time) {
	d.t = t
	close(d.changed)
	d.changed = make(chan struct{})
}

// shorten moves the deadline to t if t is earlier.
func (d *deadline) shorten(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.Before(d.t) {
		d.set(t)
	}
}

// atLeast moves the deadline to t if t is later.
func (d *deadline) atLeast(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.After(d.t) {
		d.set(t)
	}
}

// context returns a context cancelled at the deadline (following changes)
// or when parent ends.
func (d *deadline) context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		for {
			timer := time.NewTimer(time.Until(d.get()))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-d.changedCh():
				timer.Stop()
			case <-timer.C:
				cancel()
				return
			}
		}
	}()
	return ctx, cancel
}
