package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/demo"
)

// elbv2DrainSlack is how much earlier than the tracker's first sight of a
// target's absence SIGTERM may land and still follow the target group's
// drain: the tracker polls every 50 ms through the provider's view, which
// is refreshed every poll interval (200 ms in the demo).
const elbv2DrainSlack = 300 * time.Millisecond

// TestDemo_ELBv2_ManageAndObserveDropNothingWhereThePlainSyncDrops runs
// `zerodrop demo --provider elbv2`'s scenario: the app behind emulated ALB
// target groups (AWS's Query API driven by the AWS SDK, AWS's target
// states and deregistration delay, a real HAProxy per group doing the
// health checks and carrying the load), every rollout kind in every mode
// side by side. zerodrop managing the target group, and zerodrop only
// observing a target group a plain syncer registers (the AWS Load Balancer
// Controller's stand-in), must each lose none of at least 10,000 requests
// per kind while the plain sync, in the same run, loses some; no deleted
// zerodrop pod may get SIGTERM before its target left draining.
func TestDemo_ELBv2_ManageAndObserveDropNothingWhereThePlainSyncDrops(t *testing.T) {
	requirements(t)
	s, err := demo.DefaultScenarioFor(demo.ProviderELBv2)
	if err != nil {
		t.Fatal(err)
	}
	env := setup(t, s, func(o *demo.Options) { o.FirstNodeIndex = 30 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := env.Run(ctx, t.TempDir())
	if res != nil {
		_ = demo.WriteTable(os.Stderr, res)
		_ = demo.WriteDetails(os.Stderr, res)
	}
	if err != nil {
		t.Fatalf("demo run: %v", err)
	}
	if len(res.Kinds) != len(s.Rollouts) {
		t.Fatalf("ran %d rollout kinds, want %d", len(res.Kinds), len(s.Rollouts))
	}
	for _, k := range res.Kinds {
		none := k.Mode(demo.ModeNone)
		if none.Failed == 0 {
			t.Errorf("%s: the plain sync lost no request: the load or the app does not expose the problem", k.Kind)
		}
		for _, m := range []demo.Mode{demo.ModeZerodrop, demo.ModeObserve} {
			r := k.Mode(m)
			if r.Sent < minRequests {
				t.Errorf("%s/%s: carried %d requests, want at least %d", k.Kind, m, r.Sent, minRequests)
			}
			if r.Failed != 0 {
				t.Errorf("%s/%s: lost %d of %d requests (%v), want 0", k.Kind, m, r.Failed, r.Sent, r.ByClass)
			}
			t.Logf("%s: %s %d/%d failed (rollout %s), plain sync %d/%d failed, static recipe rollout %s",
				k.Kind, m, r.Failed, r.Sent, r.Rollout.Round(100*time.Millisecond), none.Failed, none.Sent,
				k.Mode(demo.ModeStatic).Rollout.Round(100*time.Millisecond))
			if len(r.Pods) == 0 {
				t.Errorf("%s/%s: no pod was deleted during the rollout", k.Kind, m)
			}
			for _, p := range r.Pods {
				if !p.HasLBDrain {
					t.Errorf("%s/%s: pod %s: the target group's release of %s was not seen", k.Kind, m, p.Name, p.Addr)
					continue
				}
				gap := p.DeletionToSIGTERM - p.LBDrain
				t.Logf("%s/%s: pod %s deletion→SIGTERM %s, target left draining after %s (SIGTERM %+dms after)",
					k.Kind, m, p.Name, p.DeletionToSIGTERM.Round(time.Millisecond), p.LBDrain.Round(time.Millisecond), gap.Milliseconds())
				if gap < -elbv2DrainSlack {
					t.Errorf("%s/%s: pod %s got SIGTERM %s before its target left draining", k.Kind, m, p.Name, -gap)
				}
			}
		}
	}
}
