//go:build realnode

package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/demo"
	"github.com/zerodrop/zerodrop/internal/localcluster"
)

// The real-node lane (`make test-real`, or go test -tags realnode -run
// TestRealNodes ./test/e2e): the same claims as the demo test, on real
// kubelets with containerd and runc. It needs root, containerd, runc, the
// CNI plugins and bin/kubelet (make deps-real). It is not part of `make
// test`: the build tag keeps it out.

// enterRealNodeNetwork runs the test binary again inside a network
// namespace of its own (localcluster.RunInNetwork) and reports its exit
// code; inside, it returns done=false and the tests run.
func enterRealNodeNetwork() (code int, done bool) {
	if localcluster.InNetwork() {
		return 0, false
	}
	code, err := localcluster.RunInNetwork(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "real-node e2e:", err)
		return 1, true
	}
	return code, true
}

// realNodeRequirements fails (never skips) when the machine lacks what real
// nodes need, saying what to run.
func realNodeRequirements(tb testing.TB) {
	tb.Helper()
	requirements(tb)
	if os.Geteuid() != 0 {
		tb.Fatal("real nodes need root")
	}
	for _, p := range []string{"/usr/bin/containerd", "/usr/sbin/runc", "/usr/lib/cni/bridge", filepath.Join("..", "..", "bin", "kubelet")} {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("real nodes need %s: run make deps-real (%v)", p, err)
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Fatal("real nodes need iproute2: hack/install-debs.sh iproute2")
	}
}

// realNodeImages builds the images real nodes run into a directory of the
// test.
func realNodeImages(tb testing.TB) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	paths, err := demo.BuildRealNodeImages(ctx, filepath.Join("..", ".."), tb.TempDir())
	if err != nil {
		tb.Fatalf("building the real nodes' images: %v", err)
	}
	tb.Logf("real nodes' images built in %s", time.Since(began).Round(time.Millisecond))
	return paths
}

// TestRealNodes_RollingUpdateZerodropDropsNothingPlainSyncDrops runs the
// demo's rolling update on two real kubelets, zerodrop and the plain
// endpoint sync side by side under the same load: zerodrop must lose none of at least 10,000 requests while the
// plain endpoint sync loses some, and every deleted zerodrop pod's SIGTERM
// (the app's own log) must come within a second of HAProxy's drain of it.
func TestRealNodes_RollingUpdateZerodropDropsNothingPlainSyncDrops(t *testing.T) {
	realNodeRequirements(t)
	images := realNodeImages(t)
	s, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	// The two modes the claim compares, on two nodes: a real node costs
	// far more of this shared machine than a virtual one.
	s.Rollouts = []demo.RolloutKind{demo.RollingUpdate}
	s.Nodes = 2
	began := time.Now()
	env := setup(t, s, func(o *demo.Options) {
		o.RealNodes, o.Images = true, images
		o.Modes = []demo.Mode{demo.ModeNone, demo.ModeZerodrop}
	})
	t.Logf("environment on %d real nodes ready in %s", s.Nodes, time.Since(began).Round(time.Millisecond))
	summary, err := env.NodeSummary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nodes: %s", summary)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := os.MkdirTemp("", "zerodrop-realnode-reports-")
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.Run(ctx, out)
	if res != nil {
		_ = demo.WriteTable(os.Stderr, res)
		_ = demo.WriteDetails(os.Stderr, res)
		for _, k := range res.Kinds {
			for _, m := range k.Modes {
				t.Logf("%s / %s: %d/%d failed %v, rollout %s, err %v", k.Kind, m.Mode, m.Failed, m.Sent, m.ByClass, m.Rollout.Round(time.Millisecond), m.Err)
			}
		}
	}
	// The reports stay for a post-mortem when the test fails.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reports kept in %s", out)
			return
		}
		_ = os.RemoveAll(out)
	})
	if err != nil {
		t.Fatalf("demo run on real nodes: %v", err)
	}
	if len(res.Kinds) != 1 {
		t.Fatalf("ran %d rollout kinds, want 1", len(res.Kinds))
	}
	k := res.Kinds[0]
	zd := checkZeroBesideBaseline(t, k, "on real nodes")
	if len(zd.Pods) == 0 {
		t.Error("no zerodrop pod was deleted during the rollout")
	}
	for _, p := range zd.Pods {
		if p.DeletionToSIGTERM == 0 {
			t.Errorf("pod %s: its app logged no SIGTERM the cluster saw", p.Name)
			continue
		}
		if !p.HasLBDrain {
			t.Errorf("pod %s: HAProxy's removal of %s was not seen", p.Name, p.Addr)
			continue
		}
		gap := p.DeletionToSIGTERM - p.LBDrain
		t.Logf("pod %s deletion→SIGTERM %s, HAProxy drained after %s (SIGTERM %+dms after the drain)",
			p.Name, p.DeletionToSIGTERM.Round(time.Millisecond), p.LBDrain.Round(time.Millisecond), gap.Milliseconds())
		if math.Abs(float64(gap)) > float64(drainSlack) {
			t.Errorf("pod %s: deletion→SIGTERM %s is not within %s of HAProxy's drain time %s", p.Name, p.DeletionToSIGTERM, drainSlack, p.LBDrain)
		}
	}
}
