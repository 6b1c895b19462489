package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// Defaults for the Config fields left zero.
const (
	DefaultMethod         = http.MethodGet
	DefaultTimeout        = 2 * time.Second
	DefaultMaxScheduleLag = 2 * time.Second
	DefaultMinRateRatio   = 0.9
	DefaultIdleTimeout    = 90 * time.Second
	// MaxRate is the highest rate New accepts; whether the machine sustains
	// it is measured, not assumed.
	MaxRate = 1_000_000
)

// Target is one URL hit in round robin.
type Target struct {
	// URL is an absolute http or https URL.
	URL string
	// Method defaults to GET.
	Method string
	// Header is sent with every request.
	Header http.Header
	// Body is sent with every request.
	Body []byte
}

// Step is something run once under load, such as a rollout.
type Step struct {
	// Name describes it on the timeline (the shell command).
	Name string
	// Run does it; a non-nil error marks the step failed.
	Run func(ctx context.Context) error
}

// Recorder knows how to put an event on a run's timeline. Run implements it.
type Recorder interface {
	Record(e report.Event)
}

// Watcher knows how to follow something during a run (pods, bindings) and
// record what it sees.
type Watcher interface {
	// Start records the current state, returns once that is done, and keeps
	// recording changes until ctx is done.
	Start(ctx context.Context, rec Recorder) error
	// Describe names what is watched, for the report.
	Describe() string
}

// Progress is a snapshot of a running load, for progress lines.
type Progress struct {
	// Elapsed since the load started.
	Elapsed time.Duration
	// Phase is "load", "warmup", "during" or "cooldown".
	Phase string
	// Rate is the requested rate.
	Rate int
	// Counts are the completed requests so far.
	Counts report.Counts
}

// Config describes a run. Zero values take the Default* constants.
type Config struct {
	// Targets are hit in round robin; at least one.
	Targets []Target
	// Rate is requests per second, constant.
	Rate int
	// Duration is how long load runs (at least; see During).
	Duration time.Duration
	// Timeout bounds each request: connect, headers and body.
	Timeout time.Duration
	// KeepAlive reuses connections; false opens one per request.
	KeepAlive bool
	// IdleTimeout closes a kept-alive connection after it has been idle this
	// long (zero: DefaultIdleTimeout). Keep it below the target's own
	// keep-alive timeout: a request written on a connection the server is
	// closing at that instant fails ("EOF" on a connection idle for exactly
	// the server's timeout), and only idempotent requests are resent. That
	// failure is the client's timeouts, not a rollout's.
	IdleTimeout time.Duration
	// Warmup is how long load runs before During starts.
	Warmup time.Duration
	// During, if set, runs once after Warmup; load goes on until the later
	// of Duration and the step's end plus Cooldown.
	During *Step
	// Cooldown is how long load continues after During ends.
	Cooldown time.Duration
	// Watchers follow the cluster during the run.
	Watchers []Watcher
	// MaxErrors is the budget in failed requests; negative disables it.
	MaxErrors int64
	// MaxErrorRate is the budget as a fraction; negative disables it.
	MaxErrorRate float64
	// MinRateRatio is the lowest achieved/requested ratio that passes.
	MinRateRatio float64
	// MaxScheduleLag stops the run when the sender falls this far behind.
	MaxScheduleLag time.Duration
	// SkipProbe skips checking that every target answers before the load.
	SkipProbe bool
	// OnResult, if set, sees every request's result, from one goroutine, as
	// results arrive; it must be quick (a slow one holds up the collection
	// of results, not the sending of requests).
	OnResult func(Result)
	// OnProgress, if set, is called about once a second.
	OnProgress func(Progress)
}

// Run is one verify run; Execute runs it once. Record may be called from
// any goroutine at any time, also before and during Execute.
type Run struct {
	cfg Config

	executed atomic.Bool

	mu     sync.Mutex
	events []report.Event
}

// New validates cfg and returns a Run.
func New(cfg Config) (*Run, error) {
	if err := cfg.defaultAndValidate(); err != nil {
		return nil, err
	}
	return &Run{cfg: cfg}, nil
}

