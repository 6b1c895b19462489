package demo

import (
	"github.com/go-logr/logr/funcr"

	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/config/crd"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/haproxy/process"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/localcluster"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/webhook"
	"github.com/zerodrop/zerodrop/test/elbv2emu"
)

// Image and path of the "image" that holds the zerodrop binary the webhook's
// init container installs: virtual nodes run it from a host directory.
const (
	InjectorImage  = "zerodrop.dev/zerodrop:demo"
	binaryInImage  = "/zerodrop"
	setupTimeout   = 3 * time.Minute
	controllerStop = 30 * time.Second
)

// Options configure an Environment.
type Options struct {
	// ZerodropBinary is the zerodrop executable the injected init
	// container copies into pods (the demo's own os.Executable; tests build
	// one). Required.
	ZerodropBinary string
	// BinDir holds the control-plane binaries (see localcluster.Options).
	BinDir string
	// Dir holds the cluster's and the environment's files; empty means a
	// temporary directory removed by Close.
	Dir string
	// FirstNodeIndex offsets the virtual nodes' pod address ranges (see
	// localcluster.Options), so that the demo can run beside another local
	// cluster, such as the one of another package's tests.
	FirstNodeIndex int
	// Progress receives one line per step; nil discards them.
	Progress func(format string, args ...any)
	// RealNodes runs the scenario's nodes as real nodes (kubelet,
	// containerd, runc, bridge CNI: localcluster.Options.RealNodes) instead
	// of virtual ones; the process must run inside the network namespace
	// localcluster.RunInNetwork creates. Images then holds the OCI tars of
	// podapp.Image and InjectorImage (BuildRealNodeImages).
	RealNodes bool
	Images    []string
	// Modes are the modes to set up and run (default: Scenario.Modes()); a test
	// that needs only some keeps the machine's load down with fewer.
	Modes []Mode
	// ControllerReplicas is how many controller replicas run in this
	// process; zero means one. With more than one, leader election is on
	// (lease LeaderElectionNamespace/manager.LeaderElectionID, the
	// manager's default timings), replica 0 is started first and waited
	// for until it leads, and the webhook configuration and the pods' drain
	// endpoint point at the last replica: a follower, as a Service may
	// pick.
	ControllerReplicas int
	// Install, if set, installs zerodrop in place of the demo's own way
	// (the embedded CRDs, the controller in this process and a webhook
	// configuration by URL): it must return with the CRDs established, a
	// controller running and its webhook serving. test/e2e installs the
	// Helm chart with it. StartController and StopController then do
	// nothing.
	Install func(ctx context.Context, e *Environment) error
}

// LeaderElectionNamespace holds the controller replicas' lease.
const LeaderElectionNamespace = "kube-system"

// Environment is a running local cluster with one HAProxy, zerodrop's
// controller (webhook, drain endpoint, reconciler) in this process, and the
// objects of every mode.
type Environment struct {
	Scenario *Scenario
	Cluster  *localcluster.Cluster
	// HAProxy is the one HAProxy of provider haproxy (nil for elbv2).
	HAProxy *process.Process
	// ELBv2 is the emulator of provider elbv2 (nil for haproxy), and
	// targetGroups each mode's target group ARN in it.
	ELBv2        *elbv2emu.Emulator
	targetGroups map[Mode]string
	Client       client.Client
	// lbSpec is the provider member of the demo's LoadBalancer.
	lbSpec v1alpha1.LoadBalancerSpec
	// factory connects the controller replicas and the demo to the load
	// balancer; for ELBv2 they share its client, budget and poller, as a
	// controller process does.
	factory *provider.Factory

	progress  func(string, ...any)
	realNodes bool
	modes     []Mode
	dir       string
	removeDir bool
	lb        loadbalancer.Instance
	replicas  []*replica
	closers   []func() error
}

// replica is one controller replica running in this process.
type replica struct {
	opts    manager.Options
	stop    context.CancelFunc
	done    chan error
	elected <-chan struct{}
}

