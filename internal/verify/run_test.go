package verify_test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify"
	"github.com/zerodrop/zerodrop/internal/verify/classify"
	"github.com/zerodrop/zerodrop/internal/verify/faultserver"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// runOrFail executes cfg and fails the test on an error.
func runOrFail(t *testing.T, cfg verify.Config) *report.Report {
	t.Helper()
	run, err := verify.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := run.Execute(ctx)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return rep
}

func TestRun_Execute_countsEveryFailureClassExactly(t *testing.T) {
	const host = "127.43.1.1"
	targets := []struct {
		url  string
		want classify.Class
	}{
		{faultserver.Start(t, host, faultserver.Behavior{}).URL, classify.OK},
		{faultserver.Start(t, host, faultserver.Behavior{Status: 502}).URL, classify.HTTP502},
		{faultserver.Start(t, host, faultserver.Behavior{Status: 503}).URL, classify.HTTP503},
		{faultserver.Start(t, host, faultserver.Behavior{Status: 504}).URL, classify.HTTP504},
		{faultserver.Start(t, host, faultserver.Behavior{Status: 500}).URL, classify.HTTP5xx},
		{faultserver.Start(t, host, faultserver.Behavior{Status: 404}).URL, classify.HTTP4xx},
		{faultserver.RefusedURL(t, host), classify.Refused},
		{faultserver.Start(t, host, faultserver.Behavior{Reset: true}).URL, classify.Reset},
		{faultserver.Start(t, host, faultserver.Behavior{Hang: true}).URL, classify.Timeout},
		{faultserver.Start(t, host, faultserver.Behavior{CloseAfterRequest: true}).URL, classify.EOF},
	}
	for _, keepAlive := range []bool{true, false} {
		name := map[bool]string{true: "keep-alive", false: "connection per request"}[keepAlive]
		t.Run(name, func(t *testing.T) {
			// The timeout is far above a healthy answer's latency on a busy
			// machine, so only the hanging target times out.
			cfg := verify.Config{Rate: 200, Duration: 2 * time.Second, Timeout: 2 * time.Second, KeepAlive: keepAlive, SkipProbe: true, MaxErrors: 0}
			want := map[string]classify.Class{}
			for _, tg := range targets {
				cfg.Targets = append(cfg.Targets, verify.Target{URL: tg.url})
				want[tg.url] = tg.want
			}
			var mu sync.Mutex
			wrong := map[string]int{}
			cfg.OnResult = func(r verify.Result) {
				if r.Class != want[r.URL] {
					mu.Lock()
					wrong[r.URL+" got "+string(r.Class)]++
					mu.Unlock()
					if len(wrong) < 3 {
						t.Logf("seq %d %s: code %d err %v -> %s", r.Seq, r.URL, r.Code, r.Err, r.Class)
					}
				}
			}
			rep := runOrFail(t, cfg)

			if rep.Totals.Requests != 400 {
				t.Errorf("sent %d requests, want exactly 400 (200/s for 2s)", rep.Totals.Requests)
			}
			for _, c := range classify.All() {
				want := int64(40)
				if c == classify.TransportOther {
					want = 0 // no server here produces it
				}
				if got := rep.Totals.ByClass[c]; got != want {
					t.Errorf("class %s: %d requests, want %d", c, got, want)
				}
			}
			if len(wrong) > 0 {
				t.Errorf("misclassified: %v", wrong)
			}
			if rep.Totals.OK != 40 || rep.Totals.Failed != 360 {
				t.Errorf("ok %d failed %d, want 40 and 360", rep.Totals.OK, rep.Totals.Failed)
			}
			if rep.Rate.Ratio < 0.8 || rep.Rate.Ratio > 1.25 {
				t.Errorf("achieved rate %.1f/s, ratio %.3f: want 200/s give or take a scheduling stall", rep.Rate.Achieved, rep.Rate.Ratio)
			}
			if rep.Verdict.Status != report.StatusErrorBudgetExceeded || rep.Verdict.ExitCode != report.ExitErrorBudgetExceeded {
				t.Errorf("verdict %+v, want errorBudgetExceeded", rep.Verdict)
			}
			t.Logf("%s: %d requests, achieved %.1f/s (ratio %.3f), max lag %.1f ms, by class %v",
				name, rep.Totals.Requests, rep.Rate.Achieved, rep.Rate.Ratio, rep.Rate.MaxScheduleLagMs, rep.Totals.ByClass)
		})
	}
}

