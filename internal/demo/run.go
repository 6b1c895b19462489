package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
	"github.com/zerodrop/zerodrop/internal/verify"
	"github.com/zerodrop/zerodrop/internal/verify/classify"
	"github.com/zerodrop/zerodrop/internal/verify/kube"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// Timeline event kinds the demo adds to each verify report.
const (
	EventRolloutStarted  = "rollout.started"
	EventRolloutFinished = "rollout.finished"
	EventPodDeletion     = "pod.deletionObserved"
	EventPodSIGTERM      = "pod.sigterm"
	EventPodPreStopHook  = "pod.failedPreStopHook"
	EventTargetRemoved   = "lb.targetRemoved"
)

// Result is what one demo run measured.
type Result struct {
	Scenario *Scenario
	// Kinds are the rollout kinds in the order they ran.
	Kinds []KindResult
	// OutDir holds the reports.
	OutDir string
}

// KindResult is one rollout kind in every mode.
type KindResult struct {
	Kind  RolloutKind
	Modes []ModeResult // in the environment's mode order
}

// Mode returns the result of mode m.
func (k KindResult) Mode(m Mode) *ModeResult {
	for i := range k.Modes {
		if k.Modes[i].Mode == m {
			return &k.Modes[i]
		}
	}
	return nil
}

// ModeResult is one rollout kind in one mode.
type ModeResult struct {
	Mode Mode
	// Report is verify's report of the load, with the demo's events.
	Report *report.Report
	// Sent and Failed count requests; ByClass the failures.
	Sent, Failed int64
	ByClass      map[classify.Class]int64
	// Rollout is the time from the rollout's start until the mode settled
	// (rollout complete, old pods gone, HAProxy matching the pods).
	Rollout time.Duration
	// Pods are the pods deleted by the rollout, with their timings.
	Pods []PodTiming
	// Err is why the rollout failed, if it did.
	Err error
	// JSONPath and HTMLPath are the written reports.
	JSONPath, HTMLPath string
}

// PodTiming is one deleted pod's termination, measured.
type PodTiming struct {
	Name string
	Addr netip.AddrPort
	// DeletionToSIGTERM is from the node seeing the deletion to SIGTERM.
	DeletionToSIGTERM time.Duration
	// LBDrain is from the node seeing the deletion to HAProxy no longer
	// having the target (valid when HasLBDrain).
	LBDrain    time.Duration
	HasLBDrain bool
	// CutRequests counts requests the pod's app had in flight when it
	// stopped (cut by its exit): each reached the load balancer as a broken
	// response, which the client sees unless the load balancer retried it.
	CutRequests int64
}

// router sends pod events of each mode's namespace to that mode's run.
type router struct {
	mu   sync.Mutex
	runs map[string]*verify.Run
}

func (r *router) set(ns string, run *verify.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if run == nil {
		delete(r.runs, ns)
		return
	}
	r.runs[ns] = run
}

func (r *router) route(ev vnode.Event) {
	r.mu.Lock()
	run := r.runs[ev.Namespace]
	r.mu.Unlock()
	if run == nil {
		return
	}
	subject := report.SubjectPod(ev.Name)
	switch ev.Type {
	case vnode.EventDeletionObserved:
		run.Record(report.Event{Time: ev.Time, Kind: EventPodDeletion, Subject: subject, Message: "node " + ev.Node + " saw the deletion"})
	case vnode.EventSIGTERM:
		run.Record(report.Event{Time: ev.Time, Kind: EventPodSIGTERM, Subject: subject, Message: "SIGTERM sent to " + ev.Name + "/" + ev.Container})
	case vnode.EventFailedPreStopHook:
		run.Record(report.Event{Time: ev.Time, Kind: EventPodPreStopHook, Subject: subject, Message: ev.Detail})
	}
}

