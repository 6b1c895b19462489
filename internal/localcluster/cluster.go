package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zerodrop/zerodrop/internal/localcluster/podapp"
	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// Names of the control-plane components, used for log files and errors.
const (
	ComponentEtcd              = "etcd"
	ComponentAPIServer         = "kube-apiserver"
	ComponentControllerManager = "kube-controller-manager"
	ComponentScheduler         = "kube-scheduler"
)

// ServiceClusterIPRange is the range Services get ClusterIPs from. The
// addresses only appear as numbers in objects: there is no kube-proxy and
// nothing in a local cluster sends traffic to them.
const ServiceClusterIPRange = "10.96.0.0/16"

// EnvBinDir names the environment variable that overrides where the
// control-plane binaries are looked up.
const EnvBinDir = "ZERODROP_BIN_DIR"

// controllers are the kube-controller-manager controllers a local cluster
// runs: workloads, endpoints, disruption budgets, garbage collection,
// namespaces, service accounts and node lifecycle (which removes the
// not-ready taint from virtual nodes and evicts pods from dead ones).
var controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"endpoints-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"disruption-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"node-lifecycle-controller",
	"taint-eviction-controller",
	"pod-garbage-collector-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
	"service-cidr-controller",
}

// Options configure Start.
type Options struct {
	// Nodes is the number of virtual nodes to start (0 is allowed).
	Nodes int
	// FirstNodeIndex offsets the nodes' address ranges: node i's pods get
	// 127.(100+FirstNodeIndex+i).0.0/16. Clusters that may run at the same
	// time on one machine (tests of different packages) use different
	// offsets so their pods' addresses never collide.
	FirstNodeIndex int
	// Dir holds the cluster's files (PKI, kubeconfig, logs, etcd data, pod
	// directories). Empty means a new temporary directory, removed by Stop
	// unless KeepDir is set.
	Dir string
	// KeepDir keeps a temporary Dir after Stop (for post-mortems).
	KeepDir bool
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and
	// kube-scheduler. Empty means $ZERODROP_BIN_DIR, then
	// $KUBEBUILDER_ASSETS, then the nearest bin/ above the working directory
	// or the executable.
	BinDir string
	// StopTimeout is how long Stop waits for each component after SIGTERM
	// before it sends SIGKILL. Zero means 10s.
	StopTimeout time.Duration
	// ReadyTimeout bounds the start-up of the whole cluster. Zero means 2m.
	ReadyTimeout time.Duration
	// ImageRoots maps container images to host directories that stand in for
	// their file systems, for init containers and exec commands (see
	// vnode.Options.ImageRoots).
	ImageRoots map[string]string
	// OnEvent, if set, is called for every pod lifecycle event of every
	// virtual node; it must not block. Subscribe is the channel alternative.
	OnEvent func(vnode.Event)
	// RealNodes is the number of real nodes to start after the virtual
	// ones: kubelet (BinDir/kubelet, hack/build-node.sh), containerd, runc
	// and the bridge CNI plugin each, pods on PodNetwork. They need root and
	// a process running inside the network namespace RunInNetwork creates.
	// Their pods' lifecycle is recorded too (Pods, Subscribe), from a watch
	// and from the logs of podapp containers.
	RealNodes int
	// Images are OCI image-layout tars imported into every real node's
	// containerd: nothing is ever pulled. One must hold PauseImage.
	Images []string
	// PauseImage is the real nodes' sandbox image (default podapp.Image).
	PauseImage string
	// PodsPerNode is each virtual node's pod capacity (zero: kubelet's
	// default, 110).
	PodsPerNode int
	// ControllerManagerQPS is kube-controller-manager's --kube-api-qps,
	// with a burst of twice as much (zero: its default, 20 per second per
	// controller, which bounds how fast a ReplicaSet creates pods).
	ControllerManagerQPS int
	// ControlPlaneNice is the nice value (1 to 19) etcd, kube-apiserver,
	// kube-controller-manager and kube-scheduler run at; zero runs them at
	// the caller's. A benchmark whose apps, load and LB share the cores
	// with the control plane sets it so that the control plane cannot
	// starve them, as it could not on machines of their own.
	ControlPlaneNice int
}

