// Package controller is the `zerodrop controller` subcommand: it runs the
// readiness-gate controller and pod webhook in the cluster (or against any
// kubeconfig).
package controller

import (
	"context"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

type flags struct {
	kubeconfig, context string
	opts                manager.Options
	development         bool
	drainCAFile         string
	verbosity           int
	// injector holds the injected init container's requests and limits.
	injector struct{ cpuRequest, memoryRequest, cpuLimit, memoryLimit string }
}

// NewCommand returns the controller subcommand.
func NewCommand(ctx context.Context) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the readiness-gate controller and pod webhook",
		Long: `Run zerodrop's controller: it registers the pods each TargetBinding selects on
every instance of its LoadBalancer as soon as they have an IP, sets their
readiness gate True once every instance reports them healthy, and drains then
removes the targets of pods that leave. It also serves the pod webhook that
injects the readiness gate, and /healthz, /readyz and Prometheus metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(ctx) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty means in-cluster or $KUBECONFIG")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use")
	fl.StringVar(&f.opts.MetricsAddr, "metrics-bind-address", ":8080", `address of the metrics endpoint ("0" turns it off)`)
	fl.StringVar(&f.opts.ProbeAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" turns them off)`)
	fl.BoolVar(&f.opts.LeaderElection, "leader-elect", true, "elect a leader so that only one replica reconciles")
	fl.StringVar(&f.opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's namespace)")
	fl.StringVar(&f.opts.WebhookHost, "webhook-host", "", "address the webhook listens on (default all)")
	fl.IntVar(&f.opts.WebhookPort, "webhook-port", 9443, "port the webhook listens on")
	fl.StringVar(&f.opts.WebhookCertDir, "webhook-cert-dir", "", "directory holding the webhook's tls.crt and tls.key")
	fl.DurationVar(&f.opts.PollInterval, "poll-interval", manager.DefaultPollInterval, "how often a load balancer is polled while targets are on their way in or out (bounds gate latency)")
	fl.DurationVar(&f.opts.ResyncInterval, "resync-interval", manager.DefaultResyncInterval, "how often a settled binding is checked, to notice load-balancer restarts")
	fl.StringVar(&f.opts.Drain.Image, "injector-image", "", "image holding the static zerodrop binary, for the injected init container, pinned as name:tag (not latest) or name@sha256:digest (empty: no drain-wait injection)")
	fl.StringVar(&f.injector.cpuRequest, "injector-cpu-request", webhook.DefaultInjectorCPURequest, `CPU request of the injected init container ("" for none)`)
	fl.StringVar(&f.injector.memoryRequest, "injector-memory-request", webhook.DefaultInjectorMemoryRequest, `memory request of the injected init container ("" for none)`)
	fl.StringVar(&f.injector.cpuLimit, "injector-cpu-limit", webhook.DefaultInjectorCPULimit, `CPU limit of the injected init container ("" for none)`)
	fl.StringVar(&f.injector.memoryLimit, "injector-memory-limit", webhook.DefaultInjectorMemoryLimit, `memory limit of the injected init container ("" for none)`)
	fl.StringVar(&f.opts.Drain.BinaryInImage, "injector-binary", "/zerodrop", "path of zerodrop inside --injector-image")
	fl.StringVar(&f.opts.Drain.Endpoint, "drain-endpoint", "https://zerodrop-webhook.zerodrop-system.svc/v1/drained", "URL of the drain endpoint as pods reach it")
	fl.StringVar(&f.drainCAFile, "drain-ca-file", "", "PEM CA bundle pods trust for --drain-endpoint (default: system roots)")
	fl.StringVar(&f.opts.ClusterID, "cluster-id", "", "identity of this cluster in the owner tag of every load-balancer target (default: the kube-system namespace's UID); set it to tell apart clusters that share a backend")
	fl.BoolVar(&f.development, "log-development", false, "human-readable logs instead of JSON")
	fl.IntVarP(&f.verbosity, "v", "v", 0, "log verbosity (0 info, 1 debug)")
	return cmd
}

func (f *flags) run(ctx context.Context) error {
	res, err := webhook.InjectorResources(f.injector.cpuRequest, f.injector.memoryRequest, f.injector.cpuLimit, f.injector.memoryLimit)
	if err != nil {
		return fmt.Errorf("injector resources: %w", err)
	}
	f.opts.Drain.Resources = &res
	if err := f.opts.Drain.Validate(); err != nil {
		return fmt.Errorf("--injector-image: %w", err)
	}
	logger := zap.New(zap.UseDevMode(f.development), zap.Level(zapLevel(f.verbosity)))
	ctrl.SetLogger(logger)
	ctx = logr.NewContext(ctx, logger)
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	f.opts.Instances = provider.New
	if f.drainCAFile != "" {
		ca, err := os.ReadFile(f.drainCAFile)
		if err != nil {
			return fmt.Errorf("reading --drain-ca-file: %w", err)
		}
		f.opts.Drain.CABundle = string(ca)
	}
	mgr, err := manager.New(ctx, cfg, f.opts)
	if err != nil {
		return err
	}
	logger.Info("starting controller")
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}
