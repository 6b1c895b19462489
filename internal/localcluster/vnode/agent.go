package vnode

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
)

// Labels a virtual node carries besides the well-known ones.
const (
	// LabelVirtualNode marks nodes run by this agent.
	LabelVirtualNode = "zerodrop.dev/virtual-node"
)

// Heartbeat settings: the Lease is renewed every leaseRenewInterval and is
// valid for leaseDuration; the Node status is re-posted every
// nodeStatusInterval. The controller manager of a local cluster uses a node
// monitor grace period of 20s.
const (
	leaseDuration      = 20 * time.Second
	leaseRenewInterval = 2 * time.Second
	nodeStatusInterval = 30 * time.Second
)

// tokenRequestTimeout bounds the retries of a pod's service-account token.
const tokenRequestTimeout = 15 * time.Second

// KubeletVersion is what a virtual node reports as its kubelet version.
const KubeletVersion = "v1.37.1-zerodrop-vnode"

// Options configure a virtual node agent.
type Options struct {
	// Name is the Node name.
	Name string
	// Index selects the node's address range 127.(100+Index).0.0/16
	// (0..155). The node itself has 127.(100+Index).0.1.
	Index int
	// Client talks to the API server, ideally as system:node:<Name> in
	// group system:nodes (the Node authorizer then applies as to kubelet).
	Client kubernetes.Interface
	// Dir holds per-pod directories (emptyDir volumes, service-account
	// files). Required.
	Dir string
	// APIServer is the API server URL written into pods' kubeconfigs; CAData
	// its CA. Without them exec commands get no KUBECONFIG.
	APIServer string
	CAData    []byte
	// ImageRoots maps a container image to a host directory standing in for
	// its file system: an init container of such an image runs its command
	// on the host, and absolute paths in commands of containers of that
	// image that exist under the root are rewritten to it. Init containers
	// of other images complete at once without running.
	ImageRoots map[string]string
	// Capacity overrides the node capacity (default cpu 8, memory 32Gi,
	// pods 110).
	Capacity corev1.ResourceList
	// OnEvent, if set, is called for every pod lifecycle event, from the
	// agent's goroutines; it must not block.
	OnEvent func(Event)
}

// Agent is a running virtual node.
type Agent struct {
	opts   Options
	nodeIP netip.Addr
	log    logr.Logger

	mu      sync.Mutex
	pool    *ipPool
	workers map[types.UID]*podWorker
	history []*podWorker // every worker ever, for records
	ctx     context.Context
}

// New checks opts and returns an agent; Run starts it.
func New(opts Options) (*Agent, error) {
	if opts.Name == "" || opts.Client == nil || opts.Dir == "" {
		return nil, errors.New("virtual node needs a Name, a Client and a Dir")
	}
	ip, err := NodeIP(opts.Index)
	if err != nil {
		return nil, err
	}
	pool, err := newIPPool(opts.Index)
	if err != nil {
		return nil, err
	}
	return &Agent{opts: opts, nodeIP: ip, pool: pool, workers: map[types.UID]*podWorker{}, log: logr.Discard()}, nil
}

// Name returns the node name.
func (a *Agent) Name() string { return a.opts.Name }

// NodeIP returns the node's address, 127.(100+index).0.1.
func (a *Agent) NodeIP() netip.Addr { return a.nodeIP }

// Run registers the Node, heartbeats and runs the pods bound to the node
// until ctx is done; then it kills every app at once (without touching the
// API objects) and returns.
func (a *Agent) Run(ctx context.Context) error {
	a.log = logr.FromContextOrDiscard(ctx).WithValues("node", a.opts.Name)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	if err := os.MkdirAll(a.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("creating node directory: %w", err)
	}
	if err := a.register(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.heartbeat(ctx) })

	factory := informers.NewSharedInformerFactoryWithOptions(a.opts.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.opts.Name).String()
		}))
	podInformer := factory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.onPod(obj) },
		UpdateFunc: func(_, obj any) { a.onPod(obj) },
		DeleteFunc: a.onPodDeleted,
	}); err != nil {
		return fmt.Errorf("watching pods of node %s: %w", a.opts.Name, err)
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	wg.Wait()
	a.mu.Lock()
	workers := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		w.cancel()
		<-w.done
	}
	return nil
}

