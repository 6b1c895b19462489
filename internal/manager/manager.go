// Package manager assembles zerodrop's controller process: the
// controller-runtime manager with its scheme, leader election, health and
// readiness endpoints, metrics, the pod webhook, the drain endpoint on its
// own listener and the reconcilers. The
// controller subcommand and the integration tests both build it here, so
// tests run the same wiring users do.
package manager

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/certs"
	"github.com/zerodrop/zerodrop/internal/controller"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	zdwebhook "github.com/zerodrop/zerodrop/internal/webhook"
)

// LeaderElectionID names the controller's leader-election lease.
const LeaderElectionID = "controller.zerodrop.dev"

// Defaults of leader election (controller-runtime's): a crashed leader's
// lease runs out after DefaultLeaseDuration; a leader that stops cleanly
// releases it at once (LeaderElectionReleaseOnCancel), so a rolling update
// of the controller hands over within DefaultRetryPeriod. The drain
// endpoint does not wait for either: every replica drains its callers.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// DefaultDrainAddr is where the drain endpoint listens: its own port,
// apart from the webhook's, so that a flood of asks cannot slow admission.
const DefaultDrainAddr = ":9444"

// Defaults of the controller's polling. The poll interval bounds how long
// after a load balancer's own state change the gate follows.
const (
	DefaultPollInterval   = 100 * time.Millisecond
	DefaultResyncInterval = 2 * time.Second
)

// Options configure the controller process.
type Options struct {
	// MetricsAddr serves Prometheus metrics ("0" turns them off).
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz ("0" turns them off).
	ProbeAddr string
	// LeaderElection turns leader election on; LeaderElectionNamespace
	// holds its lease. The leader releases the lease when it stops.
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod time leader election;
	// zero means DefaultLeaseDuration, DefaultRenewDeadline and
	// DefaultRetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// WebhookHost, WebhookPort and WebhookCertDir say where the webhook
	// listens and where its tls.crt and tls.key are.
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
	// PollInterval bounds gate latency; ResyncInterval is how often a
	// settled binding is checked for load-balancer restarts.
	PollInterval   time.Duration
	ResyncInterval time.Duration
	// MaxConcurrentReconciles is how many TargetBindings are reconciled at
	// once (zero: controller.DefaultMaxConcurrentReconciles).
	MaxConcurrentReconciles int
	// Drain configures the preStop wait the webhook injects (off when its
	// Image is empty).
	Drain zdwebhook.DrainInjection
	// DrainAddr is where the drain endpoint (drain.Path) listens, with TLS
	// from WebhookCertDir; empty or "0" turns it off. Every replica serves
	// it, leader or not.
	DrainAddr string
	// Instances connects to load-balancer instances.
	Instances pool.InstanceFactory
	// ClusterID identifies this cluster in the owner tag of every target
	// zerodrop registers (targets.Owner), so that bindings of two clusters
	// can share a backend. Empty means the UID of the kube-system
	// namespace, which is stable for the cluster's life.
	ClusterID string
	// Certs, when set, has the controller issue and rotate the serving
	// certificate of the webhook and drain endpoint itself (internal/certs),
	// into WebhookCertDir, and hand its CA bundle to pods for the drain
	// endpoint unless Drain has a CA bundle of its own. Nil means the files
	// in WebhookCertDir come from elsewhere (cert-manager, tests).
	Certs *certs.Options
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
	// Registerer receives the controller's metrics; nil means
	// controller-runtime's registry, served on MetricsAddr.
	Registerer prometheus.Registerer
}

// Scheme returns the scheme with Kubernetes' and zerodrop's types.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("adding client-go types: %w", err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("adding zerodrop types: %w", err)
	}
	return s, nil
}