// Cluster is a running local cluster. Its methods are safe for concurrent use.
type Cluster struct {
	dir        string
	removeDir  bool
	kubeconfig string
	config     *rest.Config
	client     kubernetes.Interface
	files      pkiFiles
	pki        *pki
	apiAddr    string
	stopTO     time.Duration
	imageRoots map[string]string
	onEvent    func(vnode.Event)
	firstNode  int
	binDir     string
	images     []string
	pauseImage string
	observer   *podObserver
	// podsPerNode, kcmQPS and controlPlaneNice are Options.PodsPerNode,
	// Options.ControllerManagerQPS and Options.ControlPlaneNice.
	podsPerNode, kcmQPS, controlPlaneNice int

	hub *eventHub

	mu           sync.Mutex
	procs        []*process // in start order
	nodes        []*vnode.Agent
	nodeStops    []func()
	realNodes    []*realNode
	observerStop func()
	stopped      bool
	stopErr      error
	startedIn    time.Duration
}

// Start starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler
// and opts.Nodes virtual nodes, and returns once the API server is ready,
// the controllers and the scheduler report healthy, the default
// ServiceAccount exists and every node is Ready and schedulable. The cluster
// stops when ctx is done or Stop is called. On a start-up failure everything
// already started is stopped and the error names the component and its log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	log := logr.FromContextOrDiscard(ctx)
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		stopTO: opts.StopTimeout, imageRoots: opts.ImageRoots, onEvent: opts.OnEvent, firstNode: opts.FirstNodeIndex, hub: newEventHub(),
		binDir: binDir, images: opts.Images, pauseImage: opts.PauseImage,
		podsPerNode: opts.PodsPerNode, kcmQPS: opts.ControllerManagerQPS, controlPlaneNice: opts.ControlPlaneNice,
	}
	if opts.PodsPerNode < 0 || opts.ControllerManagerQPS < 0 {
		return nil, fmt.Errorf("localcluster: PodsPerNode %d and ControllerManagerQPS %d must not be negative", opts.PodsPerNode, opts.ControllerManagerQPS)
	}
	if opts.ControlPlaneNice < 0 || opts.ControlPlaneNice > 19 {
		return nil, fmt.Errorf("localcluster: ControlPlaneNice %d: want 0 to 19", opts.ControlPlaneNice)
	}
	if c.pauseImage == "" {
		c.pauseImage = podapp.Image
	}
	if opts.RealNodes > 0 {
		if err := checkRealNodeHost(binDir); err != nil {
			return nil, err
		}
		if err := enterPrivateMounts(); err != nil {
			return nil, err
		}
	}
	if c.stopTO == 0 {
		c.stopTO = 10 * time.Second
	}
	c.dir = opts.Dir
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "zerodrop-cluster-"); err != nil {
			return nil, fmt.Errorf("creating cluster directory: %w", err)
		}
		c.removeDir = !opts.KeepDir
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating cluster directory: %w", err)
	}
	if opts.RealNodes > 0 {
		if err := writeRunState(c.dir, c.removeDir); err != nil {
			return nil, err
		}
	}
	readyTO := opts.ReadyTimeout
	if readyTO == 0 {
		readyTO = 2 * time.Minute
	}
	startCtx, cancel := context.WithTimeout(ctx, readyTO)
	defer cancel()
	if err := c.start(startCtx, binDir, opts.Nodes, opts.RealNodes); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("starting local cluster in %s: %w", c.dir, err)
	}
	c.startedIn = time.Since(began)
	log.V(1).Info("localClusterStarted", "dir", c.dir, "kubeconfig", c.kubeconfig, "duration", c.startedIn)
	go func() {
		<-ctx.Done()
		_ = c.Stop()
	}()
	return c, nil
}