func (a *Agent) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != a.opts.Name {
		return
	}
	a.mu.Lock()
	w, exists := a.workers[pod.UID]
	if !exists {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || a.ctx.Err() != nil {
			a.mu.Unlock()
			return
		}
		ip := a.nodeIP
		if !pod.Spec.HostNetwork {
			var err error
			if ip, err = a.pool.allocate(); err != nil {
				a.mu.Unlock()
				a.log.Error(err, "podAddressAllocationFailed", "pod", pod.Namespace+"/"+pod.Name)
				return
			}
		}
		w = newPodWorker(a.ctx, a, pod, ip)
		a.workers[pod.UID] = w
		a.history = append(a.history, w)
		a.mu.Unlock()
		go w.run()
		w.update(pod)
		return
	}
	a.mu.Unlock()
	w.update(pod)
}

func (a *Agent) onPodDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w, exists := a.workers[pod.UID]
	delete(a.workers, pod.UID)
	a.mu.Unlock()
	if !exists {
		return
	}
	go func() {
		w.cancel()
		<-w.done
		a.mu.Lock()
		if !pod.Spec.HostNetwork {
			a.pool.release(w.ip)
		}
		a.mu.Unlock()
		w.mu.Lock()
		w.rec.RemovedAt = time.Now()
		w.mu.Unlock()
		w.emit(EventPodRemoved, "", "")
	}()
}

func (a *Agent) emit(e Event) {
	if a.opts.OnEvent != nil {
		a.opts.OnEvent(e)
	}
}

// Pods returns the records of every pod this node ran, oldest first.
func (a *Agent) Pods() []PodRecord {
	a.mu.Lock()
	workers := append([]*podWorker(nil), a.history...)
	a.mu.Unlock()
	out := make([]PodRecord, 0, len(workers))
	for _, w := range workers {
		out = append(out, w.record())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// apiHostPort returns host:port of the API server, or "".
func (a *Agent) apiHostPort() string {
	u, err := url.Parse(a.opts.APIServer)
	if err != nil {
		return ""
	}
	return u.Host
}

// defaultTokenExpiration is the lifetime of a token that does not ask for
// one (kubelet's projected volume default is one hour too).
const defaultTokenExpiration = int64(3600)

// requestToken asks the TokenRequest API for a token of the pod's service
// account bound to the pod, for audiences (the API server's default when
// empty), as kubelet's token manager does.
func (a *Agent) requestToken(ctx context.Context, pod *corev1.Pod, audiences []string, expiry int64) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	var tr *authenticationv1.TokenRequest
	// The Node authorizer learns that the pod is bound to this node
	// asynchronously: retry "forbidden" for a while, as kubelet does.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, tokenRequestTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		tr, err = a.opts.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{
				Audiences:         audiences,
				ExpirationSeconds: &expiry,
				BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			},
		}, metav1.CreateOptions{})
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return "", fmt.Errorf("requesting token of service account %s/%s (audiences %v): %w", pod.Namespace, sa, audiences, err)
	}
	return tr.Status.Token, nil
}

