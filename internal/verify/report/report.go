// Package report is the data model of a zerodrop verify run and its three
// renderings: the terminal summary, the versioned JSON document and the
// self-contained HTML page.
//
// A Builder aggregates request samples into per-second buckets as they
// arrive; Build turns them, with the run's timeline events, into a Report.
// Everything here is pure: no network, no clock except what callers pass in.
package report

import (
	"time"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
)

// SchemaVersion identifies the JSON layout of Report. It changes only when a
// field is removed or changes meaning; new fields may be added within v1.
const SchemaVersion = "zerodrop.dev/verify/v1"

// Report is everything one verify run measured. Its JSON form is documented
// field by field in docs/verify.md.
type Report struct {
	// SchemaVersion is always SchemaVersion.
	SchemaVersion string `json:"schemaVersion"`
	// Config is what was asked for.
	Config Config `json:"config"`
	// Start is when the first request was due; every AtSeconds is relative to it.
	Start time.Time `json:"start"`
	// End is when the last response (or failure) arrived.
	End time.Time `json:"end"`
	// DurationSeconds is End - Start.
	DurationSeconds float64 `json:"durationSeconds"`
	// Totals counts every request by class.
	Totals Totals `json:"totals"`
	// Rate compares the requested and the achieved send rate.
	Rate Rate `json:"rate"`
	// LatencyMs are the latency percentiles over all requests, failed ones
	// included (a failure's latency is the time until it failed).
	LatencyMs Latency `json:"latencyMs"`
	// Seconds has one entry per second of the run, by send time.
	Seconds []Second `json:"seconds"`
	// Events is the timeline, in time order.
	Events []Event `json:"events"`
	// Lanes is one row per pod or TargetBinding derived from Events.
	Lanes []Lane `json:"lanes"`
	// Verdict is the outcome against the error budget and rate check.
	Verdict Verdict `json:"verdict"`
}

// Config records the settings of a run.
type Config struct {
	// Targets are the URLs, hit in round robin.
	Targets []string `json:"targets"`
	// Method is the HTTP method.
	Method string `json:"method"`
	// Rate is the requested rate, requests per second.
	Rate int `json:"rate"`
	// DurationSeconds is the requested minimum load duration.
	DurationSeconds float64 `json:"durationSeconds"`
	// TimeoutSeconds is the per-request timeout.
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	// KeepAlive is true when connections are reused, false for a new
	// connection per request.
	KeepAlive bool `json:"keepAlive"`
	// IdleTimeoutSeconds is how long a kept-alive connection may stay idle
	// before the client closes it (absent without keep-alive).
	IdleTimeoutSeconds float64 `json:"idleTimeoutSeconds,omitempty"`
	// WarmupSeconds is how long load ran before the during step started.
	WarmupSeconds float64 `json:"warmupSeconds,omitempty"`
	// CooldownSeconds is how long load ran on after the during step ended.
	CooldownSeconds float64 `json:"cooldownSeconds,omitempty"`
	// During names the step run under load (the shell command), if any.
	During string `json:"during,omitempty"`
	// Watch names what was watched (namespace/deployment), if anything.
	Watch string `json:"watch,omitempty"`
	// MaxErrors is the error budget in requests; -1 when not applied.
	MaxErrors int64 `json:"maxErrors"`
	// MaxErrorRate is the error budget as a fraction; -1 when not applied.
	MaxErrorRate float64 `json:"maxErrorRate"`
	// MinRateRatio is the lowest achieved/requested ratio that passes.
	MinRateRatio float64 `json:"minRateRatio"`
	// MaxScheduleLagMs is how far behind schedule the sender may fall
	// before the run stops as not sustainable.
	MaxScheduleLagMs float64 `json:"maxScheduleLagMs"`
}

// Totals counts requests by outcome.
type Totals struct {
	// Requests sent.
	Requests int64 `json:"requests"`
	// OK is the number of successful requests.
	OK int64 `json:"ok"`
	// Failed is Requests - OK.
	Failed int64 `json:"failed"`
	// ErrorRate is Failed / Requests (0 when no request was sent).
	ErrorRate float64 `json:"errorRate"`
	// ByClass counts every class, zeros included.
	ByClass map[classify.Class]int64 `json:"byClass"`
}

// Rate compares the requested and achieved send rate.
type Rate struct {
	// Requested is requests per second asked for.
	Requested float64 `json:"requested"`
	// Achieved is (requests-1) / (last send - first send).
	Achieved float64 `json:"achieved"`
	// Ratio is Achieved / Requested.
	Ratio float64 `json:"ratio"`
	// MaxScheduleLagMs is the largest delay between a request's scheduled
	// and actual send time.
	MaxScheduleLagMs float64 `json:"maxScheduleLagMs"`
	// Aborted is true when the sender fell so far behind schedule that the
	// run was stopped early.
	Aborted bool `json:"aborted"`
}

