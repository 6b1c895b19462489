// Package controller is the `zerodrop controller` subcommand: it runs the
// readiness-gate controller and pod webhook in the cluster (or against any
// kubeconfig).
package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/zerodrop/zerodrop/internal/certs"
	"github.com/zerodrop/zerodrop/internal/controller"
	"github.com/zerodrop/zerodrop/internal/drain"
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
	// observation is --lb-observation (provider.Observation*).
	observation string
	// qps and burst bound the controller's API requests (client-go's own
	// default, 5 per second, is too low for a cluster's worth of gates).
	qps   float32
	burst int
	// injector holds the injected init container's requests and limits.
	injector struct{ cpuRequest, memoryRequest, cpuLimit, memoryLimit string }
	// certs configures the self-managed serving certificate
	// (--self-signed-certs).
	certs struct {
		enabled         bool
		secret, ns      string
		dnsNames        []string
		certValidity    time.Duration
		caValidity      time.Duration
		webhookConfName string
	}
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
injects the readiness gate, the drain endpoint the injected preStop asks (on
its own listener), and /healthz, /readyz and Prometheus metrics.

Run two or more replicas: one leader reconciles; every replica serves the
webhook and the drain endpoint, and a replica asked by a terminating pod
drains that pod's own targets itself, so drains go on while the lease moves.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(ctx) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty means in-cluster or $KUBECONFIG")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use")
	fl.StringVar(&f.opts.MetricsAddr, "metrics-bind-address", ":8080", `address of the metrics endpoint ("0" turns it off)`)
	fl.StringVar(&f.opts.ProbeAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" turns them off)`)
	fl.BoolVar(&f.opts.LeaderElection, "leader-elect", true, "elect a leader so that only one replica reconciles (every replica serves the webhook and the drain endpoint); the leader releases the lease when it stops")
	fl.StringVar(&f.opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's namespace)")
	fl.DurationVar(&f.opts.LeaseDuration, "leader-elect-lease-duration", manager.DefaultLeaseDuration, "how long a lease holds without renewal: the longest a crashed leader blocks the next")
	fl.DurationVar(&f.opts.RenewDeadline, "leader-elect-renew-deadline", manager.DefaultRenewDeadline, "how long the leader tries to renew before it gives up leading (shorter than the lease duration)")
	fl.DurationVar(&f.opts.RetryPeriod, "leader-elect-retry-period", manager.DefaultRetryPeriod, "how often replicas try to acquire or renew the lease")
	fl.StringVar(&f.opts.WebhookHost, "webhook-host", "", "address the webhook listens on (default all)")
	fl.IntVar(&f.opts.WebhookPort, "webhook-port", 9443, "port the webhook listens on")
	fl.StringVar(&f.opts.WebhookCertDir, "webhook-cert-dir", "", "directory holding the tls.crt and tls.key of the webhook and the drain endpoint (reloaded when they change)")
	fl.StringVar(&f.opts.DrainAddr, "drain-bind-address", manager.DefaultDrainAddr, `address of the drain endpoint `+drain.Path+`, its own TLS listener apart from the webhook's ("0" turns it off)`)
	fl.DurationVar(&f.opts.PollInterval, "poll-interval", manager.DefaultPollInterval, "how often a load balancer is polled while targets are on their way in or out (bounds gate latency)")
	fl.DurationVar(&f.opts.ResyncInterval, "resync-interval", manager.DefaultResyncInterval, "how often a settled binding is checked, to notice load-balancer restarts")
	fl.IntVar(&f.opts.MaxConcurrentReconciles, "max-concurrent-reconciles", controller.DefaultMaxConcurrentReconciles, "how many TargetBindings are reconciled at once")
	fl.StringVar(&f.observation, "lb-observation", provider.ObservationShared, `how HAProxy instances are read: "shared" (one reading of every backend per poll, shared by all bindings: the instance's load does not grow with the number of bindings) or "per-binding" (a round trip per binding and pass)`)
	fl.StringVar(&f.opts.Drain.Image, "injector-image", "", "image holding the static zerodrop binary, for the injected init container, pinned as name:tag (not latest) or name@sha256:digest (empty: no drain-wait injection)")
	fl.StringVar(&f.injector.cpuRequest, "injector-cpu-request", webhook.DefaultInjectorCPURequest, `CPU request of the injected init container ("" for none)`)
	fl.StringVar(&f.injector.memoryRequest, "injector-memory-request", webhook.DefaultInjectorMemoryRequest, `memory request of the injected init container ("" for none)`)
	fl.StringVar(&f.injector.cpuLimit, "injector-cpu-limit", webhook.DefaultInjectorCPULimit, `CPU limit of the injected init container ("" for none)`)
	fl.StringVar(&f.injector.memoryLimit, "injector-memory-limit", webhook.DefaultInjectorMemoryLimit, `memory limit of the injected init container ("" for none)`)
	fl.StringVar(&f.opts.Drain.BinaryInImage, "injector-binary", "/zerodrop", "path of zerodrop inside --injector-image")
	fl.StringVar(&f.opts.Drain.Endpoint, "drain-endpoint", "https://zerodrop-webhook.zerodrop-system.svc:9444"+drain.Path, "https URL of the drain endpoint (--drain-bind-address) as pods reach it")
	fl.StringVar(&f.drainCAFile, "drain-ca-file", "", "PEM CA bundle pods trust for --drain-endpoint (default: system roots)")
	fl.BoolVar(&f.certs.enabled, "self-signed-certs", false, "issue and rotate the serving certificate of the webhook and the drain endpoint here: a self-signed CA and certificate kept in --cert-secret, written into --webhook-cert-dir, the CA bundle patched into --webhook-configuration and handed to pods for --drain-endpoint")
	fl.StringVar(&f.certs.secret, "cert-secret", certs.DefaultSecretName, "Secret holding the self-signed CA and serving certificate (--self-signed-certs)")
	fl.StringVar(&f.certs.ns, "cert-secret-namespace", "", "namespace of --cert-secret (default: --leader-election-namespace)")
	fl.StringSliceVar(&f.certs.dnsNames, "cert-dns-names", []string{"zerodrop-webhook.zerodrop-system.svc"}, "DNS names of the self-signed serving certificate: the webhook's and the drain endpoint's Services")
	fl.DurationVar(&f.certs.certValidity, "cert-validity", certs.DefaultCertValidity, "validity of the self-signed serving certificate; renewed when a third is left")
	fl.DurationVar(&f.certs.caValidity, "ca-validity", certs.DefaultCAValidity, "validity of the self-signed CA; a new one is added to the bundle when a third is left, and signs once the old one would not outlive a serving certificate")
	fl.StringVar(&f.certs.webhookConfName, "webhook-configuration", webhook.ConfigurationName, "MutatingWebhookConfiguration whose CA bundle --self-signed-certs keeps current")
	fl.StringVar(&f.opts.ClusterID, "cluster-id", "", "identity of this cluster in the owner tag of every load-balancer target (default: the kube-system namespace's UID); set it to tell apart clusters that share a backend")
	fl.Float32Var(&f.qps, "kube-api-qps", 50, "requests per second to the API server, sustained")
	fl.IntVar(&f.burst, "kube-api-burst", 100, "requests to the API server in a burst")
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
	if f.opts.MaxConcurrentReconciles < 1 {
		return fmt.Errorf("--max-concurrent-reconciles %d must be at least 1", f.opts.MaxConcurrentReconciles)
	}
	sharing, err := provider.HAProxySharing(f.observation, f.opts.PollInterval, f.opts.ResyncInterval)
	if err != nil {
		return fmt.Errorf("--lb-observation: %w", err)
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
	if f.qps <= 0 || f.burst <= 0 {
		return fmt.Errorf("--kube-api-qps %v and --kube-api-burst %d must be positive", f.qps, f.burst)
	}
	cfg.QPS, cfg.Burst = f.qps, f.burst
	if f.opts.Drain.Image != "" {
		if err := drain.CheckEndpoint(f.opts.Drain.Endpoint); err != nil {
			return fmt.Errorf("--drain-endpoint: %w", err)
		}
	}
	// One factory for the process: its ELBv2 registry shares one client,
	// budget and poller per region among every LoadBalancer there.
	instances, err := provider.NewFactory(ctx, provider.Options{Registerer: ctrlmetrics.Registry, HAProxySharing: sharing})
	if err != nil {
		return fmt.Errorf("load-balancer providers: %w", err)
	}
	defer func() { _ = instances.Close() }()
	f.opts.Instances = instances.New
	if f.drainCAFile != "" {
		ca, err := os.ReadFile(f.drainCAFile)
		if err != nil {
			return fmt.Errorf("reading --drain-ca-file: %w", err)
		}
		f.opts.Drain.CABundle = string(ca)
	}
	if f.certs.enabled {
		ns := cmp.Or(f.certs.ns, f.opts.LeaderElectionNamespace)
		if ns == "" {
			return errors.New("--self-signed-certs: set --cert-secret-namespace")
		}
		f.opts.Certs = &certs.Options{
			Secret:               types.NamespacedName{Namespace: ns, Name: f.certs.secret},
			DNSNames:             f.certs.dnsNames,
			WebhookConfiguration: f.certs.webhookConfName,
			Validity:             certs.Validity{CA: f.certs.caValidity, Cert: f.certs.certValidity},
		}
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
