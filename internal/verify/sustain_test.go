package verify_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify"
	"github.com/zerodrop/zerodrop/internal/verify/faultserver"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

var measureSustained = flag.Bool("verify.sustained", false, "measure the highest rate the engine sustains on this machine (slow, noisy)")

func TestRun_Execute_reportsARateThisMachineCannotSustain(t *testing.T) {
	srv := faultserver.Start(t, "127.43.2.1", faultserver.Behavior{})
	// A million requests per second is far beyond two cores: the sender
	// falls behind and the run must stop and say so rather than report a
	// lower rate as if it were the one asked for.
	rep := runOrFail(t, verify.Config{
		Targets: []verify.Target{{URL: srv.URL}}, Rate: verify.MaxRate, Duration: time.Second,
		Timeout: 2 * time.Second, KeepAlive: true, MaxScheduleLag: 300 * time.Millisecond, SkipProbe: true,
	})
	if rep.Verdict.Status != report.StatusRateNotSustained || rep.Verdict.ExitCode != report.ExitRateNotSustained || !rep.Rate.Aborted {
		t.Fatalf("verdict %+v, rate %+v: want rateNotSustained", rep.Verdict, rep.Rate)
	}
	if rep.Totals.Requests >= int64(verify.MaxRate) || rep.Rate.Achieved >= float64(verify.MaxRate)*0.9 {
		t.Errorf("sent %d at %.0f/s: cannot have sustained %d/s", rep.Totals.Requests, rep.Rate.Achieved, verify.MaxRate)
	}
	t.Logf("asked %d/s: sent %d, achieved %.0f/s, verdict %v", verify.MaxRate, rep.Totals.Requests, rep.Rate.Achieved, rep.Verdict.Reasons)

	// The same server at a modest rate passes the rate check (2 s, so a
	// 100 ms stall of a busy machine stays inside the 0.9 ratio).
	ok := runOrFail(t, verify.Config{Targets: []verify.Target{{URL: srv.URL}}, Rate: 100, Duration: 2 * time.Second, KeepAlive: true, SkipProbe: true})
	if ok.Verdict.Status != report.StatusPass {
		t.Errorf("100/s: verdict %+v, rate %+v", ok.Verdict, ok.Rate)
	}
}

// TestMeasureSustainedRate prints, for rising rates, the achieved/requested
// ratio against a fast local server. Run it with
//
//	go test ./internal/verify -run TestMeasureSustainedRate -verify.sustained -v
func TestMeasureSustainedRate(t *testing.T) {
	if !*measureSustained {
		t.Skip("a measurement, not a test: pass -verify.sustained to run it")
	}
	ln, err := net.Listen("tcp", "127.43.2.2:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Shutdown(context.Background()) })
	url := fmt.Sprintf("http://%s/", ln.Addr())

	best := 0
	for _, keepAlive := range []bool{true, false} {
		for _, rate := range []int{1000, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000, 50000} {
			rep := runOrFail(t, verify.Config{Targets: []verify.Target{{URL: url}}, Rate: rate, Duration: 3 * time.Second,
				Timeout: 2 * time.Second, KeepAlive: keepAlive, SkipProbe: true, MaxErrors: -1, MaxErrorRate: -1})
			t.Logf("keep-alive %-5t rate %6d/s: sent %7d achieved %9.1f/s ratio %.3f max lag %7.1f ms failed %d p99 %.1f ms verdict %s",
				keepAlive, rate, rep.Totals.Requests, rep.Rate.Achieved, rep.Rate.Ratio, rep.Rate.MaxScheduleLagMs, rep.Totals.Failed, rep.LatencyMs.P99, rep.Verdict.Status)
			if rep.Verdict.Status != report.StatusPass || rep.Rate.Ratio < 0.98 || rep.Totals.Failed > 0 {
				break
			}
			if keepAlive {
				best = max(best, rate)
			}
		}
	}
	t.Logf("highest rate sustained with keep-alive (ratio >= 0.98, no errors): %d/s", best)
}
