// Package e2e proves zerodrop's central claims end to end on one machine,
// with the demo library: a real control plane with virtual nodes, Debian's
// HAProxy, zerodrop's controller, webhook and injected preStop (the real
// zerodrop binary), and open-model load from verify's engine.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerodrop/zerodrop/internal/demo"
)

// zerodropBinary is the zerodrop executable built once by TestMain (a test
// binary's os.Executable is not zerodrop).
var zerodropBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	// Built with -tags realnode, the tests run again inside a network
	// namespace of their own (realnode_test.go).
	if code, done := enterRealNodeNetwork(); done {
		return code
	}
	dir, err := os.MkdirTemp("", "zerodrop-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(dir, "controller.log")
	f, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(f)))
	if !testing.Short() && wantsE2E() {
		zerodropBinary = filepath.Join(dir, "zerodrop")
		build := exec.Command("go", "build", "-o", zerodropBinary, "./cmd/zerodrop")
		build.Dir = filepath.Join("..", "..")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building zerodrop: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// wantsE2E reports whether a test or benchmark of this package will run:
// the build is skipped for `-run '^$'` without -bench.
func wantsE2E() bool {
	run, bench := flag.Lookup("test.run"), flag.Lookup("test.bench")
	if run != nil && run.Value.String() == "^$" {
		return bench != nil && bench.Value.String() != ""
	}
	return true
}

// requirements skips (or, under CI, fails) when the machine lacks what the
// e2e tests need.
func requirements(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("e2e: starts a control plane, HAProxy and load")
	}
	if _, err := exec.LookPath("haproxy"); err != nil {
		if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatal("haproxy not installed (hack/install-debs.sh haproxy)")
			}
			tb.Skip("haproxy not installed (hack/install-debs.sh haproxy)")
		}
	}
}

// setup starts a demo environment for s, stopped at the end of the test;
// opts adjust its options.
func setup(tb testing.TB, s *demo.Scenario, opts ...func(*demo.Options)) *demo.Environment {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	tb.Cleanup(cancel)
	o := demo.Options{
		ZerodropBinary: zerodropBinary,
		BinDir:         filepath.Join("..", "..", "bin"),
		// localcluster's own tests use the first node ranges; go test runs
		// packages in parallel.
		FirstNodeIndex: 20,
		Progress:       progress(tb),
	}
	for _, f := range opts {
		f(&o)
	}
	env, err := demo.Setup(ctx, s, o)
	if err != nil {
		tb.Fatalf("setting up the demo environment: %v", err)
	}
	tb.Cleanup(func() {
		if err := env.Close(); err != nil {
			tb.Errorf("stopping the demo environment: %v", err)
		}
	})
	return env
}

// progress returns where the environment's progress lines go: the test's
// log, or for a benchmark standard error (the testing package keeps only
// the first ten lines of a benchmark's log, which must be its figures).
func progress(tb testing.TB) func(format string, args ...any) {
	if _, ok := tb.(*testing.B); ok {
		return func(format string, args ...any) { fmt.Fprintf(os.Stderr, "    "+format+"\n", args...) }
	}
	return func(format string, args ...any) { tb.Logf(format, args...) }
}
