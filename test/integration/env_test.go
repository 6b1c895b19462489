// Package integration runs zerodrop's controller, exactly as the controller
// subcommand wires it, against a real kube-apiserver and etcd (envtest, with
// the binaries hack/build-cluster.sh builds into bin/), real HAProxy
// processes and real HTTP servers on 127.x.y.z addresses standing in for
// pods. Pods are created through the API; since no kubelet runs here, the
// tests set each pod's IP and conditions through the status subresource the
// way kubelet would.
package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/pool"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// env is a running API server with zerodrop's CRDs and webhook installed and
// the controller manager running against it.
type env struct {
	t        testing.TB
	cfg      *rest.Config
	c        client.Client
	registry *prometheus.Registry
	stop     context.CancelFunc
	done     chan error
	te       *envtest.Environment
	factory  pool.InstanceFactory
	opts     []func(*manager.Options)
	// wrapTransport, when set, wraps the controller's API transport (the
	// test's own client is not wrapped).
	wrapTransport func(http.RoundTripper) http.RoundTripper
}

// The env controller's intervals: shorter than the defaults, so tests are
// quick.
const (
	envPollInterval   = 50 * time.Millisecond
	envResyncInterval = 500 * time.Millisecond
)

// controllerInstances connects to load balancers as `zerodrop controller`
// does by default: HAProxy instances answer Status from readings shared by
// every binding (--lb-observation=shared) at the env's intervals.
func controllerInstances(t testing.TB) pool.InstanceFactory {
	t.Helper()
	sharing, err := provider.HAProxySharing(provider.ObservationShared, envPollInterval, envResyncInterval)
	if err != nil {
		t.Fatal(err)
	}
	f, err := provider.NewFactory(context.Background(), provider.Options{HAProxySharing: sharing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f.New
}

// startEnv starts the API server and the controller with factory.
func startEnv(t testing.TB, factory pool.InstanceFactory, opts ...func(*manager.Options)) *env {
	t.Helper()
	path := webhook.PodMutatePath
	wh := webhook.Configuration(admissionregistrationv1.WebhookClientConfig{
		Service: &admissionregistrationv1.ServiceReference{Name: "unused", Namespace: "unused", Path: &path},
	})
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: filepath.Join("..", "..", "bin"),
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{wh},
		},
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting API server (run hack/build-cluster.sh; KUBEBUILDER_ASSETS=bin): %v", err)
	}
	e := &env{t: t, cfg: cfg, te: te, factory: factory, opts: opts}
	t.Cleanup(func() {
		e.stopController()
		if err := te.Stop(); err != nil {
			t.Errorf("stopping API server: %v", err)
		}
	})
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	e.c, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	e.startController()
	return e
}

// startAPIServer starts a real API server with zerodrop's CRDs and no
// controller, for tests that run the manager their own way; the env's
// client has the manager's scheme.
func startAPIServer(t testing.TB) *env {
	t.Helper()
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: filepath.Join("..", "..", "bin"),
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting API server (run hack/build-cluster.sh; KUBEBUILDER_ASSETS=bin): %v", err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Errorf("stopping API server: %v", err)
		}
	})
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, cfg: cfg, te: te, c: c}
}

// startController starts (or restarts) the controller manager.
func (e *env) startController() {
	e.t.Helper()
	wo := e.te.WebhookInstallOptions
	e.registry = prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	o := manager.Options{
		MetricsAddr:        "0",
		ProbeAddr:          "0",
		WebhookHost:        wo.LocalServingHost,
		WebhookPort:        wo.LocalServingPort,
		WebhookCertDir:     wo.LocalServingCertDir,
		PollInterval:       envPollInterval,
		ResyncInterval:     envResyncInterval,
		Instances:          e.factory,
		Registerer:         e.registry,
		SkipNameValidation: true,
	}
	for _, f := range e.opts {
		f(&o)
	}
	cfg := e.cfg
	if e.wrapTransport != nil {
		cfg = rest.CopyConfig(e.cfg)
		cfg.WrapTransport = e.wrapTransport
	}
	mgr, err := manager.New(ctx, cfg, o)
	if err != nil {
		cancel()
		e.t.Fatalf("creating manager: %v", err)
	}
	e.stop, e.done = cancel, make(chan error, 1)
	go func() { e.done <- mgr.Start(ctx) }()
	addr := net.JoinHostPort(wo.LocalServingHost, fmt.Sprint(wo.LocalServingPort))
	e.eventually("webhook server listening", 30*time.Second, func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	})
}

// stopController stops the controller manager and waits for it.
func (e *env) stopController() {
	if e.stop == nil {
		return
	}
	e.stop()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("controller manager: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Errorf("controller manager did not stop within 30s")
	}
	e.stop = nil
}

// eventually polls f until it returns nil or the timeout passes.
func (e *env) eventually(what string, timeout time.Duration, f func() error) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// namespace creates a namespace, labelled for gate injection if inject.
func (e *env) namespace(name string, inject bool) {
	e.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if inject {
		ns.Labels = map[string]string{v1alpha1.LabelInject: v1alpha1.LabelInjectEnabled}
	}
	if err := e.c.Create(context.Background(), ns); err != nil {
		e.t.Fatalf("creating namespace: %v", err)
	}
}

// TestMain sends the controller's logs to a file, named on stderr, so a
// failure can be read beside the test's own output.
func TestMain(m *testing.M) {
	f, err := os.CreateTemp("", "zerodrop-integration-*.log")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "controller logs:", f.Name())
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(f), zap.Level(zapcore.Level(-1))))
	code := m.Run()
	f.Close()
	os.Exit(code)
}