// New builds the manager with everything registered; start it with Start.
func New(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	lease, renew, retry := cmp.Or(o.LeaseDuration, DefaultLeaseDuration), cmp.Or(o.RenewDeadline, DefaultRenewDeadline), cmp.Or(o.RetryPeriod, DefaultRetryPeriod)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
		RenewDeadline:                 &renew,
		RetryPeriod:                   &retry,
		Controller:                    config.Controller{SkipNameValidation: &o.SkipNameValidation},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: o.WebhookHost, Port: o.WebhookPort, CertDir: o.WebhookCertDir,
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := addRotator(ctx, mgr, cfg, &o); err != nil {
		return nil, err
	}
	reg := o.Registerer
	if reg == nil {
		reg = ctrlmetrics.Registry // served by the manager's metrics server
	}
	clusterID, err := resolveClusterID(ctx, mgr.GetAPIReader(), o.ClusterID)
	if err != nil {
		return nil, err
	}
	metrics, err := controller.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	lbs := pool.New(o.Instances)
	r := &controller.TargetBindingReconciler{
		Client:                  mgr.GetClient(),
		Pool:                    lbs,
		Recorder:                mgr.GetEventRecorder("zerodrop"),
		Metrics:                 metrics,
		ClusterID:               clusterID,
		PollInterval:            o.PollInterval,
		ResyncInterval:          o.ResyncInterval,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		DrainInjection:          o.Drain.Image != "",
		APIReader:               mgr.GetAPIReader(),
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the TargetBinding reconciler: %w", err)
	}
	lbr := &controller.LoadBalancerReconciler{Client: mgr.GetClient(), Pool: lbs, Metrics: metrics, Interval: 5 * o.ResyncInterval}
	if err := lbr.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the LoadBalancer reconciler: %w", err)
	}
	webhookMetrics, err := zdwebhook.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering webhook metrics: %w", err)
	}
	mgr.GetWebhookServer().Register(zdwebhook.PodMutatePath, &webhook.Admission{Handler: &zdwebhook.PodMutator{
		Reader:   mgr.GetAPIReader(),
		Cache:    mgr.GetCache(),
		Decoder:  admission.NewDecoder(scheme),
		Drain:    o.Drain,
		Recorder: mgr.GetEventRecorder("zerodrop-webhook"),
		Metrics:  webhookMetrics,
	}})
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return nil, fmt.Errorf("adding readyz check: %w", err)
	}
	if err := addDrainServer(mgr, cfg, o, lbs, clusterID, reg); err != nil {
		return nil, err
	}
	if err := mgr.Add(closer{lbs}); err != nil {
		return nil, fmt.Errorf("adding pool closer: %w", err)
	}
	return mgr, nil
}

// addDrainServer serves the drain endpoint on its own listener, on every
// replica, unless o.DrainAddr turns it off.
func addDrainServer(mgr ctrl.Manager, cfg *rest.Config, o Options, lbs *pool.Pool, clusterID string, reg prometheus.Registerer) error {
	if o.DrainAddr == "" || o.DrainAddr == "0" {
		return nil
	}
	// TokenReviews get their own client-side rate limit, so that many pods
	// terminating at once neither wait behind the reconciler's calls nor
	// hold them up.
	rc := rest.CopyConfig(cfg)
	rc.QPS, rc.Burst, rc.RateLimiter = drain.DefaultReviewQPS, drain.DefaultReviewBurst, nil
	reviews, err := client.New(rc, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("creating the TokenReview client: %w", err)
	}
	drainMetrics, err := drain.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("registering drain endpoint metrics: %w", err)
	}
	h := &drain.Handler{
		Metrics:   drainMetrics,
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Reviewer:  drain.NewReviewer(reviews),
		Limiter:   drain.NewPodLimiter(),
		Pool:      lbs,
		ClusterID: clusterID,
	}
	srv := drain.NewServer(o.DrainAddr, certDir(o), h, mgr.GetLogger().WithName("drain"))
	if err := mgr.Add(srv); err != nil {
		return fmt.Errorf("adding the drain endpoint: %w", err)
	}
	if err := mgr.AddReadyzCheck("drain", srv.StartedChecker()); err != nil {
		return fmt.Errorf("adding readyz check: %w", err)
	}
	return nil
}

// certDir returns where the webhook and the drain endpoint read their
// serving certificate.
func certDir(o Options) string {
	if o.WebhookCertDir == "" {
		return filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs") // the webhook server's default
	}
	return o.WebhookCertDir
}

// addRotator issues the serving certificate before the servers start (they
// read it when they start) and keeps it current, when o.Certs asks for it.
// Pods then trust the rotator's CA bundle for the drain endpoint.
func addRotator(ctx context.Context, mgr ctrl.Manager, cfg *rest.Config, o *Options) error {
	if o.Certs == nil {
		return nil
	}
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("creating the certificate client: %w", err)
	}
	co := *o.Certs
	co.CertDir = certDir(*o)
	co.Logger = mgr.GetLogger().WithName("certs")
	rot, err := certs.New(direct, co)
	if err != nil {
		return fmt.Errorf("configuring the serving certificate: %w", err)
	}
	if err := rot.Ensure(ctx); err != nil {
		return fmt.Errorf("issuing the serving certificate: %w", err)
	}
	if err := mgr.Add(rot); err != nil {
		return fmt.Errorf("adding the certificate rotator: %w", err)
	}
	if o.Drain.CABundle == "" && o.Drain.CABundleFrom == nil {
		o.Drain.CABundleFrom = rot.CABundle
	}
	return nil
}

// resolveClusterID returns id, or the kube-system namespace's UID when id
// is empty.
func resolveClusterID(ctx context.Context, r client.Reader, id string) (string, error) {
	if id != "" {
		return id, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: metav1.NamespaceSystem}, ns); err != nil {
		return "", fmt.Errorf("reading namespace %s for the cluster ID (or set --cluster-id): %w", metav1.NamespaceSystem, err)
	}
	return string(ns.UID), nil
}

// closer closes the instance pool when the manager stops.
type closer struct{ pool *pool.Pool }

func (c closer) Start(ctx context.Context) error {
	<-ctx.Done()
	return c.pool.Close()
}