// Latency holds latency percentiles in milliseconds (nearest rank).
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Second is one second of the run, by send time: [Second, Second+1) after Start.
type Second struct {
	// Second is the offset from Start in whole seconds.
	Second int `json:"second"`
	// Sent is the number of requests sent in this second.
	Sent int64 `json:"sent"`
	// OK is how many of them succeeded.
	OK int64 `json:"ok"`
	// Failed is how many of them failed.
	Failed int64 `json:"failed"`
	// ByClass counts the failure classes that occurred (absent = 0).
	ByClass map[classify.Class]int64 `json:"byClass,omitempty"`
	// LatencyMs are percentiles of the requests sent in this second.
	LatencyMs Latency `json:"latencyMs"`
}

// Event is one entry of the timeline.
type Event struct {
	// Time is when it happened (when verify observed it).
	Time time.Time `json:"time"`
	// AtSeconds is Time - Start in seconds (negative before load started).
	AtSeconds float64 `json:"atSeconds"`
	// Source says who recorded it: SourceVerify, SourceKubernetes or SourceCaller.
	Source string `json:"source"`
	// Kind is what happened, e.g. "pod.ready"; see the Kind* constants.
	Kind string `json:"kind"`
	// Subject is what it happened to, "pod/NAME", "targetbinding/NAME",
	// "deployment/NAME", or empty for the run itself.
	Subject string `json:"subject,omitempty"`
	// Message is a human description.
	Message string `json:"message,omitempty"`
}

// Lane is the life of one pod or TargetBinding on the timeline.
type Lane struct {
	// Subject is the Event subject the lane follows.
	Subject string `json:"subject"`
	// Segments are the states it went through, in order.
	Segments []Segment `json:"segments"`
	// Marks are point events on the lane (gate conditions, target counts,
	// caller events about this subject).
	Marks []Mark `json:"marks,omitempty"`
}

// Segment is one state of a lane between two times.
type Segment struct {
	// State is one of the State* constants.
	State string `json:"state"`
	// FromSeconds and ToSeconds bound it, relative to Start.
	FromSeconds float64 `json:"fromSeconds"`
	ToSeconds   float64 `json:"toSeconds"`
	// Open is true when the state still held at the end of the run.
	Open bool `json:"open,omitempty"`
}

// Mark is a point event on a lane.
type Mark struct {
	AtSeconds float64 `json:"atSeconds"`
	Kind      string  `json:"kind"`
	Message   string  `json:"message,omitempty"`
}

// Verdict is the run's outcome.
type Verdict struct {
	// Status is one of the Status* constants.
	Status string `json:"status"`
	// ExitCode is the process exit code the CLI uses for Status.
	ExitCode int `json:"exitCode"`
	// Reasons explains Status in sentences.
	Reasons []string `json:"reasons,omitempty"`
}

// Event sources.
const (
	// SourceVerify marks events verify itself recorded (load, during step).
	SourceVerify = "verify"
	// SourceKubernetes marks events seen through the Kubernetes API.
	SourceKubernetes = "kubernetes"
	// SourceCaller marks events injected by the library's caller.
	SourceCaller = "caller"
)

// Event kinds recorded by verify and its Kubernetes watcher. Callers may use
// any other kind.
const (
	KindLoadStarted    = "load.started"
	KindLoadFinished   = "load.finished"
	KindDuringStarted  = "during.started"
	KindDuringFinished = "during.finished"
	KindDuringFailed   = "during.failed"

	KindDeploymentObserved = "deployment.observed"
	KindDeploymentUpdated  = "deployment.updated"

	KindPodObserved    = "pod.observed"
	KindPodCreated     = "pod.created"
	KindPodScheduled   = "pod.scheduled"
	KindPodReady       = "pod.ready"
	KindPodNotReady    = "pod.notReady"
	KindPodGateTrue    = "pod.gateTrue"
	KindPodGateFalse   = "pod.gateFalse"
	KindPodTerminating = "pod.terminating"
	KindPodDeleted     = "pod.deleted"

	KindBindingObserved = "targetbinding.observed"
	KindBindingTargets  = "targetbinding.targets"
	KindBindingReady    = "targetbinding.ready"
	KindBindingNotReady = "targetbinding.notReady"
	KindBindingDeleted  = "targetbinding.deleted"
)

// Lane states.
const (
	StatePending     = "pending"
	StateScheduled   = "scheduled"
	StateReady       = "ready"
	StateNotReady    = "notReady"
	StateTerminating = "terminating"
)

// Verdict statuses.
const (
	StatusPass                = "pass"
	StatusErrorBudgetExceeded = "errorBudgetExceeded"
	StatusRateNotSustained    = "rateNotSustained"
	StatusDuringFailed        = "duringFailed"
	StatusInterrupted         = "interrupted"
)

// Exit codes of zerodrop verify; docs/verify.md has the table.
const (
	ExitOK                  = 0
	ExitUsage               = 1
	ExitErrorBudgetExceeded = 2
	ExitTargetUnreachable   = 3
	ExitRateNotSustained    = 4
	ExitDuringFailed        = 5
	ExitInterrupted         = 130
)

// SubjectPod returns the Event subject of the pod named name.
func SubjectPod(name string) string { return "pod/" + name }

// SubjectTargetBinding returns the Event subject of the TargetBinding named name.
func SubjectTargetBinding(name string) string { return "targetbinding/" + name }

// SubjectDeployment returns the Event subject of the Deployment named name.
func SubjectDeployment(name string) string { return "deployment/" + name }