// serviceAccountFiles writes the pod's service-account token (a bound
// token from the TokenRequest API, as kubelet's projected volume), CA and
// namespace into dir, and a kubeconfig using them; it returns dir and the
// kubeconfig path ("" when the pod opts out or the agent has no API URL).
func (a *Agent) serviceAccountFiles(ctx context.Context, pod *corev1.Pod, dir string) (string, string, error) {
	if a.opts.APIServer == "" || (pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken) {
		return dir, "", nil
	}
	token, err := a.requestToken(ctx, pod, nil, defaultTokenExpiration)
	if err != nil {
		return dir, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return dir, "", fmt.Errorf("creating service-account directory: %w", err)
	}
	for name, data := range map[string][]byte{"token": []byte(token), "ca.crt": a.opts.CAData, "namespace": []byte(pod.Namespace)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return dir, "", fmt.Errorf("writing service-account %s: %w", name, err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: a.opts.APIServer, CertificateAuthorityData: a.opts.CAData}
	cfg.AuthInfos["pod"] = &clientcmdapi.AuthInfo{TokenFile: filepath.Join(dir, "token")}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "pod", Namespace: pod.Namespace}
	cfg.CurrentContext = "local"
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return dir, "", fmt.Errorf("writing pod kubeconfig: %w", err)
	}
	return dir, path, nil
}

// register creates the Node object, or takes over an existing one.
func (a *Agent) register(ctx context.Context) error {
	node := a.nodeObject()
	_, err := a.opts.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("registering node %s: %w", a.opts.Name, err)
	}
	return a.postStatus(ctx)
}

func (a *Agent) nodeObject() *corev1.Node {
	capacity := a.opts.Capacity
	if capacity == nil {
		capacity = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("8"),
			corev1.ResourceMemory: resource.MustParse("32Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.opts.Name,
			Labels: map[string]string{
				corev1.LabelHostname: a.opts.Name,
				corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
				LabelVirtualNode: "true",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: a.nodeIP.String()},
				{Type: corev1.NodeHostName, Address: a.opts.Name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          KubeletVersion,
				ContainerRuntimeVersion: "zerodrop-vnode://" + KubeletVersion,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
				OSImage:                 "zerodrop virtual node",
			},
			Conditions: a.nodeConditions(),
		},
	}
}

func (a *Agent) nodeConditions() []corev1.NodeCondition {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "virtual node agent is posting ready status"),
	}
}

// postStatus posts the node status with fresh heartbeats. Transition times
// are kept from the current object.
func (a *Agent) postStatus(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error { return a.postStatusOnce(ctx) })
}

func (a *Agent) postStatusOnce(ctx context.Context) error {
	node, err := a.opts.Client.CoreV1().Nodes().Get(ctx, a.opts.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading node %s: %w", a.opts.Name, err)
	}
	want := a.nodeObject().Status
	for i, c := range want.Conditions {
		for _, old := range node.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				want.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	node.Status.Conditions = want.Conditions
	node.Status.Capacity, node.Status.Allocatable = want.Capacity, want.Allocatable
	node.Status.Addresses, node.Status.NodeInfo = want.Addresses, want.NodeInfo
	if _, err := a.opts.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("posting status of node %s: %w", a.opts.Name, err) // a conflict is retried
	}
	return nil
}

// heartbeat renews the node Lease and re-posts the node status.
func (a *Agent) heartbeat(ctx context.Context) {
	leaseTick := time.NewTicker(leaseRenewInterval)
	defer leaseTick.Stop()
	statusTick := time.NewTicker(nodeStatusInterval)
	defer statusTick.Stop()
	for {
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.log.Error(err, "leaseRenewFailed")
		}
		select {
		case <-ctx.Done():
			return
		case <-statusTick.C:
			if err := a.postStatus(ctx); err != nil && ctx.Err() == nil {
				a.log.Error(err, "nodeStatusFailed")
			}
		case <-leaseTick.C:
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.opts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	seconds := int32(leaseDuration / time.Second)
	lease, err := leases.Get(ctx, a.opts.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := a.opts.Client.CoreV1().Nodes().Get(ctx, a.opts.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading node for lease owner: %w", err)
		}
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: a.opts.Name, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
			},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &a.opts.Name, LeaseDurationSeconds: &seconds, RenewTime: &now},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading lease: %w", err)
	}
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &a.opts.Name, &seconds, &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renewing lease: %w", err)
	}
	return nil
}
