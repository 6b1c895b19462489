package report

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
)

// Sample is the outcome of one request, as the Builder needs it.
type Sample struct {
	// Offset is the send time relative to the run's Start.
	Offset time.Duration
	// Lag is how late it was sent compared with its schedule.
	Lag time.Duration
	// Latency is the time from send to response or failure.
	Latency time.Duration
	// Class is the outcome class.
	Class classify.Class
}

// Counts is a running tally, for progress lines.
type Counts struct {
	// Requests is the number of requests completed so far.
	Requests int64
	// Failed is how many of them failed.
	Failed int64
	// ByClass counts failures by class (absent = 0).
	ByClass map[classify.Class]int64
}

// Builder aggregates samples into per-second buckets. It is not safe for
// concurrent use.
type Builder struct {
	seconds  []bucket
	counts   Counts
	maxLag   time.Duration
	first    time.Duration
	last     time.Duration
	haveSent bool
}

type bucket struct {
	byClass   map[classify.Class]int64
	latencies []time.Duration
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{counts: Counts{ByClass: map[classify.Class]int64{}}}
}

// Add records one sample.
func (b *Builder) Add(s Sample) {
	sec := 0
	if s.Offset > 0 {
		sec = int(s.Offset / time.Second)
	}
	for len(b.seconds) <= sec {
		b.seconds = append(b.seconds, bucket{byClass: map[classify.Class]int64{}})
	}
	bk := &b.seconds[sec]
	bk.byClass[s.Class]++
	bk.latencies = append(bk.latencies, s.Latency)

	b.counts.Requests++
	if s.Class.Failed() {
		b.counts.Failed++
		b.counts.ByClass[s.Class]++
	}
	b.maxLag = max(b.maxLag, s.Lag)
	if !b.haveSent || s.Offset < b.first {
		b.first = s.Offset
	}
	if !b.haveSent || s.Offset > b.last {
		b.last = s.Offset
	}
	b.haveSent = true
}

// Counts returns a copy of the running tally.
func (b *Builder) Counts() Counts {
	c := b.counts
	c.ByClass = make(map[classify.Class]int64, len(b.counts.ByClass))
	for k, v := range b.counts.ByClass {
		c.ByClass[k] = v
	}
	return c
}

// BuildInput is what a Report needs beside the samples.
type BuildInput struct {
	Config  Config
	Start   time.Time
	End     time.Time
	Events  []Event
	Aborted bool
}

// Build returns the Report of everything added so far. It does not set the
// Verdict: see Judge.
func (b *Builder) Build(in BuildInput) *Report {
	r := &Report{
		SchemaVersion:   SchemaVersion,
		Config:          in.Config,
		Start:           in.Start,
		End:             in.End,
		DurationSeconds: in.End.Sub(in.Start).Seconds(),
		Totals:          Totals{ByClass: map[classify.Class]int64{}},
		Seconds:         make([]Second, 0, len(b.seconds)),
	}
	for _, c := range classify.All() {
		r.Totals.ByClass[c] = 0
	}
	var all []time.Duration
	for i, bk := range b.seconds {
		s := Second{Second: i}
		for c, n := range bk.byClass {
			s.Sent += n
			if c.Failed() {
				s.Failed += n
				if s.ByClass == nil {
					s.ByClass = map[classify.Class]int64{}
				}
				s.ByClass[c] = n
			} else {
				s.OK += n
			}
			r.Totals.ByClass[c] += n
		}
		s.LatencyMs = percentiles(bk.latencies)
		all = append(all, bk.latencies...)
		r.Seconds = append(r.Seconds, s)
		r.Totals.Requests += s.Sent
		r.Totals.OK += s.OK
		r.Totals.Failed += s.Failed
	}
	if r.Totals.Requests > 0 {
		r.Totals.ErrorRate = float64(r.Totals.Failed) / float64(r.Totals.Requests)
	}
	r.LatencyMs = percentiles(all)

	r.Rate = Rate{
		Requested:        float64(in.Config.Rate),
		MaxScheduleLagMs: ms(b.maxLag),
		Aborted:          in.Aborted,
	}
	if span := b.last - b.first; r.Totals.Requests > 1 && span > 0 {
		r.Rate.Achieved = float64(r.Totals.Requests-1) / span.Seconds()
	} else if r.Totals.Requests == 1 {
		r.Rate.Achieved = r.Rate.Requested
	}
	if r.Rate.Requested > 0 {
		r.Rate.Ratio = r.Rate.Achieved / r.Rate.Requested
	}

	r.Events = make([]Event, 0, len(in.Events))
	for _, e := range in.Events {
		e.AtSeconds = round3(e.Time.Sub(in.Start).Seconds())
		r.Events = append(r.Events, e)
	}
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].Time.Before(r.Events[j].Time) })
	r.Lanes = BuildLanes(r.Events, round3(r.DurationSeconds))
	return r
}

// percentiles returns nearest-rank percentiles of d in milliseconds; it
// sorts d in place.
func percentiles(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return Latency{P50: ms(rank(0.50)), P90: ms(rank(0.90)), P99: ms(rank(0.99)), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