func (c *Config) defaultAndValidate() error {
	if len(c.Targets) == 0 {
		return errors.New("no target URL given")
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Method == "" {
			t.Method = DefaultMethod
		}
		if err := ValidateURL(t.URL); err != nil {
			return err
		}
		if strings.ContainsAny(t.Method, " \t\r\n") {
			return fmt.Errorf("invalid HTTP method %q", t.Method)
		}
	}
	if c.Rate <= 0 || c.Rate > MaxRate {
		return fmt.Errorf("rate %d out of range: want 1 to %d requests per second", c.Rate, MaxRate)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("duration %s must be positive", c.Duration)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout %s must be positive", c.Timeout)
	}
	if c.Warmup < 0 || c.Cooldown < 0 {
		return errors.New("warm-up and cool-down must not be negative")
	}
	if c.During != nil && c.Warmup >= c.Duration {
		return fmt.Errorf("warm-up %s must be shorter than the duration %s", c.Warmup, c.Duration)
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("idle timeout %s must not be negative", c.IdleTimeout)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxScheduleLag == 0 {
		c.MaxScheduleLag = DefaultMaxScheduleLag
	}
	if c.MinRateRatio == 0 {
		c.MinRateRatio = DefaultMinRateRatio
	}
	if c.MinRateRatio < 0 || c.MinRateRatio > 1 {
		return fmt.Errorf("minimum rate ratio %g out of range 0..1", c.MinRateRatio)
	}
	if c.MaxErrorRate > 1 {
		return fmt.Errorf("maximum error rate %g is a fraction: want 0..1", c.MaxErrorRate)
	}
	return nil
}

// ValidateURL reports whether raw is an absolute http(s) URL with a host.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("malformed target URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("target URL %q has no host", raw)
	}
	return nil
}

// Record puts e on the timeline. A zero Time means now; an empty Source
// means report.SourceCaller.
func (r *Run) Record(e report.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Source == "" {
		e.Source = report.SourceCaller
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *Run) snapshotEvents() []report.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report.Event(nil), r.events...)
}

// Execute probes the targets, starts the watchers, runs the load (and the
// During step) and returns the judged report. The error is non-nil only when
// no measurement was made: an *UnreachableError from the probe, or a
// watcher that could not start. An interrupted run (ctx cancelled) returns
// its partial report with the interrupted verdict.
func (r *Run) Execute(ctx context.Context) (*report.Report, error) {
	if r.executed.Swap(true) {
		return nil, errors.New("this verify run was already executed: create a new one with New")
	}
	cfg := r.cfg
	if !cfg.SkipProbe {
		if err := probe(ctx, cfg.Targets, cfg.Timeout); err != nil {
			return nil, err
		}
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	for _, w := range cfg.Watchers {
		if err := w.Start(watchCtx, r); err != nil {
			return nil, fmt.Errorf("watching %s: %w", w.Describe(), err)
		}
	}

	// With a During step the load runs until the step has ended (the limit
	// is set then), so that a slow rollout never outlives the load.
	limit := uint64(math.Ceil(cfg.Duration.Seconds() * float64(cfg.Rate)))
	if cfg.During != nil {
		limit = math.MaxUint64
	}
	eng := engine{targets: cfg.Targets, rate: cfg.Rate, timeout: cfg.Timeout, keepAlive: cfg.KeepAlive, idleTimeout: cfg.IdleTimeout, maxLag: cfg.MaxScheduleLag}
	atk, err := eng.start(limit)
	if err != nil {
		return nil, err
	}
	defer atk.rt.close()
	r.Record(report.Event{Time: atk.start, Source: report.SourceVerify, Kind: report.KindLoadStarted,
		Message: fmt.Sprintf("%d requests/s to %d target(s), keep-alive %t", cfg.Rate, len(cfg.Targets), cfg.KeepAlive)})

	var (
		mu      sync.Mutex
		builder = report.NewBuilder()
		phase   = "load"
	)
	setPhase := func(p string) { mu.Lock(); phase = p; mu.Unlock() }

	var duringErr error
	loadDone := make(chan struct{})
	duringDone := make(chan struct{})
	if cfg.During != nil {
		setPhase("warmup")
		go func() {
			defer close(duringDone)
			duringErr = r.runDuring(ctx, loadDone, atk, cfg, setPhase)
		}()
	} else {
		close(duringDone)
	}

	progressDone := make(chan struct{})
	if cfg.OnProgress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-progressDone:
					return
				case <-t.C:
					mu.Lock()
					p := Progress{Elapsed: time.Since(atk.start), Phase: phase, Rate: cfg.Rate, Counts: builder.Counts()}
					mu.Unlock()
					cfg.OnProgress(p)
				}
			}
		}()
	}

	stopOnCancel := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			atk.stop()
		case <-stopOnCancel:
		}
	}()

	for vr := range atk.results {
		res := atk.result(vr)
		mu.Lock()
		builder.Add(report.Sample{
			Offset:  res.Sent.Sub(atk.start),
			Lag:     max(res.Sent.Sub(res.Scheduled), 0),
			Latency: res.Latency,
			Class:   res.Class,
		})
		mu.Unlock()
		if cfg.OnResult != nil {
			cfg.OnResult(res)
		}
	}
	close(stopOnCancel)
	close(progressDone)
	close(loadDone)
	end := time.Now()
	r.Record(report.Event{Time: end, Source: report.SourceVerify, Kind: report.KindLoadFinished})
	<-duringDone
	stopWatch()

	rep := builder.Build(report.BuildInput{
		Config:  r.reportConfig(),
		Start:   atk.start,
		End:     end,
		Events:  r.snapshotEvents(),
		Aborted: atk.aborted.Load(),
	})
	in := report.JudgeInput{MinRateRatio: cfg.MinRateRatio, Interrupted: ctx.Err() != nil}
	if duringErr != nil {
		in.DuringFailed, in.DuringError = true, duringErr.Error()
	}
	rep.Verdict = report.Judge(rep, in)
	return rep, nil
}

