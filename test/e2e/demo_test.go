package e2e

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/demo"
)

// minRequests is the least load every rollout kind must carry per mode for
// a "zero failures" claim to mean something.
const minRequests = 10_000

// drainSlack is how far deletion→SIGTERM may be from HAProxy's own drain
// time (issue 5): the drain endpoint's poll (100 ms), the controller's
// poll (100 ms), the tracker's poll (50 ms) and scheduling on a loaded
// machine.
const drainSlack = time.Second

// TestDemo_ZerodropDropsNothingWhereThePlainSyncDrops runs the default
// scenario once: every rollout kind in every mode, side by side, under the
// same load. Zerodrop must lose none of at least 10,000 requests per kind
// while the plain endpoint sync, in the same run, loses some in each kind;
// and with the app exiting the instant it gets SIGTERM and no preStop of its own, each
// deleted zerodrop pod's deletion→SIGTERM must follow HAProxy's measured
// drain of that pod within a second.
func TestDemo_ZerodropDropsNothingWhereThePlainSyncDrops(t *testing.T) {
	requirements(t)
	s, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	env := setup(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := env.Run(ctx, t.TempDir())
	if res != nil {
		_ = demo.WriteTable(os.Stderr, res)
		_ = demo.WriteDetails(os.Stderr, res)
	}
	if err != nil {
		t.Fatalf("demo run: %v", err)
	}
	if len(res.Kinds) != 3 {
		t.Fatalf("ran %d rollout kinds, want 3", len(res.Kinds))
	}
	for _, k := range res.Kinds {
		zd := checkZeroBesideBaseline(t, k, "")
		if len(zd.Pods) == 0 {
			t.Errorf("%s: no zerodrop pod was deleted during the rollout", k.Kind)
		}
		for _, p := range zd.Pods {
			if !p.HasLBDrain {
				t.Errorf("%s: pod %s: HAProxy's removal of %s was not seen", k.Kind, p.Name, p.Addr)
				continue
			}
			gap := p.DeletionToSIGTERM - p.LBDrain
			t.Logf("%s: pod %s deletion→SIGTERM %s, HAProxy drained after %s (SIGTERM %+dms after the drain)",
				k.Kind, p.Name, p.DeletionToSIGTERM.Round(time.Millisecond), p.LBDrain.Round(time.Millisecond), gap.Milliseconds())
			if math.Abs(float64(gap)) > float64(drainSlack) {
				t.Errorf("%s: pod %s: deletion→SIGTERM %s is not within %s of HAProxy's drain time %s",
					k.Kind, p.Name, p.DeletionToSIGTERM, drainSlack, p.LBDrain)
			}
		}
	}
}

// checkZeroBesideBaseline checks rollout kind k of a run: the zerodrop mode
// carried at least minRequests and lost none, while the plain endpoint
// sync, in the same run, lost some (or the zero proves nothing about this
// machine and this load); where says where the run was ("" or e.g. "on
// real nodes"). It returns the zerodrop mode's result.
func checkZeroBesideBaseline(t *testing.T, k demo.KindResult, where string) *demo.ModeResult {
	t.Helper()
	zd, none := k.Mode(demo.ModeZerodrop), k.Mode(demo.ModeNone)
	if where != "" {
		where = " " + where
	}
	if zd.Sent < minRequests {
		t.Errorf("%s%s: zerodrop carried %d requests, want at least %d", k.Kind, where, zd.Sent, minRequests)
	}
	if zd.Failed != 0 {
		t.Errorf("%s%s: zerodrop lost %d of %d requests (%v), want 0", k.Kind, where, zd.Failed, zd.Sent, zd.ByClass)
	}
	if none.Failed == 0 {
		t.Errorf("%s%s: the plain endpoint sync lost no request: the load or the app does not expose the problem", k.Kind, where)
	}
	t.Logf("%s%s: zerodrop %d/%d failed, no zerodrop %d/%d failed", k.Kind, where, zd.Failed, zd.Sent, none.Failed, none.Sent)
	return zd
}
