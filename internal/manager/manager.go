// Package manager assembles zerodrop's controller process: the
// controller-runtime manager with its scheme, leader election, health and
// readiness endpoints, metrics, the pod webhook and the reconcilers. The
// controller subcommand and the integration tests both build it here, so
// tests run the same wiring users do.
package manager

import (
	"context"
	"fmt"
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
	"github.com/zerodrop/zerodrop/internal/controller"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	zdwebhook "github.com/zerodrop/zerodrop/internal/webhook"
)

// LeaderElectionID names the controller's leader-election lease.
const LeaderElectionID = "controller.zerodrop.dev"

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
	// holds its lease.
	LeaderElection          bool
	LeaderElectionNamespace string
	// WebhookHost, WebhookPort and WebhookCertDir say where the webhook
	// listens and where its tls.crt and tls.key are.
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
	// PollInterval bounds gate latency; ResyncInterval is how often a
	// settled binding is checked for load-balancer restarts.
	PollInterval   time.Duration
	ResyncInterval time.Duration
	// Drain configures the preStop wait the webhook injects (off when its
	// Image is empty). The drain endpoint it calls is served on the webhook
	// server at drain.Path either way.
	Drain zdwebhook.DrainInjection
	// Instances connects to load-balancer instances.
	Instances pool.InstanceFactory
	// ClusterID identifies this cluster in the owner tag of every target
	// zerodrop registers (targets.Owner), so that bindings of two clusters
	// can share a backend. Empty means the UID of the kube-system
	// namespace, which is stable for the cluster's life.
	ClusterID string
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
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		Controller:              config.Controller{SkipNameValidation: &o.SkipNameValidation},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: o.WebhookHost, Port: o.WebhookPort, CertDir: o.WebhookCertDir,
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
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
		Client:         mgr.GetClient(),
		Pool:           lbs,
		Recorder:       mgr.GetEventRecorder("zerodrop"),
		Metrics:        metrics,
		ClusterID:      clusterID,
		PollInterval:   o.PollInterval,
		ResyncInterval: o.ResyncInterval,
		DrainInjection: o.Drain.Image != "",
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the TargetBinding reconciler: %w", err)
	}
	lbr := &controller.LoadBalancerReconciler{Client: mgr.GetClient(), Pool: lbs, Interval: 5 * o.ResyncInterval}
	if err := lbr.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the LoadBalancer reconciler: %w", err)
	}
	webhookMetrics, err := zdwebhook.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering webhook metrics: %w", err)
	}
	mgr.GetWebhookServer().Register(zdwebhook.PodMutatePath, &webhook.Admission{Handler: &zdwebhook.PodMutator{
		Reader:   mgr.GetAPIReader(),
		Decoder:  admission.NewDecoder(scheme),
		Drain:    o.Drain,
		Recorder: mgr.GetEventRecorder("zerodrop-webhook"),
		Metrics:  webhookMetrics,
	}})
	mgr.GetWebhookServer().Register(drain.Path, &drain.Handler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Pool: lbs})
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return nil, fmt.Errorf("adding readyz check: %w", err)
	}
	if err := mgr.Add(closer{lbs}); err != nil {
		return nil, fmt.Errorf("adding pool closer: %w", err)
	}
	return mgr, nil
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