// Setup starts everything for scenario s and creates every mode's objects;
// it returns once each mode's pods are Ready and registered healthy in
// HAProxy. On failure everything already started is stopped.
func Setup(ctx context.Context, s *Scenario, o Options) (env *Environment, err error) {
	if o.ZerodropBinary == "" {
		return nil, errors.New("demo: Options.ZerodropBinary is required")
	}
	e := &Environment{Scenario: s, progress: o.Progress, dir: o.Dir, realNodes: o.RealNodes, modes: o.Modes}
	if len(e.modes) == 0 {
		e.modes = s.Modes()
	}
	if e.progress == nil {
		e.progress = func(string, ...any) {}
	}
	defer func() {
		if err != nil {
			_ = e.Close()
		}
	}()
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "zerodrop-demo-"); err != nil {
			return nil, fmt.Errorf("creating demo directory: %w", err)
		}
		e.removeDir = true
	}
	imageRoot := filepath.Join(e.dir, "image")
	if err := os.MkdirAll(imageRoot, 0o755); err != nil {
		return nil, fmt.Errorf("creating image root: %w", err)
	}
	bin, err := filepath.Abs(o.ZerodropBinary)
	if err != nil {
		return nil, fmt.Errorf("zerodrop binary: %w", err)
	}
	if err := os.Symlink(bin, filepath.Join(imageRoot, binaryInImage)); err != nil {
		return nil, fmt.Errorf("linking the zerodrop binary into the image root: %w", err)
	}

	began := time.Now()
	copts := localcluster.Options{
		Nodes: s.Nodes, Dir: filepath.Join(e.dir, "cluster"), BinDir: o.BinDir, FirstNodeIndex: o.FirstNodeIndex,
		ImageRoots: map[string]string{InjectorImage: imageRoot},
	}
	kind := "virtual"
	if o.RealNodes {
		copts.Nodes, copts.RealNodes, copts.Images, kind = 0, s.Nodes, o.Images, "real"
	}
	e.progress("starting local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, %d %s nodes", s.Nodes, kind)
	e.Cluster, err = localcluster.Start(ctx, copts)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, e.Cluster.Stop)
	e.progress("local cluster up in %s", e.Cluster.StartupDuration().Round(time.Millisecond))
	if o.RealNodes {
		summary, err := e.NodeSummary(ctx)
		if err != nil {
			return nil, err
		}
		e.progress("real nodes: %s", summary)
	}

	if err := e.startLoadBalancer(ctx); err != nil {
		return nil, err
	}
	sharing, err := provider.HAProxySharing(provider.ObservationShared, manager.DefaultPollInterval, manager.DefaultResyncInterval)
	if err != nil {
		return nil, err
	}
	if e.factory, err = provider.NewFactory(context.WithoutCancel(ctx), provider.Options{HAProxySharing: sharing}); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, e.factory.Close)
	scheme, err := manager.Scheme()
	if err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("adding apiextensions types: %w", err)
	}
	if e.Client, err = client.New(e.Cluster.RESTConfig(), client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	if o.Install != nil {
		if err := o.Install(ctx, e); err != nil {
			return nil, fmt.Errorf("installing zerodrop: %w", err)
		}
	} else {
		if err := e.installCRDs(ctx); err != nil {
			return nil, err
		}
		if err := e.startController(ctx, o.ControllerReplicas); err != nil {
			return nil, err
		}
	}
	// The demo's own eye on the load balancer (the tracker that dates each
	// drain, the settling checks) reads HAProxy afresh on every call: a
	// shared reading could be a poll interval old, or half a resync
	// interval while nothing moves, and would date drains late. ELBv2 is
	// read through the controller's registry, whose poller is the only
	// view AWS gives anyway.
	observe := e.factory.New
	if e.lbSpec.HAProxy != nil {
		observe = provider.New
	}
	if e.lb, err = observe(e.lbSpec, e.lbSpec.InstanceNames()[0]); err != nil {
		return nil, fmt.Errorf("connecting to the load balancer: %w", err)
	}
	e.closers = append(e.closers, e.lb.Close)
	if err := e.Client.Create(ctx, loadBalancer(e.lbSpec, e.modes)); err != nil {
		return nil, fmt.Errorf("creating LoadBalancer: %w", err)
	}
	if slices.Contains(e.modes, ModeObserve) {
		if err := e.startSyncer(ctx, ModeObserve); err != nil {
			return nil, err
		}
	}
	for _, m := range e.modes {
		if err := e.createMode(ctx, m); err != nil {
			return nil, err
		}
	}
	for _, m := range e.modes {
		if err := e.waitSettled(ctx, m, setupTimeout); err != nil {
			return nil, fmt.Errorf("mode %s did not come up: %w", m, err)
		}
	}
	e.progress("environment ready in %s", time.Since(began).Round(time.Millisecond))
	return e, nil
}