func TestRun_Execute_passesWithinBudgetAndFailsBeyondIt(t *testing.T) {
	const host = "127.43.1.2"
	// Every 10th request fails.
	srv := faultserver.Start(t, host, faultserver.Behavior{FailStatus: 503, Fail: func(seq int64) bool { return seq%10 == 0 }})
	// The rate check is not what this test is about: a stall of a busy
	// machine must not turn a budget verdict into rateNotSustained.
	base := verify.Config{Targets: []verify.Target{{URL: srv.URL}}, Rate: 100, Duration: time.Second, Timeout: time.Second, KeepAlive: true, MinRateRatio: 0.5}
	for _, tc := range []struct {
		name         string
		maxErrors    int64
		maxErrorRate float64
		want         string
	}{
		{"zero budget fails", 0, -1, report.StatusErrorBudgetExceeded},
		{"budget of 10 errors passes", 10, -1, report.StatusPass},
		{"budget of 9 errors fails", 9, -1, report.StatusErrorBudgetExceeded},
		{"rate budget 0.1 passes", -1, 0.1, report.StatusPass},
		{"rate budget 0.05 fails", -1, 0.05, report.StatusErrorBudgetExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.MaxErrors, cfg.MaxErrorRate = tc.maxErrors, tc.maxErrorRate
			rep := runOrFail(t, cfg)
			if rep.Totals.Requests != 100 || rep.Totals.ByClass[classify.HTTP503] != 10 {
				t.Fatalf("requests %d, 503s %d: want 100 and 10", rep.Totals.Requests, rep.Totals.ByClass[classify.HTTP503])
			}
			if rep.Verdict.Status != tc.want {
				t.Errorf("verdict %+v, want %s", rep.Verdict, tc.want)
			}
		})
	}
}

func TestRun_Execute_bucketsErrorsIntoTheSecondsTheyWereSent(t *testing.T) {
	const (
		host = "127.43.1.3"
		rate = 100
	)
	// Requests 200..299 are due in second 2 (request k is due at k/rate).
	srv := faultserver.Start(t, host, faultserver.Behavior{FailStatus: 503, Fail: func(seq int64) bool { return seq >= 200 && seq < 300 }})
	var (
		mu      sync.Mutex
		results []verify.Result
	)
	cfg := verify.Config{
		Targets: []verify.Target{{URL: srv.URL}}, Rate: rate, Duration: 5 * time.Second, Timeout: time.Second, KeepAlive: true, MaxErrors: -1, MaxErrorRate: -1,
		OnResult: func(r verify.Result) { mu.Lock(); results = append(results, r); mu.Unlock() },
	}
	rep := runOrFail(t, cfg)
	if rep.Totals.Requests != 500 || rep.Totals.Failed != 100 || srv.Failed.Load() != 100 {
		t.Fatalf("requests %d, failed %d, server failed %d: want 500, 100, 100", rep.Totals.Requests, rep.Totals.Failed, srv.Failed.Load())
	}
	// Recompute the per-second counts from each request's own send time.
	perSecond := map[int][2]int64{} // second -> sent, failed
	for _, r := range results {
		s := int(r.Sent.Sub(rep.Start) / time.Second)
		c := perSecond[s]
		c[0]++
		if r.Class.Failed() {
			c[1]++
			if r.Seq < 200 || r.Seq >= 300 {
				t.Errorf("request %d failed (%s) outside the failing window", r.Seq, r.Class)
			}
		}
		perSecond[s] = c
	}
	for _, s := range rep.Seconds {
		if got := perSecond[s.Second]; got[0] != s.Sent || got[1] != s.Failed {
			t.Errorf("second %d: report says sent %d failed %d, request timestamps say sent %d failed %d", s.Second, s.Sent, s.Failed, got[0], got[1])
		}
	}
	// A request is never sent before it is due, and late only by the
	// schedule lag: the 503s sit in second 2, or spill into the next
	// seconds on a machine so loaded that the sender lagged.
	lastSecond := 2 + int(math.Ceil(rep.Rate.MaxScheduleLagMs/1000))
	for _, s := range rep.Seconds {
		inWindow := s.Second >= 2 && s.Second <= lastSecond
		if s.Failed > 0 && !inWindow {
			t.Errorf("second %d has %d errors; the failing window was second 2 (max lag %.0f ms)", s.Second, s.Failed, rep.Rate.MaxScheduleLagMs)
		}
		if s.ByClass[classify.HTTP503] != s.Failed {
			t.Errorf("second %d: failures other than 503: %v", s.Second, s.ByClass)
		}
	}
	if rep.Seconds[0].Failed != 0 || rep.Seconds[1].Failed != 0 || rep.Seconds[2].Failed == 0 {
		t.Errorf("seconds 0 and 1 must be clean and second 2 must fail: %+v", rep.Seconds[:3])
	}
	t.Logf("errors per second: %v (max schedule lag %.1f ms)", func() []int64 {
		var out []int64
		for _, s := range rep.Seconds {
			out = append(out, s.Failed)
		}
		return out
	}(), rep.Rate.MaxScheduleLagMs)
}