// runDuring waits for the warm-up, runs the step, and sets it to cover the cool-down once the step has ended.
// The step does not start when the load ended first (interrupted or aborted).
func (r *Run) runDuring(ctx context.Context, loadDone <-chan struct{}, atk *attack, cfg Config, setPhase func(string)) error {
	select {
	case <-time.After(time.Until(atk.start.Add(cfg.Warmup))):
	case <-ctx.Done():
		return nil
	case <-loadDone:
		return nil
	}
	setPhase("during")
	r.Record(report.Event{Source: report.SourceVerify, Kind: report.KindDuringStarted, Message: cfg.During.Name})
	err := cfg.During.Run(ctx)
	ended := time.Now()
	if err != nil {
		r.Record(report.Event{Time: ended, Source: report.SourceVerify, Kind: report.KindDuringFailed, Message: err.Error()})
	} else {
		r.Record(report.Event{Time: ended, Source: report.SourceVerify, Kind: report.KindDuringFinished, Message: cfg.During.Name})
	}
	setPhase("cooldown")
	base := math.Ceil(cfg.Duration.Seconds() * float64(cfg.Rate))
	until := math.Ceil((ended.Sub(atk.start) + cfg.Cooldown).Seconds() * float64(cfg.Rate))
	atk.limit.Store(uint64(max(base, until)))
	return err
}

func (r *Run) reportConfig() report.Config {
	c := r.cfg
	rc := report.Config{
		Method:           c.Targets[0].Method,
		Rate:             c.Rate,
		DurationSeconds:  c.Duration.Seconds(),
		TimeoutSeconds:   c.Timeout.Seconds(),
		KeepAlive:        c.KeepAlive,
		MaxErrors:        c.MaxErrors,
		MaxErrorRate:     c.MaxErrorRate,
		MinRateRatio:     c.MinRateRatio,
		MaxScheduleLagMs: float64(c.MaxScheduleLag) / float64(time.Millisecond),
	}
	if c.KeepAlive {
		rc.IdleTimeoutSeconds = c.IdleTimeout.Seconds()
	}
	if rc.MaxErrors < 0 {
		rc.MaxErrors = -1
	}
	if rc.MaxErrorRate < 0 {
		rc.MaxErrorRate = -1
	}
	for _, t := range c.Targets {
		rc.Targets = append(rc.Targets, t.URL)
	}
	if c.During != nil {
		rc.During = c.During.Name
		rc.WarmupSeconds = c.Warmup.Seconds()
		rc.CooldownSeconds = c.Cooldown.Seconds()
	}
	var watched []string
	for _, w := range c.Watchers {
		watched = append(watched, w.Describe())
	}
	rc.Watch = strings.Join(watched, ", ")
	return rc
}