// startLoadBalancer starts the scenario's load balancer and sets the
// LoadBalancer's provider member.
func (e *Environment) startLoadBalancer(ctx context.Context) error {
	var err error
	if e.Scenario.Provider != ProviderELBv2 {
		if e.HAProxy, err = e.startHAProxy(ctx); err != nil {
			return err
		}
		e.lbSpec = haproxyLoadBalancer(e.HAProxy.RuntimeSocket())
		return nil
	}
	return e.startELBv2(ctx)
}

// startELBv2 starts the ELBv2 emulator with one ALB target group per mode,
// whose health checks follow the scenario's loadBalancer settings.
func (e *Environment) startELBv2(ctx context.Context) error {
	s := e.Scenario
	dir := filepath.Join(e.dir, "elbv2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the emulator's directory: %w", err)
	}
	emu, err := elbv2emu.Start(ctx, elbv2emu.Config{Dir: dir, RegistrationLag: s.ELBv2.RegistrationLag.Duration})
	if err != nil {
		return fmt.Errorf("starting the ELBv2 emulator (install Debian's haproxy: hack/install-debs.sh haproxy): %w", err)
	}
	e.ELBv2 = emu
	e.closers = append(e.closers, emu.Close)
	// The AWS SDK signs every request; the emulator checks the signature's
	// scope only. The controller in this process takes the credentials from
	// the SDK's default chain, the environment first.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"} {
		if os.Getenv(k) == "" {
			if err := os.Setenv(k, v); err != nil {
				return fmt.Errorf("setting %s for the emulator: %w", k, err)
			}
		}
	}
	e.targetGroups = map[Mode]string{}
	for i, m := range e.modes {
		arn, err := emu.CreateTargetGroup(ctx, elbv2emu.TargetGroupSpec{
			Name: m.Backend(), LBType: elbv2emu.LBApplication, Port: ContainerPort,
			HealthCheckPath:     vnode.DefaultHealthPath,
			HealthCheckInterval: s.LoadBalancer.CheckInterval.Duration, HealthCheckTimeout: s.LoadBalancer.CheckInterval.Duration / 2,
			HealthyThreshold: s.LoadBalancer.Rise, UnhealthyThreshold: s.LoadBalancer.Fall,
			DeregistrationDelay: s.ELBv2.DeregistrationDelay.Duration, Attached: true,
			Frontend: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 91, byte(1 + i)}), 0),
		})
		if err != nil {
			return fmt.Errorf("creating target group %s: %w", m.Backend(), err)
		}
		e.targetGroups[m] = arn
		e.progress("ALB target group %-14s %s", m, emu.FrontendURL(arn))
	}
	e.lbSpec = v1alpha1.LoadBalancerSpec{ELBv2: &v1alpha1.ELBv2LoadBalancer{
		Region: emu.Region(), Endpoint: emu.Endpoint(), PollInterval: &metav1.Duration{Duration: elbv2PollInterval},
	}}
	return nil
}

// elbv2PollInterval is how often the demo's controller describes target
// groups with targets on the move.
const elbv2PollInterval = 200 * time.Millisecond