func (c *Cluster) start(ctx context.Context, binDir string, nodes, realNodes int) error {
	_, svcNet, err := net.ParseCIDR(ServiceClusterIPRange)
	if err != nil {
		return fmt.Errorf("parsing service range: %w", err)
	}
	firstSvcIP := append(net.IP(nil), svcNet.IP.To4()...)
	firstSvcIP[3]++
	if c.pki, err = newPKI(firstSvcIP); err != nil {
		return err
	}
	if c.files, err = c.pki.write(filepath.Join(c.dir, "pki")); err != nil {
		return err
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	c.apiAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	logDir := filepath.Join(c.dir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return fmt.Errorf("creating log directory: %w", err)
	}

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	etcd, err := c.startComponent(ComponentEtcd, binDir, logDir, []string{
		"--name=local",
		"--data-dir=" + filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=local=" + peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	})
	if err != nil {
		return err
	}
	etcd.health = etcdURL + "/health"
	if err := waitHealthy(ctx, etcd, http.DefaultClient, etcd.health); err != nil {
		return err
	}

	// kube-apiserver
	api, err := c.startComponent(ComponentAPIServer, binDir, logDir, []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(c.dir, "pki"),
		"--tls-cert-file=" + c.files.servingCert,
		"--tls-private-key-file=" + c.files.servingKey,
		"--client-ca-file=" + c.files.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.files.saPub,
		"--service-account-signing-key-file=" + c.files.saKey,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		// The Endpoints of the "kubernetes" Service would carry the loopback
		// advertise address, which Endpoints validation rejects.
		"--endpoint-reconciler-type=none",
		// No kube-proxy: a webhook configured by Service (a Helm chart's)
		// is reached at the Service's endpoints, not its cluster IP.
		"--enable-aggregator-routing=true",
		"--profiling=false",
	})
	if err != nil {
		return err
	}
	tlsClient, err := c.httpsClient()
	if err != nil {
		return err
	}
	api.health = "https://" + c.apiAddr + "/readyz"
	if err := waitHealthy(ctx, api, tlsClient, api.health); err != nil {
		return err
	}
	if c.config, err = c.clientConfig(c.pki.admin); err != nil {
		return err
	}
	if c.client, err = kubernetes.NewForConfig(c.config); err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, c.apiAddr, c.pki.ca.certPEM, c.pki.admin, "zerodrop-admin"); err != nil {
		return err
	}

	// kube-controller-manager
	kcmKP, err := c.pki.ca.clientCert("system:kube-controller-manager", "")
	if err != nil {
		return err
	}
	kcmKubeconfig := filepath.Join(c.dir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, c.apiAddr, c.pki.ca.certPEM, kcmKP, "system:kube-controller-manager"); err != nil {
		return err
	}
	kcmArgs := []string{
		"--kubeconfig=" + kcmKubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(kcmPort),
		"--tls-cert-file=" + c.files.servingCert,
		"--tls-private-key-file=" + c.files.servingKey,
		"--leader-elect=false",
		"--controllers=" + strings.Join(controllers, ","),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + c.files.saKey,
		"--root-ca-file=" + c.files.caCert,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--node-monitor-period=2s",
		"--node-monitor-grace-period=20s",
		"--profiling=false",
	}
	if c.kcmQPS > 0 {
		kcmArgs = append(kcmArgs, "--kube-api-qps="+strconv.Itoa(c.kcmQPS), "--kube-api-burst="+strconv.Itoa(2*c.kcmQPS))
	}
	kcm, err := c.startComponent(ComponentControllerManager, binDir, logDir, kcmArgs)
	if err != nil {
		return err
	}

	// kube-scheduler
	schedKP, err := c.pki.ca.clientCert("system:kube-scheduler", "")
	if err != nil {
		return err
	}
	schedKubeconfig := filepath.Join(c.dir, "kube-scheduler.kubeconfig")
	if err := writeKubeconfig(schedKubeconfig, c.apiAddr, c.pki.ca.certPEM, schedKP, "system:kube-scheduler"); err != nil {
		return err
	}
	sched, err := c.startComponent(ComponentScheduler, binDir, logDir, []string{
		"--kubeconfig=" + schedKubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(schedPort),
		"--tls-cert-file=" + c.files.servingCert,
		"--tls-private-key-file=" + c.files.servingKey,
		"--leader-elect=false",
		"--profiling=false",
	})
	if err != nil {
		return err
	}
	kcm.health = fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort)
	if err := waitHealthy(ctx, kcm, tlsClient, kcm.health); err != nil {
		return err
	}
	sched.health = fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort)
	if err := waitHealthy(ctx, sched, tlsClient, sched.health); err != nil {
		return err
	}
	if err := c.waitDefaultServiceAccount(ctx, metav1.NamespaceDefault); err != nil {
		return fmt.Errorf("%w (see %s)", err, kcm.logPath)
	}
	for range nodes {
		if _, err := c.AddNode(ctx); err != nil {
			return err
		}
	}
	if realNodes > 0 {
		c.startObserver(ctx)
	}
	for range realNodes {
		if err := c.AddRealNode(ctx); err != nil {
			return err
		}
	}
	return nil
}

