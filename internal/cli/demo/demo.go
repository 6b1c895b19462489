// Package demo is the `zerodrop demo` subcommand: a local cluster, one
// HAProxy and zerodrop's controller on this machine, the same app run three
// ways (no zerodrop, the static preStop-sleep recipe, zerodrop), and real
// rollouts under load in each, measured with zerodrop verify's engine.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerodrop/zerodrop/internal/demo"
	"github.com/zerodrop/zerodrop/internal/localcluster"
)

type flags struct {
	scenario      string
	out           string
	binDir        string
	provider      string
	imageDir      string
	printScenario bool
	realNodes     bool
}

// NewCommand returns the demo subcommand.
func NewCommand(ctx context.Context) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show zero dropped requests in real rollouts on this machine, with and without zerodrop",
		Long: `demo starts a local Kubernetes control plane with virtual nodes, one HAProxy
and zerodrop's controller, runs the same app three ways — no zerodrop (plain
endpoint sync), the static preStop-sleep recipe, and zerodrop — and does a
rolling update, a scale-in and a node drain in each under constant load
through HAProxy. It prints the failed requests and rollout durations side by
side and writes verify's JSON and HTML report of every run to --out.

Everything it starts listens on 127.0.0.0/8 and is stopped on exit, Ctrl-C
included. Needs Debian's haproxy and the control-plane binaries in bin/
(make deps).

With --real-nodes the nodes are real kubelets (bin/kubelet, hack/build-node.sh)
with containerd, runc and the bridge CNI plugin, and the pods real processes
(podapp) from images imported from --image-dir (make demo-real builds them).
The demo then runs itself again inside a network namespace it creates, with
the pod network on 10.244.0.0/16 inside it, and removes the namespace and
everything in it on exit (and what a crashed run left, on the next start).
Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(ctx, cmd.OutOrStdout()) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scenario, "scenario", "", "scenario YAML file (default: the built-in scenario; see --print-scenario)")
	fl.StringVar(&f.out, "out", "", "directory for the reports (default: a new temporary directory, printed)")
	fl.StringVar(&f.binDir, "bin-dir", "", "directory with etcd, kube-apiserver, kube-controller-manager and kube-scheduler (default: $ZERODROP_BIN_DIR, $KUBEBUILDER_ASSETS or the nearest bin/)")
	fl.StringVar(&f.provider, "provider", "", "load balancer: haproxy, or elbv2 (emulated ALB target groups whose health checks a real HAProxy does, driven through the AWS SDK, plus zerodrop observing a target group a plain syncer registers); default: the scenario's, else haproxy")
	fl.BoolVar(&f.printScenario, "print-scenario", false, "print the built-in scenario (of --provider) and exit")
	fl.BoolVar(&f.realNodes, "real-nodes", false, "run the nodes as real kubelets with containerd (root; see above)")
	fl.StringVar(&f.imageDir, "image-dir", "", "directory with "+demo.PodAppImageFile+" and "+demo.InjectorImageFile+" for --real-nodes (default: the --bin-dir)")
	return cmd
}

func (f *flags) run(ctx context.Context, out io.Writer) error {
	if f.printScenario {
		_, err := out.Write(demo.DefaultScenarioYAMLFor(f.provider))
		return err
	}
	if f.realNodes && !localcluster.InNetwork() {
		code, err := localcluster.RunInNetwork(ctx)
		if err != nil {
			return err
		}
		if code != 0 {
			return exitCode(code)
		}
		return nil
	}
	s, err := f.loadScenario()
	if err != nil {
		return err
	}
	if f.out == "" {
		if f.out, err = os.MkdirTemp("", "zerodrop-demo-out-"); err != nil {
			return fmt.Errorf("creating output directory: %w", err)
		}
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("creating --out: %w", err)
	}
	logFile, err := os.Create(filepath.Join(f.out, "controller.log"))
	if err != nil {
		return fmt.Errorf("creating controller log: %w", err)
	}
	defer logFile.Close()
	logger := zap.New(zap.WriteTo(logFile))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger) // client-go's own messages (watch ends) go there too
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the zerodrop binary: %w", err)
	}
	began := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	progress("reports and controller log go to %s", f.out)
	// Node ranges 40+ keep the demo clear of the tests' local clusters.
	opts := demo.Options{ZerodropBinary: self, BinDir: f.binDir, FirstNodeIndex: 40, Progress: progress, RealNodes: f.realNodes}
	if f.realNodes {
		if opts.Images, err = f.images(); err != nil {
			return err
		}
	}
	env, err := demo.Setup(ctx, s, opts)
	if err != nil {
		return err
	}
	defer func() {
		progress("stopping the controller, HAProxy and the local cluster")
		_ = env.Close()
	}()
	res, runErr := env.Run(ctx, f.out)
	if res != nil && len(res.Kinds) > 0 {
		fmt.Fprintln(out)
		if f.realNodes {
			if summary, err := env.NodeSummary(ctx); err == nil {
				fmt.Fprintf(out, "nodes: %s\n\n", summary)
			}
		}
		if err := demo.WriteTable(out, res); err != nil {
			return err
		}
		fmt.Fprintln(out)
		if err := demo.WriteDetails(out, res); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nreports (verify JSON and HTML, one per rollout kind and mode): %s\n", f.out)
	}
	if errors.Is(runErr, context.Canceled) {
		return errors.New("interrupted")
	}
	if runErr != nil {
		return runErr
	}
	progress("demo finished")
	return nil
}

// images returns the real nodes' image files.
func (f *flags) images() ([]string, error) {
	dir := f.imageDir
	if dir == "" {
		dir = f.binDir
	}
	if dir == "" {
		var err error
		if dir, err = localcluster.FindBinDir(); err != nil {
			return nil, err
		}
	}
	paths := demo.RealNodeImages(dir)
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("real nodes need the image %s (make demo-real builds it): %w", p, err)
		}
	}
	return paths, nil
}

// exitCode is the exit code of the demo run inside its network namespace.
type exitCode int

func (c exitCode) Error() string {
	return fmt.Sprintf("the demo inside its network namespace exited with code %d", int(c))
}

// ExitCode returns the code.
func (c exitCode) ExitCode() int { return int(c) }

func (f *flags) loadScenario() (*demo.Scenario, error) {
	if f.scenario == "" {
		return demo.DefaultScenarioFor(f.provider)
	}
	s, err := demo.LoadScenario(f.scenario)
	if err != nil || f.provider == "" {
		return s, err
	}
	s.Provider = f.provider
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("--scenario %s with --provider %s: %w", f.scenario, f.provider, err)
	}
	return s, nil
}