func TestRun_Execute_probeRefusesUnreachableTargets(t *testing.T) {
	const host = "127.43.1.4"
	ok := faultserver.Start(t, host, faultserver.Behavior{Status: 503})
	for _, tc := range []struct {
		name      string
		url       string
		wantClass classify.Class
	}{
		{"refused", faultserver.RefusedURL(t, host), classify.Refused},
		{"hanging", faultserver.Start(t, host, faultserver.Behavior{Hang: true}).URL, classify.Timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, err := verify.New(verify.Config{Targets: []verify.Target{{URL: ok.URL}, {URL: tc.url}}, Rate: 10, Duration: time.Second, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := run.Execute(context.Background())
			var ue *verify.UnreachableError
			if !errors.As(err, &ue) || ue.URL != tc.url || ue.Class != tc.wantClass || ue.ExitCode() != report.ExitTargetUnreachable || rep != nil {
				t.Fatalf("Execute = %v, %v; want UnreachableError for %s (%s)", rep, err, tc.url, tc.wantClass)
			}
		})
	}
	// The same probe passes a target that answers, even with 503.
	run, err := verify.New(verify.Config{Targets: []verify.Target{{URL: ok.URL}}, Rate: 10, Duration: 500 * time.Millisecond, MaxErrors: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Execute(context.Background()); err != nil {
		t.Fatalf("a target answering 503 is reachable: %v", err)
	}
}

func TestNew_rejectsBadConfig(t *testing.T) {
	good := verify.Target{URL: "http://127.43.1.5:1/"}
	for _, tc := range []struct {
		name string
		cfg  verify.Config
	}{
		{"no targets", verify.Config{Rate: 1, Duration: time.Second}},
		{"malformed url", verify.Config{Targets: []verify.Target{{URL: "http://[::1"}}, Rate: 1, Duration: time.Second}},
		{"no scheme", verify.Config{Targets: []verify.Target{{URL: "127.0.0.1:80"}}, Rate: 1, Duration: time.Second}},
		{"ftp scheme", verify.Config{Targets: []verify.Target{{URL: "ftp://x/"}}, Rate: 1, Duration: time.Second}},
		{"no host", verify.Config{Targets: []verify.Target{{URL: "http:///path"}}, Rate: 1, Duration: time.Second}},
		{"zero rate", verify.Config{Targets: []verify.Target{good}, Rate: 0, Duration: time.Second}},
		{"huge rate", verify.Config{Targets: []verify.Target{good}, Rate: verify.MaxRate + 1, Duration: time.Second}},
		{"zero duration", verify.Config{Targets: []verify.Target{good}, Rate: 1}},
		{"warm-up longer than duration", verify.Config{Targets: []verify.Target{good}, Rate: 1, Duration: time.Second, Warmup: 2 * time.Second, During: &verify.Step{Name: "x"}}},
		{"error rate above 1", verify.Config{Targets: []verify.Target{good}, Rate: 1, Duration: time.Second, MaxErrorRate: 2}},
		{"negative idle timeout", verify.Config{Targets: []verify.Target{good}, Rate: 1, Duration: time.Second, KeepAlive: true, IdleTimeout: -time.Second}},
		{"method with space", verify.Config{Targets: []verify.Target{{URL: good.URL, Method: "GE T"}}, Rate: 1, Duration: time.Second}},
	} {
		if _, err := verify.New(tc.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
	if _, err := verify.New(verify.Config{Targets: []verify.Target{good}, Rate: 1, Duration: time.Second}); err != nil {
		t.Errorf("New rejected a good config: %v", err)
	}
}

func TestRun_Execute_keepsSendingOnScheduleWhenEveryRequestStalls(t *testing.T) {
	// Open model: a backend that never answers must cost errors, not
	// requests. 100/s for 1 s with a 2 s timeout: all 100 requests leave
	// on schedule although none has returned when the last one is sent.
	srv := faultserver.Start(t, "127.43.1.6", faultserver.Behavior{Hang: true})
	rep := runOrFail(t, verify.Config{Targets: []verify.Target{{URL: srv.URL}}, Rate: 100, Duration: time.Second,
		Timeout: 2 * time.Second, KeepAlive: true, SkipProbe: true})
	if rep.Totals.Requests != 100 || rep.Totals.ByClass[classify.Timeout] != 100 {
		t.Fatalf("sent %d, timeouts %d: want 100 and 100", rep.Totals.Requests, rep.Totals.ByClass[classify.Timeout])
	}
	if rep.Rate.Ratio < 0.8 {
		t.Errorf("sending slowed down behind a stalled backend: achieved %.1f/s (ratio %.3f)", rep.Rate.Achieved, rep.Rate.Ratio)
	}
	if got := srv.Requests.Load(); got != 100 {
		t.Errorf("the server received %d requests, want 100", got)
	}
}

func TestRun_Execute_controlsConnectionReuse(t *testing.T) {
	for _, tc := range []struct {
		keepAlive bool
		check     func(conns int64) bool
		want      string
	}{
		{true, func(c int64) bool { return c >= 1 && c <= 20 }, "a few reused connections"},
		{false, func(c int64) bool { return c == 100 }, "one connection per request"},
	} {
		srv := faultserver.Start(t, "127.43.1.7", faultserver.Behavior{})
		rep := runOrFail(t, verify.Config{Targets: []verify.Target{{URL: srv.URL}}, Rate: 100, Duration: time.Second, KeepAlive: tc.keepAlive, SkipProbe: true})
		if rep.Totals.OK != 100 {
			t.Fatalf("keep-alive %t: %d ok of %d", tc.keepAlive, rep.Totals.OK, rep.Totals.Requests)
		}
		if c := srv.Conns.Load(); !tc.check(c) {
			t.Errorf("keep-alive %t: %d connections for 100 requests, want %s", tc.keepAlive, c, tc.want)
		} else {
			t.Logf("keep-alive %t: %d connections for 100 requests", tc.keepAlive, c)
		}
	}
}

// TestRun_Execute_idleTimeoutClosesIdleConnections: with keep-alive, a
// connection idle longer than IdleTimeout is closed by the client, so a
// request 200 ms after the last one opens a new connection when the idle
// timeout is 20 ms, and reuses the old one with the default.
func TestRun_Execute_idleTimeoutClosesIdleConnections(t *testing.T) {
	for _, tc := range []struct {
		idle  time.Duration
		check func(conns int64) bool
		want  string
	}{
		{20 * time.Millisecond, func(c int64) bool { return c >= 4 }, "a new connection for (nearly) every request"},
		{0, func(c int64) bool { return c <= 2 }, "one reused connection"},
	} {
		srv := faultserver.Start(t, "127.43.1.8", faultserver.Behavior{})
		rep := runOrFail(t, verify.Config{Targets: []verify.Target{{URL: srv.URL}}, Rate: 5, Duration: time.Second,
			KeepAlive: true, IdleTimeout: tc.idle, SkipProbe: true, MinRateRatio: 0.5})
		if rep.Totals.OK != 5 {
			t.Fatalf("idle timeout %s: %d ok of %d", tc.idle, rep.Totals.OK, rep.Totals.Requests)
		}
		if c := srv.Conns.Load(); !tc.check(c) {
			t.Errorf("idle timeout %s: %d connections for 5 requests 200 ms apart, want %s", tc.idle, c, tc.want)
		}
		if want := cmp.Or(tc.idle, verify.DefaultIdleTimeout).Seconds(); rep.Config.IdleTimeoutSeconds != want {
			t.Errorf("report idleTimeoutSeconds %g, want %g", rep.Config.IdleTimeoutSeconds, want)
		}
	}
}

// TestRun_Execute_recordsTheConnectionOfAFailure: a server that answers a
// connection's first request and closes it on reading the second makes
// every second POST fail with EOF on a reused connection (net/http does
// not retry a POST); the result says so, with the time the connection lay
// idle, and a request that succeeded carries no connection record.
func TestRun_Execute_recordsTheConnectionOfAFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.43.1.9:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for i := range 2 {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if i == 1 {
						return // the second request: close without a byte
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	var mu sync.Mutex
	var failed, wrong []verify.Result
	rep := runOrFail(t, verify.Config{
		Targets: []verify.Target{{URL: "http://" + ln.Addr().String() + "/", Method: http.MethodPost}},
		Rate:    5, Duration: 2 * time.Second, KeepAlive: true, SkipProbe: true, MinRateRatio: 0.5, MaxErrors: -1, MaxErrorRate: -1,
		OnResult: func(r verify.Result) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Class == classify.OK && r.Conn != (verify.ConnInfo{}):
				wrong = append(wrong, r)
			case r.Class == classify.EOF:
				failed = append(failed, r)
			case r.Class != classify.OK:
				wrong = append(wrong, r)
			}
		},
	})
	if len(failed) < 3 || rep.Totals.OK < 3 {
		t.Fatalf("%d EOF and %d ok of %d requests, want about half of each", len(failed), rep.Totals.OK, rep.Totals.Requests)
	}
	for _, r := range failed {
		if !r.Conn.Got || !r.Conn.Reused || r.Conn.IdleTime <= 0 {
			t.Errorf("seq %d failed with %v on %+v, want a reused connection with its idle time", r.Seq, r.Err, r.Conn)
		}
	}
	for _, r := range wrong {
		t.Errorf("seq %d: class %s, err %v, conn %+v: want ok with no connection record, or EOF", r.Seq, r.Class, r.Err, r.Conn)
	}
}