// startObserver starts recording the pods of real nodes.
func (c *Cluster) startObserver(ctx context.Context) {
	c.observer = newPodObserver(c.client, c.realNodeLogs, func(e vnode.Event) {
		if c.onEvent != nil {
			c.onEvent(e)
		}
		c.hub.publish(e)
	})
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.observer.run(runCtx)
	}()
	c.mu.Lock()
	c.observerStop = func() { cancel(); <-done }
	c.mu.Unlock()
}

// realNodeLogs returns the pod log directory of the real node name.
func (c *Cluster) realNodeLogs(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.realNodes {
		if n.name == name {
			return n.podLogs, true
		}
	}
	return "", false
}

// startComponent starts one control-plane binary with its log in logDir.
func (c *Cluster) startComponent(name, binDir, logDir string, args []string) (*process, error) {
	p, err := startProcess(name, filepath.Join(binDir, name), filepath.Join(logDir, name+".log"), args, c.controlPlaneNice)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		_ = p.stop(c.stopTO)
		return nil, errors.New("cluster stopped while starting")
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// RestartComponent stops the control-plane component name (one of the
// Component* constants) as Stop would, leaves it down for downtime, starts it
// again with the same binary, flags, certificates and data, and returns once
// it is healthy again. Everything else keeps running and reconnects on its
// own, as it would after a real restart. The component's log is appended to.
func (c *Cluster) RestartComponent(ctx context.Context, name string, downtime time.Duration) error {
	c.mu.Lock()
	idx := slices.IndexFunc(c.procs, func(p *process) bool { return p.name == name })
	if c.stopped || idx < 0 {
		c.mu.Unlock()
		if idx < 0 {
			return fmt.Errorf("restarting %s: no such component", name)
		}
		return fmt.Errorf("restarting %s: the cluster is stopped", name)
	}
	old := c.procs[idx]
	c.mu.Unlock()

	log := logr.FromContextOrDiscard(ctx)
	began := time.Now()
	if err := old.stop(c.stopTO); err != nil {
		return fmt.Errorf("restarting %s: %w", name, err)
	}
	log.Info("componentStopped", "component", name, "took", time.Since(began))
	select {
	case <-ctx.Done():
		return fmt.Errorf("restarting %s: %w", name, ctx.Err())
	case <-time.After(downtime):
	}
	p, err := startProcess(name, old.binary, old.logPath, old.args, old.nice)
	if err != nil {
		return err
	}
	p.health = old.health
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		_ = p.stop(c.stopTO)
		return fmt.Errorf("restarting %s: the cluster stopped meanwhile", name)
	}
	c.procs[idx] = p
	c.mu.Unlock()
	client, err := c.httpsClient()
	if err != nil {
		return err
	}
	began = time.Now()
	if err := waitHealthy(ctx, p, client, p.health); err != nil {
		return err
	}
	log.Info("componentRestarted", "component", name, "healthyAfter", time.Since(began))
	return nil
}

