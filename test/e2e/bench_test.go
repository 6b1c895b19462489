package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/demo"
)

// BenchmarkDemo runs the default scenario once and reports, from that one
// run: failed requests per mode; the rolling update's duration with
// zerodrop over the static recipe's, and over the floor (batches × (app
// start-up + rise × check interval) + HAProxy's drain time); and the median
// and 95th percentile of deletion→SIGTERM with zerodrop and with the
// recipe's preStop sleep.
func BenchmarkDemo(b *testing.B) {
	requirements(b)
	s, err := demo.DefaultScenario()
	if err != nil {
		b.Fatal(err)
	}
	env := setup(b, s)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		res, err := env.Run(ctx, b.TempDir())
		cancel()
		if err != nil {
			b.Fatalf("demo run: %v", err)
		}
		_ = demo.WriteTable(os.Stderr, res)
		f := demo.Headline(res)
		for _, m := range demo.Modes() {
			b.ReportMetric(float64(f.Failed[m]), "failed-"+string(m))
			b.Logf("%-14s failed %d of %d requests", m, f.Failed[m], f.Sent[m])
		}
		b.ReportMetric(f.RolloutRatioStatic, "rollout-zerodrop/static")
		b.ReportMetric(f.RolloutRatioFloor, "rollout-zerodrop/floor")
		b.ReportMetric(f.ZerodropSIGTERM.Median.Seconds(), "del→SIGTERM-p50-zerodrop-s")
		b.ReportMetric(f.ZerodropSIGTERM.P95.Seconds(), "del→SIGTERM-p95-zerodrop-s")
		b.ReportMetric(f.StaticSIGTERM.Median.Seconds(), "del→SIGTERM-p50-static-s")
		b.ReportMetric(f.StaticSIGTERM.P95.Seconds(), "del→SIGTERM-p95-static-s")
		b.Logf("rolling update: zerodrop %s, static recipe %s (ratio %.2f), floor %s (ratio %.2f)",
			f.RolloutZerodrop.Round(time.Millisecond), f.RolloutStatic.Round(time.Millisecond), f.RolloutRatioStatic,
			f.Floor.Round(time.Millisecond), f.RolloutRatioFloor)
		b.Logf("deletion→SIGTERM: zerodrop median %s p95 %s (n=%d); sleep recipe median %s p95 %s (n=%d)",
			f.ZerodropSIGTERM.Median.Round(time.Millisecond), f.ZerodropSIGTERM.P95.Round(time.Millisecond), f.ZerodropSIGTERM.N,
			f.StaticSIGTERM.Median.Round(time.Millisecond), f.StaticSIGTERM.P95.Round(time.Millisecond), f.StaticSIGTERM.N)
	}
}