// startHAProxy starts HAProxy with one frontend and backend per mode.
func (e *Environment) startHAProxy(ctx context.Context) (*process.Process, error) {
	// HAProxy's own events (an unexpected exit, with its log) reach the
	// progress lines.
	cfg := process.Config{Logger: funcr.New(func(_, args string) { e.progress("haproxy: %s", args) }, funcr.Options{})}
	for i, m := range e.modes {
		cfg.Frontends = append(cfg.Frontends, process.Frontend{
			Name: m.Frontend(), Backend: m.Backend(),
			Address: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 90, byte(1 + i)}), 0),
		})
		cfg.Backends = append(cfg.Backends, process.Backend{Name: m.Backend()})
	}
	p, err := process.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting HAProxy (install Debian's haproxy: hack/install-debs.sh haproxy): %w", err)
	}
	e.closers = append(e.closers, p.Close)
	for _, m := range e.modes {
		e.progress("HAProxy frontend %-14s %s", m, p.FrontendURL(m.Frontend()))
	}
	return p, nil
}

// installCRDs creates zerodrop's CRDs and waits until they are served.
func (e *Environment) installCRDs(ctx context.Context) error { return InstallCRDs(ctx, e.Client) }

// InstallCRDs creates zerodrop's CRDs (the embedded ones) through c and
// waits until the API server serves them; CRDs that exist are kept. c's
// scheme must know apiextensions/v1.
func InstallCRDs(ctx context.Context, c client.Client) error {
	entries, err := fs.ReadDir(crd.Files, ".")
	if err != nil {
		return fmt.Errorf("reading embedded CRDs: %w", err)
	}
	for _, ent := range entries {
		data, err := fs.ReadFile(crd.Files, ent.Name())
		if err != nil {
			return fmt.Errorf("reading CRD %s: %w", ent.Name(), err)
		}
		obj := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, obj); err != nil {
			return fmt.Errorf("decoding CRD %s: %w", ent.Name(), err)
		}
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", obj.Name, err)
		}
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
				return false, nil
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", obj.Name, err)
		}
	}
	return nil
}

// startController runs zerodrop's controller replicas in this process and
// installs their webhook configuration.
func (e *Environment) startController(ctx context.Context, n int) error {
	certDir := filepath.Join(e.dir, "webhook-certs")
	if err := e.Cluster.IssueServingCert(certDir); err != nil {
		return err
	}
	n = max(n, 1)
	ca := e.Cluster.CACertPEM()
	var webhookBase, drainBase string
	for range n {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		webhookBase = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		// Pods of real nodes have their own loopback: they reach the
		// cluster's process at its host address.
		drainHost := "127.0.0.1"
		if e.realNodes {
			drainHost = localcluster.HostAddress
		}
		drainAddr := net.JoinHostPort(drainHost, strconv.Itoa(ports[1]))
		drainBase = "https://" + drainAddr
		e.replicas = append(e.replicas, &replica{opts: manager.Options{
			MetricsAddr: "0", ProbeAddr: "0",
			WebhookHost: "127.0.0.1", WebhookPort: ports[0], WebhookCertDir: certDir,
			DrainAddr:      drainAddr,
			LeaderElection: n > 1, LeaderElectionNamespace: LeaderElectionNamespace,
			PollInterval: manager.DefaultPollInterval, ResyncInterval: manager.DefaultResyncInterval,
			Instances:          e.factory.New,
			SkipNameValidation: true,
		}})
	}
	// Every replica injects the same drain endpoint: the last replica's.
	for _, r := range e.replicas {
		r.opts.Drain = webhook.DrainInjection{
			Image: InjectorImage, BinaryInImage: binaryInImage,
			Endpoint: drainBase + drain.Path, CABundle: string(ca),
		}
	}
	if err := e.StartController(ctx); err != nil {
		return err
	}
	url := webhookBase + webhook.PodMutatePath
	cfg := webhook.Configuration(admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca})
	if err := e.Client.Create(ctx, cfg); err != nil {
		return fmt.Errorf("creating webhook configuration: %w", err)
	}
	e.closers = append(e.closers, func() error { e.StopController(); return nil })
	e.progress("zerodrop controller running in this process (%d replicas): webhook on %s, drain endpoint on %s", n, webhookBase, drainBase)
	return nil
}