// httpsClient returns a client that trusts the cluster CA and presents the
// admin certificate, for health checks.
func (c *Cluster) httpsClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	pool.AddCert(c.pki.ca.cert)
	cert, err := tls.X509KeyPair(c.pki.admin.certPEM, c.pki.admin.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading admin certificate: %w", err)
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}, nil
}

// waitHealthy polls url until it answers 200, the process exits or ctx ends.
func waitHealthy(ctx context.Context, p *process, client *http.Client, url string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if done, err := p.exited(); done {
			return fmt.Errorf("%s exited during start-up (%v); log %s:\n%s", p.name, err, p.logPath, p.logTail(20))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("building health request for %s: %w", p.name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s (last: %s); log %s:\n%s", p.name, url, last, p.logPath, p.logTail(20))
		case <-tick.C:
		}
	}
}

func (c *Cluster) waitDefaultServiceAccount(ctx context.Context, namespace string) error {
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}, "default ServiceAccount in namespace "+namespace)
}

// poll calls cond every interval until it returns true, an error or ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error), what string) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// nodeQPS and nodeBurst are kubelet's defaults for its API client.
const (
	nodeQPS   = 50
	nodeBurst = 100
)

// clientConfig returns a rest.Config for the API server with kp's identity.
func (c *Cluster) clientConfig(kp keyPair) (*rest.Config, error) {
	return &rest.Config{
		Host: "https://" + c.apiAddr,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.pki.ca.certPEM,
			CertData: kp.certPEM,
			KeyData:  kp.keyPEM,
		},
		QPS:   200,
		Burst: 400,
	}, nil
}

// writeKubeconfig writes a kubeconfig for the API server at addr with the
// client certificate kp.
func writeKubeconfig(path, addr string, caPEM []byte, kp keyPair, user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["zerodrop-local"] = &clientcmdapi.Cluster{Server: "https://" + addr, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.certPEM, ClientKeyData: kp.keyPEM}
	cfg.Contexts["zerodrop-local"] = &clientcmdapi.Context{Cluster: "zerodrop-local", AuthInfo: user}
	cfg.CurrentContext = "zerodrop-local"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// AddNode registers and starts one more virtual node, and waits until it is
// Ready and free of the not-ready taint. Node i is named "vnode-<i>" and its
// pods get addresses in 127.(100+FirstNodeIndex+i).0.0/16.
func (c *Cluster) AddNode(ctx context.Context) (*vnode.Agent, error) {
	c.mu.Lock()
	index := len(c.nodes)
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return nil, errors.New("cluster is stopped")
	}
	name := fmt.Sprintf("vnode-%d", index)
	kp, err := c.pki.ca.clientCert("system:node:"+name, "system:nodes")
	if err != nil {
		return nil, err
	}
	cfg, err := c.clientConfig(kp)
	if err != nil {
		return nil, err
	}
	// kubelet's own client limits (--kube-api-qps, --kube-api-burst): a
	// node never writes faster than a real one would.
	cfg.QPS, cfg.Burst = nodeQPS, nodeBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating client for node %s: %w", name, err)
	}
	agent, err := vnode.New(vnode.Options{
		Name:       name,
		Index:      c.firstNode + index,
		Client:     client,
		Dir:        filepath.Join(c.dir, "nodes", name),
		ImageRoots: c.imageRoots,
		Capacity:   c.capacity(),
		APIServer:  "https://" + c.apiAddr,
		CAData:     c.pki.ca.certPEM,
		OnEvent: func(e vnode.Event) {
			if c.onEvent != nil {
				c.onEvent(e)
			}
			c.hub.publish(e)
		},
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = agent.Run(runCtx)
		if runErr != nil {
			logr.FromContextOrDiscard(ctx).Error(runErr, "virtualNodeFailed", "node", name)
		}
	}()
	c.mu.Lock()
	c.nodes = append(c.nodes, agent)
	c.nodeStops = append(c.nodeStops, func() { cancel(); <-done })
	c.mu.Unlock()
	err = poll(ctx, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-done:
			return true, nil // reported below
		default:
		}
		n, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return nodeSchedulable(n), nil
	}, "node "+name+" Ready and untainted")
	if err != nil {
		return nil, err
	}
	select {
	case <-done:
		return nil, fmt.Errorf("virtual node %s stopped during start-up: %w", name, runErr)
	default:
	}
	return agent, nil
}