// Run runs every rollout kind of the scenario in every mode, the modes side
// by side (each with its own load through its own HAProxy frontend), and
// writes one JSON and one HTML report per kind and mode into outDir.
func (e *Environment) Run(ctx context.Context, outDir string) (*Result, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	res := &Result{Scenario: e.Scenario, OutDir: outDir}
	rt := &router{runs: map[string]*verify.Run{}}
	events, unsubscribe := e.Cluster.Subscribe()
	defer unsubscribe()
	go func() {
		for ev := range events {
			rt.route(ev)
		}
	}()
	for i, kind := range e.Scenario.Rollouts {
		kr, err := e.runKind(ctx, kind, i+2, rt, outDir)
		res.Kinds = append(res.Kinds, kr) // with what it measured, also when it failed
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// runKind runs one rollout kind in every mode at once.
func (e *Environment) runKind(ctx context.Context, kind RolloutKind, revision int, rt *router, outDir string) (KindResult, error) {
	s := e.Scenario
	kr := KindResult{Kind: kind}
	var node string
	if kind == NodeDrain {
		var err error
		if node, err = e.DrainTarget(ctx); err != nil {
			return kr, err
		}
		if err := e.SetUnschedulable(ctx, node, true); err != nil {
			return kr, err
		}
		e.progress("%s: cordoned %s", kind, node)
	}
	e.progress("%s: %d req/s per mode for at least %s, rollout after %s of steady load",
		kind, s.Load.Rate, s.Load.MinDuration.Duration, s.Load.Warmup.Duration)
	results := make([]ModeResult, len(e.modes))
	var wg sync.WaitGroup
	for i, m := range e.modes {
		wg.Go(func() { results[i] = e.runMode(ctx, kind, m, node, revision, rt) })
	}
	wg.Wait()
	if kind == NodeDrain {
		if err := e.SetUnschedulable(context.WithoutCancel(ctx), node, false); err != nil {
			return kr, err
		}
		e.progress("%s: uncordoned %s", kind, node)
	}
	var errs []error
	for i := range results {
		r := &results[i]
		if err := writeReports(r, kind, outDir); err != nil {
			errs = append(errs, err)
		}
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s in mode %s: %w", kind, r.Mode, r.Err))
		}
		e.progress("%s: %-14s %6d/%d failed, rollout %s", kind, r.Mode, r.Failed, r.Sent, r.Rollout.Round(100*time.Millisecond))
	}
	kr.Modes = results
	if ctx.Err() != nil {
		return kr, ctx.Err()
	}
	if kind == ScaleIn {
		var wg sync.WaitGroup
		scaleErrs := make([]error, len(e.modes))
		for i, m := range e.modes {
			wg.Go(func() { scaleErrs[i] = e.Scale(ctx, m, s.Replicas) })
		}
		wg.Wait()
		errs = append(errs, scaleErrs...)
		e.progress("%s: scaled back to %d replicas", kind, s.Replicas)
	}
	return kr, errors.Join(errs...)
}

// runMode drives load through mode m's frontend and runs the rollout under
// it.
func (e *Environment) runMode(ctx context.Context, kind RolloutKind, m Mode, node string, revision int, rt *router) ModeResult {
	s := e.Scenario
	r := ModeResult{Mode: m}
	var run *verify.Run
	var stepStart, stepEnd time.Time
	tctx, stopTracker := context.WithCancel(ctx)
	defer stopTracker()
	tracker := NewTracker(e.lb, m.Backend(), func(a netip.AddrPort, at time.Time) {
		if run != nil {
			run.Record(report.Event{Time: at, Kind: EventTargetRemoved, Message: "HAProxy no longer has " + a.String()})
		}
	})
	step := verify.Step{Name: string(kind), Run: func(ctx context.Context) error {
		stepStart = time.Now()
		run.Record(report.Event{Kind: EventRolloutStarted, Message: string(kind) + " started"})
		var err error
		switch kind {
		case RollingUpdate:
			err = e.RollingUpdate(ctx, m, revision)
		case ScaleIn:
			err = e.Scale(ctx, m, s.Replicas-1)
		case NodeDrain:
			err = e.DrainNode(ctx, m, node)
		}
		stepEnd = time.Now()
		r.Rollout = stepEnd.Sub(stepStart)
		run.Record(report.Event{Kind: EventRolloutFinished, Message: fmt.Sprintf("%s settled after %s", kind, r.Rollout.Round(time.Millisecond))})
		if err != nil {
			r.Err = err
		}
		return err
	}}
	var err error
	run, err = verify.New(verify.Config{
		Targets:   []verify.Target{{URL: e.FrontendURL(m), Method: s.Load.Method}},
		Rate:      s.Load.Rate,
		Duration:  s.Load.MinDuration.Duration,
		Timeout:   s.Load.Timeout.Duration,
		KeepAlive: s.Load.keepAlive(),
		// Close idle connections before HAProxy does, so its keep-alive race
		// (a request sent as it closes an idle connection) is not counted
		// as a rollout's failure.
		IdleTimeout:  process.ClientKeepAliveTimeout / 2,
		Warmup:       s.Load.Warmup.Duration,
		Cooldown:     s.Load.Cooldown.Duration,
		During:       &step,
		Watchers:     []verify.Watcher{&kube.Watcher{Config: e.Cluster.RESTConfig(), Namespace: m.Namespace(), Deployment: AppName}},
		MaxErrors:    0,
		MaxErrorRate: -1,
	})
	if err != nil {
		r.Err = err
		return r
	}
	go tracker.Run(tctx)
	rt.set(m.Namespace(), run)
	rep, err := run.Execute(ctx)
	rt.set(m.Namespace(), nil)
	if err != nil {
		r.Err = fmt.Errorf("load: %w", err)
		return r
	}
	r.Report = rep
	r.Sent, r.Failed, r.ByClass = rep.Totals.Requests, rep.Totals.Failed, rep.Totals.ByClass
	if rep.Verdict.Status == report.StatusRateNotSustained {
		r.Err = fmt.Errorf("this machine did not sustain %d req/s (achieved %.0f): the measurement is not valid", s.Load.Rate, rep.Rate.Achieved)
	}
	r.Pods = e.podTimings(m, stepStart, stepEnd, tracker)
	return r
}

// podTimings returns the pods of mode m whose deletion the node saw while
// the rollout ran.
func (e *Environment) podTimings(m Mode, from, to time.Time, tracker *Tracker) []PodTiming {
	var out []PodTiming
	for _, rec := range e.Cluster.Pods() {
		if rec.Namespace != m.Namespace() || rec.DeletionObservedAt.IsZero() ||
			rec.DeletionObservedAt.Before(from) || rec.DeletionObservedAt.After(to) {
			continue
		}
		pt := PodTiming{Name: rec.Name, Addr: netip.AddrPortFrom(rec.IP, ContainerPort), DeletionToSIGTERM: rec.DeletionToSIGTERM(), CutRequests: rec.CutRequests}
		// The controller may act on the deletion a moment before the node
		// sees it: look for the removal from a second earlier on.
		if at, ok := tracker.RemovedAfter(pt.Addr, rec.DeletionObservedAt.Add(-time.Second)); ok {
			pt.LBDrain, pt.HasLBDrain = at.Sub(rec.DeletionObservedAt), true
		}
		out = append(out, pt)
	}
	return out
}

// writeReports writes r's JSON and HTML reports.
func writeReports(r *ModeResult, kind RolloutKind, dir string) error {
	if r.Report == nil {
		return nil
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%s", kind, r.Mode))
	for _, f := range []struct {
		path  *string
		ext   string
		write func(*os.File) error
	}{
		{&r.JSONPath, ".json", func(f *os.File) error { return report.WriteJSON(f, r.Report) }},
		{&r.HTMLPath, ".html", func(f *os.File) error { return report.WriteHTML(f, r.Report) }},
	} {
		path := base + f.ext
		file, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
		err = f.write(file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing report %s: %w", path, err)
		}
		*f.path = path
	}
	return nil
}