// StartController starts every controller replica that is not running
// (again, after StopController). With several replicas, replica 0 starts
// first and leads before the others start.
func (e *Environment) StartController(ctx context.Context) error {
	for i := range e.replicas {
		if err := e.StartControllerReplica(ctx, i); err != nil {
			return err
		}
		if i == 0 && len(e.replicas) > 1 {
			select {
			case <-e.replicas[0].elected:
			case <-time.After(time.Minute):
				return errors.New("controller replica 0 did not become the leader within 1m")
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// StartControllerReplica starts replica i unless it is running, and waits
// until its webhook server and drain endpoint answer.
func (e *Environment) StartControllerReplica(ctx context.Context, i int) error {
	r := e.replicas[i]
	if r.stop != nil {
		return nil
	}
	opts := r.opts
	opts.Registerer = prometheus.NewRegistry()
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	mgr, err := manager.New(cctx, e.Cluster.RESTConfig(), opts)
	if err != nil {
		cancel()
		return fmt.Errorf("creating zerodrop controller replica %d: %w", i, err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(cctx) }()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(e.Cluster.CACertPEM())
	for _, addr := range []string{net.JoinHostPort(opts.WebhookHost, strconv.Itoa(opts.WebhookPort)), opts.DrainAddr} {
		err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			select {
			case err := <-done:
				return false, fmt.Errorf("controller stopped: %w", err)
			default:
			}
			// A full handshake, so the server logs no aborted one.
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
			if err != nil {
				return false, nil
			}
			_ = conn.Close()
			return true, nil
		})
		if err != nil {
			cancel()
			return fmt.Errorf("waiting for controller replica %d on %s: %w", i, addr, err)
		}
	}
	r.stop, r.done, r.elected = cancel, done, mgr.Elected()
	return nil
}

// StopController stops every controller replica and waits for them (the
// failure-path test's "controller down").
func (e *Environment) StopController() {
	for i := range e.replicas {
		e.StopControllerReplica(i)
	}
}

// StopControllerReplica stops replica i and waits for it; a leader
// releases its lease on the way out.
func (e *Environment) StopControllerReplica(i int) {
	r := e.replicas[i]
	if r.stop == nil {
		return
	}
	r.stop()
	select {
	case <-r.done:
	case <-time.After(controllerStop):
	}
	r.stop = nil
}

// ControllerReplicaLeads reports whether replica i runs and has been
// elected leader (always, once running, without leader election).
func (e *Environment) ControllerReplicaLeads(i int) bool {
	r := e.replicas[i]
	if r.stop == nil {
		return false
	}
	select {
	case <-r.elected:
		return true
	default:
		return false
	}
}

// createMode creates mode m's objects.
func (e *Environment) createMode(ctx context.Context, m Mode) error {
	objs := BuildObjects(m, e.Scenario)
	if e.realNodes {
		ForRealNodes(objs)
	}
	if err := e.Client.Create(ctx, objs.Namespace); err != nil {
		return fmt.Errorf("creating namespace %s: %w", objs.Namespace.Name, err)
	}
	if err := e.Cluster.WaitServiceAccount(ctx, objs.Namespace.Name); err != nil {
		return err
	}
	for _, o := range []client.Object{objs.Service, objs.PDB, objs.Binding, objs.Deployment} {
		if err := e.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
		}
	}
	e.progress("mode %-14s namespace %s: %s", m, objs.Namespace.Name, describe(m, e.Scenario))
	return nil
}

// FrontendURL is the URL load for mode m goes to.
func (e *Environment) FrontendURL(m Mode) string {
	if e.ELBv2 != nil {
		return e.ELBv2.FrontendURL(e.targetGroups[m]) + "/"
	}
	return e.HAProxy.FrontendURL(m.Frontend()) + "/"
}

// LoadBalancer returns the load balancer as zerodrop sees it.
func (e *Environment) LoadBalancer() loadbalancer.Instance { return e.lb }

// Dir is where the environment keeps its files.
func (e *Environment) Dir() string { return e.dir }

// Close stops everything Setup started, in reverse order, and removes a
// temporary directory. It is safe to call more than once.
func (e *Environment) Close() error {
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		if err := e.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	e.closers = nil
	if e.removeDir {
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", e.dir, err))
		}
		e.removeDir = false
	}
	return errors.Join(errs...)
}

// freePorts returns n distinct free ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
