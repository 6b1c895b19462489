package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
)

func TestBuilder_Build(t *testing.T) {
	b := NewBuilder()
	// Second 0: latencies 1..100 ms, all ok. Second 1: 10 requests, 3 failed.
	for i := 1; i <= 100; i++ {
		b.Add(Sample{Offset: time.Duration(i) * 9 * time.Millisecond, Latency: time.Duration(i) * time.Millisecond, Class: classify.OK})
	}
	for i := 0; i < 10; i++ {
		c := classify.OK
		if i < 3 {
			c = classify.HTTP502
		}
		b.Add(Sample{Offset: time.Second + time.Duration(i)*10*time.Millisecond, Lag: time.Duration(i) * time.Millisecond, Latency: time.Millisecond, Class: c})
	}
	start := time.Unix(1000, 0)
	r := b.Build(BuildInput{Config: Config{Rate: 100}, Start: start, End: start.Add(2 * time.Second),
		Events: []Event{{Time: start.Add(1500 * time.Millisecond), Kind: "b"}, {Time: start.Add(-time.Second), Kind: "a"}}})

	if r.SchemaVersion != SchemaVersion || r.Totals.Requests != 110 || r.Totals.Failed != 3 || r.Totals.OK != 107 {
		t.Fatalf("totals %+v", r.Totals)
	}
	if len(r.Totals.ByClass) != len(classify.All()) {
		t.Errorf("byClass must list every class, zeros included: %v", r.Totals.ByClass)
	}
	if got := r.Seconds[0].LatencyMs; got.P50 != 50 || got.P90 != 90 || got.P99 != 99 || got.Max != 100 {
		t.Errorf("second 0 percentiles %+v, want 50/90/99/100", got)
	}
	if s := r.Seconds[1]; s.Sent != 10 || s.Failed != 3 || s.ByClass[classify.HTTP502] != 3 || s.ByClass[classify.OK] != 0 {
		t.Errorf("second 1 = %+v", s)
	}
	if r.Seconds[0].ByClass != nil {
		t.Errorf("a second without failures has no byClass: %v", r.Seconds[0].ByClass)
	}
	if r.Rate.MaxScheduleLagMs != 9 {
		t.Errorf("max lag %v, want 9 ms", r.Rate.MaxScheduleLagMs)
	}
	if r.Events[0].Kind != "a" || r.Events[0].AtSeconds != -1 || r.Events[1].AtSeconds != 1.5 {
		t.Errorf("events not sorted or offset: %+v", r.Events)
	}
	// 110 sends from 9 ms to 1090 ms.
	if want := 109 / 1.081; r.Rate.Achieved < want-0.01 || r.Rate.Achieved > want+0.01 {
		t.Errorf("achieved %v, want %v", r.Rate.Achieved, want)
	}
}

func TestBuildLanes(t *testing.T) {
	ev := func(at float64, kind, subj string) Event { return Event{AtSeconds: at, Kind: kind, Subject: subj} }
	lanes := BuildLanes([]Event{
		ev(0, KindLoadStarted, ""),
		ev(0, KindPodObserved, "pod/a"),
		ev(0, KindPodReady, "pod/a"),
		ev(1, KindPodCreated, "pod/b"),
		ev(2, KindPodScheduled, "pod/b"),
		ev(3, KindPodGateTrue, "pod/b"),
		ev(3, KindPodReady, "pod/b"),
		ev(3.5, KindPodReady, "pod/b"), // repeated: no new segment
		ev(4, "agent.sigterm", "pod/a"),
		ev(4, KindPodTerminating, "pod/a"),
		ev(6, KindPodDeleted, "pod/a"),
		ev(7, "deployment.updated", "deployment/web"),
	}, 10)
	if len(lanes) != 2 || lanes[0].Subject != "pod/a" || lanes[1].Subject != "pod/b" {
		t.Fatalf("lanes %+v", lanes)
	}
	a := lanes[0]
	want := []Segment{{State: StatePending}, {State: StateReady, ToSeconds: 4}, {State: StateTerminating, FromSeconds: 4, ToSeconds: 6}}
	if len(a.Segments) != len(want) {
		t.Fatalf("pod/a segments %+v", a.Segments)
	}
	for i := range want {
		if a.Segments[i] != want[i] {
			t.Errorf("pod/a segment %d = %+v, want %+v", i, a.Segments[i], want[i])
		}
	}
	if len(a.Marks) != 2 || a.Marks[0].Kind != "agent.sigterm" || a.Marks[1].Kind != KindPodDeleted {
		t.Errorf("pod/a marks %+v", a.Marks)
	}
	b := lanes[1]
	if n := len(b.Segments); n != 3 || !b.Segments[2].Open || b.Segments[2].State != StateReady || b.Segments[2].ToSeconds != 10 {
		t.Errorf("pod/b segments %+v: want pending, scheduled, ready open until 10", b.Segments)
	}
}