// capacity is a virtual node's capacity: vnode's default, or with
// Options.PodsPerNode pods.
func (c *Cluster) capacity() corev1.ResourceList {
	if c.podsPerNode == 0 {
		return nil
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(int64(c.podsPerNode), resource.DecimalSI),
	}
}

// nodeSchedulable reports whether n is Ready and carries none of the taints
// the node lifecycle controller puts on nodes that are not ready yet.
func nodeSchedulable(n *corev1.Node) bool {
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	return ready
}

// Stop stops the virtual nodes, then the scheduler, the controller manager,
// the API server and etcd (reverse start order): SIGTERM to each process
// group, SIGKILL after the stop timeout. It removes a temporary directory.
// It is idempotent and safe to call from several goroutines.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.stopped {
		err := c.stopErr
		c.mu.Unlock()
		return err
	}
	c.stopped = true
	nodeStops := append([]func(){}, c.nodeStops...)
	procs := append([]*process{}, c.procs...)
	realNodes := append([]*realNode{}, c.realNodes...)
	observerStop := c.observerStop
	c.mu.Unlock()

	var errs []error
	for i := len(realNodes) - 1; i >= 0; i-- {
		if err := realNodes[i].stop(c.stopTO); err != nil {
			errs = append(errs, fmt.Errorf("stopping real node %s: %w", realNodes[i].name, err))
		}
	}
	if observerStop != nil {
		observerStop()
	}
	for i := len(nodeStops) - 1; i >= 0; i-- {
		nodeStops[i]()
	}
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].stop(c.stopTO); err != nil {
			errs = append(errs, err)
		}
	}
	c.hub.close()
	if c.removeDir && len(errs) == 0 {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", c.dir, err))
		}
	}
	err := errors.Join(errs...)
	c.mu.Lock()
	c.stopErr = err
	c.mu.Unlock()
	return err
}

// RESTConfig returns a copy of the admin client configuration
// (O=system:masters).
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Client returns an admin clientset.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// KubeconfigPath returns the path of the admin kubeconfig file.
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// Dir returns the cluster directory; component logs are in Dir()/logs.
func (c *Cluster) Dir() string { return c.dir }

// APIServerURL returns the https URL of the API server.
func (c *Cluster) APIServerURL() string { return "https://" + c.apiAddr }

// StartupDuration returns how long Start took.
func (c *Cluster) StartupDuration() time.Duration { return c.startedIn }

// Nodes returns the virtual node agents in index order.
func (c *Cluster) Nodes() []*vnode.Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*vnode.Agent(nil), c.nodes...)
}

// Component describes one control-plane process.
type Component struct {
	// Name is the component name, e.g. ComponentAPIServer.
	Name string
	// PID is the process id (also its process group id).
	PID int
	// LogPath is the file the component's output goes to.
	LogPath string
	// RSSBytes is the resident memory at the time of the call (0 if unknown).
	RSSBytes int64
}

// Components returns the control-plane processes in start order, with their
// current resident memory.
func (c *Cluster) Components() []Component {
	c.mu.Lock()
	procs := append([]*process{}, c.procs...)
	c.mu.Unlock()
	out := make([]Component, 0, len(procs))
	for _, p := range procs {
		rss, _ := rssBytes(p.pid())
		out = append(out, Component{Name: p.name, PID: p.pid(), LogPath: p.logPath, RSSBytes: rss})
	}
	return out
}