func TestJudge(t *testing.T) {
	rep := func(failed, requests int64, maxErr int64, maxRate float64, ratio float64, aborted bool) *Report {
		r := &Report{Config: Config{MaxErrors: maxErr, MaxErrorRate: maxRate}}
		r.Totals.Requests, r.Totals.Failed = requests, failed
		r.Totals.ErrorRate = float64(failed) / float64(requests)
		r.Rate = Rate{Requested: 100, Achieved: 100 * ratio, Ratio: ratio, Aborted: aborted}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *Report
		in   JudgeInput
		want string
		code int
	}{
		{"clean", rep(0, 100, 0, -1, 1, false), JudgeInput{MinRateRatio: 0.9}, StatusPass, ExitOK},
		{"one error over zero budget", rep(1, 100, 0, -1, 1, false), JudgeInput{MinRateRatio: 0.9}, StatusErrorBudgetExceeded, ExitErrorBudgetExceeded},
		{"within count budget", rep(5, 100, 5, -1, 1, false), JudgeInput{MinRateRatio: 0.9}, StatusPass, ExitOK},
		{"rate budget off count budget", rep(5, 100, -1, 0.05, 1, false), JudgeInput{MinRateRatio: 0.9}, StatusPass, ExitOK},
		{"over rate budget", rep(6, 100, -1, 0.05, 1, false), JudgeInput{MinRateRatio: 0.9}, StatusErrorBudgetExceeded, ExitErrorBudgetExceeded},
		{"slow sender outranks budget", rep(6, 100, 0, -1, 0.5, false), JudgeInput{MinRateRatio: 0.9}, StatusRateNotSustained, ExitRateNotSustained},
		{"aborted sender", rep(0, 100, 0, -1, 1, true), JudgeInput{MinRateRatio: 0.9}, StatusRateNotSustained, ExitRateNotSustained},
		{"during failed", rep(0, 100, 0, -1, 1, false), JudgeInput{MinRateRatio: 0.9, DuringFailed: true}, StatusDuringFailed, ExitDuringFailed},
		{"interrupted first", rep(9, 100, 0, -1, 0.1, false), JudgeInput{MinRateRatio: 0.9, Interrupted: true}, StatusInterrupted, ExitInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.r, tc.in)
			if v.Status != tc.want || v.ExitCode != tc.code {
				t.Errorf("Judge = %+v, want %s (%d)", v, tc.want, tc.code)
			}
			if tc.want != StatusPass && len(v.Reasons) == 0 {
				t.Error("a failing verdict must say why")
			}
		})
	}
}

func TestWriteJSON_hasTheDocumentedTopLevelFields(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schemaVersion", "config", "start", "end", "durationSeconds", "totals", "rate", "latencyMs", "seconds", "events", "lanes", "verdict"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if m["schemaVersion"] != "zerodrop.dev/verify/v1" {
		t.Errorf("schemaVersion %v", m["schemaVersion"])
	}
}

func TestWriteText_listsErrorSecondsAndTimeline(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"http_502", "seconds with errors (5 of 30)", "SIGTERM sent to pod web-a", "verdict: errorBudgetExceeded (exit 2)", "achieved 100.0/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