// Pods returns what the virtual nodes recorded about every pod they ran,
// and what the cluster recorded about the pods of real nodes, including
// pods already removed.
func (c *Cluster) Pods() []vnode.PodRecord {
	var out []vnode.PodRecord
	for _, n := range c.Nodes() {
		out = append(out, n.Pods()...)
	}
	if c.observer != nil {
		out = append(out, c.observer.records()...)
	}
	return out
}

// NodeNames returns the names of every node, virtual then real, in index
// order.
func (c *Cluster) NodeNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.Name())
	}
	for _, n := range c.realNodes {
		out = append(out, n.name)
	}
	return out
}

// RealNode describes one real node.
type RealNode struct {
	// Name is the Node's name; IP its address (kubelet's --node-ip).
	Name, IP string
	// KubeletLog and ContainerdLog are the processes' log files.
	KubeletLog, ContainerdLog string
	// PodLogs is kubelet's podLogsDir.
	PodLogs string
}

// RealNodes returns the real nodes in index order.
func (c *Cluster) RealNodes() []RealNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []RealNode
	for _, n := range c.realNodes {
		r := RealNode{Name: n.name, IP: n.ip, PodLogs: n.podLogs}
		if n.kubelet != nil {
			r.KubeletLog = n.kubelet.logPath
		}
		if n.containerd != nil {
			r.ContainerdLog = n.containerd.logPath
		}
		out = append(out, r)
	}
	return out
}

// Pod returns the record of the most recent pod named namespace/name on any
// virtual node.
func (c *Cluster) Pod(namespace, name string) (vnode.PodRecord, bool) {
	var best vnode.PodRecord
	found := false
	for _, r := range c.Pods() {
		if r.Namespace == namespace && r.Name == name && (!found || r.CreatedAt.After(best.CreatedAt)) {
			best, found = r, true
		}
	}
	return best, found
}

// Subscribe returns a channel of every pod lifecycle event from now on, from
// every virtual node, in order per node, never dropped (the subscription
// buffers without bound), and a function that ends the subscription.
func (c *Cluster) Subscribe() (<-chan vnode.Event, func()) { return c.hub.subscribe() }

// FindBinDir returns the directory with the control-plane binaries as
// Start finds it without Options.BinDir.
func FindBinDir() (string, error) { return findBinDir("") }

// findBinDir returns the directory with the control-plane binaries.
func findBinDir(explicit string) (string, error) {
	var candidates []string
	if explicit != "" {
		candidates = append(candidates, explicit)
	} else {
		for _, env := range []string{EnvBinDir, "KUBEBUILDER_ASSETS"} {
			if v := os.Getenv(env); v != "" {
				candidates = append(candidates, v)
			}
		}
		if wd, err := os.Getwd(); err == nil {
			candidates = append(candidates, ancestorsBin(wd)...)
		}
		if exe, err := os.Executable(); err == nil {
			candidates = append(candidates, ancestorsBin(filepath.Dir(exe))...)
		}
	}
	for _, dir := range candidates {
		if st, err := os.Stat(filepath.Join(dir, ComponentAPIServer)); err == nil && !st.IsDir() {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no %s found in %v: build the control plane into bin/ (see hack/cluster) or set %s", ComponentAPIServer, candidates, EnvBinDir)
}

func ancestorsBin(dir string) []string {
	var out []string
	for {
		out = append(out, filepath.Join(dir, "bin"))
		parent := filepath.Dir(dir)
		if parent == dir {
			return out
		}
		dir = parent
	}
}

// WaitServiceAccount waits until the namespace's default ServiceAccount
// exists (pods cannot be created before it).
func (c *Cluster) WaitServiceAccount(ctx context.Context, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.waitDefaultServiceAccount(ctx, namespace)
}
