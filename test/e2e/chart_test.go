package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"helm.sh/helm/v3/pkg/action"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/charts"
	"github.com/zerodrop/zerodrop/internal/cli/uninstall"
	"github.com/zerodrop/zerodrop/internal/demo"
	"github.com/zerodrop/zerodrop/internal/localcluster"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// The chart test installs charts/zerodrop with Helm's Go module into the
// local cluster and runs the controller as the chart deploys it. The
// virtual nodes run no container images, so the Deployment's pods stay
// unscheduled (a node selector no node has) and the test starts, per
// replica, bin/zerodrop with the Deployment's command, args and service
// account (a token of the chart's ServiceAccount: its RBAC is what the
// controller gets). What a kubelet and the pod network would give each
// replica, the test gives it in a network namespace of its own
// (localcluster.RunArgsInNetwork): an address of its own (the "pod IP", on
// which it listens on the chart's ports), an EndpointSlice of the webhook
// Service listing those addresses (the API server reaches webhooks at
// their endpoints: no kube-proxy here), and the Services' DNS names in
// /etc/hosts (no cluster DNS), so the injected preStop reaches the drain
// endpoint at the URL the chart passes.
const (
	chartRelease   = "zerodrop"
	chartNamespace = "zerodrop-system"
	// chartReplicas is the chart's default replica count.
	chartReplicas = 2
)

// chartPodIP is the address of controller replica i, inside the test's
// network namespace.
func chartPodIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 244, 250, byte(1 + i)}) }

// TestChart_InstalledControllerRollsWithoutLossAndUninstallsClean installs
// the chart with its default values (two replicas, leader election,
// self-managed certificates), labels the demo's namespaces, rolls a
// Deployment under load: the zerodrop mode must lose none of at least
// 10,000 requests while the plain endpoint sync, in the same run, loses
// some. Then it uninstalls as docs/install.md says (`zerodrop uninstall`,
// then `helm uninstall`) and checks that no webhook configuration, no
// TargetBinding and no finalizer is left and that every namespace deletes.
func TestChart_InstalledControllerRollsWithoutLossAndUninstallsClean(t *testing.T) {
	requirements(t)
	if !localcluster.InNetwork() {
		if os.Geteuid() != 0 {
			skipOrFail(t, "the chart test needs root for its network namespace")
		}
		if _, err := exec.LookPath("ip"); err != nil {
			skipOrFail(t, "the chart test needs iproute2 (hack/install-debs.sh iproute2)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
		defer cancel()
		code, err := localcluster.RunArgsInNetwork(ctx, []string{
			"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1", "-test.timeout=11m",
		})
		if err != nil || code != 0 {
			t.Fatalf("the test inside its network namespace: exit code %d, %v (its output is above)", code, err)
		}
		return
	}

	s, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	s.Rollouts = []demo.RolloutKind{demo.RollingUpdate}
	inst := &chartInstall{t: t, dir: t.TempDir()}
	env := setup(t, s, func(o *demo.Options) {
		o.Modes = []demo.Mode{demo.ModeNone, demo.ModeZerodrop}
		o.Install = inst.install
	})
	t.Cleanup(inst.stopReplicas)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	res, err := env.Run(ctx, t.TempDir())
	if res != nil {
		_ = demo.WriteTable(os.Stderr, res)
	}
	if err != nil {
		t.Fatalf("demo run: %v", err)
	}
	for _, k := range res.Kinds {
		checkZeroBesideBaseline(t, k, "with the chart's controller")
	}

	// The zero above is the chart's webhook's doing: the pods the rollout
	// created carry its readiness gate and drain wait.
	pods, err := env.Cluster.Client().CoreV1().Pods(demo.ModeZerodrop.Namespace()).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		gated, waits := false, false
		for _, g := range p.Spec.ReadinessGates {
			gated = gated || strings.HasPrefix(string(g.ConditionType), v1alpha1.GateConditionPrefix)
		}
		for _, ic := range p.Spec.InitContainers {
			waits = waits || ic.Name == webhook.InitContainer
		}
		if !gated || !waits {
			t.Errorf("pod %s: readiness gate injected %v, drain wait injected %v; want both from the chart's webhook", p.Name, gated, waits)
		}
	}
	t.Logf("%d zerodrop pods after the rollout, each with the chart webhook's readiness gate and drain wait", len(pods.Items))

	inst.uninstall(ctx, env)
}

// skipOrFail skips, or fails under CI, where a requirement is missing.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// chartInstall installs the chart and runs its controller replicas.
type chartInstall struct {
	t        *testing.T
	dir      string
	helm     *action.Configuration
	replicas []*exec.Cmd
	// exited receives each replica's end.
	exited chan error
}

// install is the demo's Options.Install: Helm install, then the replicas.
func (c *chartInstall) install(ctx context.Context, e *demo.Environment) error {
	for i := range chartReplicas {
		if err := localcluster.AddLoopbackAddress(ctx, chartPodIP(i)); err != nil {
			return err
		}
	}
	// The Services' names resolve to the last replica, as a Service may
	// pick any endpoint (the demo's in-process replicas do the same).
	last := chartPodIP(chartReplicas - 1)
	if err := localcluster.SetHosts(c.dir, map[string]netip.Addr{
		"zerodrop-webhook." + chartNamespace + ".svc": last,
		"zerodrop-drain." + chartNamespace + ".svc":   last,
	}); err != nil {
		return err
	}
	ch, err := charts.Load(filepath.Join("..", "..", "charts", charts.Name))
	if err != nil {
		return err
	}
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig = ptr.To(e.Cluster.KubeconfigPath())
	getter.Namespace = ptr.To(chartNamespace)
	c.helm = new(action.Configuration)
	if err := c.helm.Init(getter, chartNamespace, "secret", func(format string, v ...any) { c.t.Logf("helm: "+format, v...) }); err != nil {
		return fmt.Errorf("helm init: %w", err)
	}
	in := action.NewInstall(c.helm)
	in.ReleaseName, in.Namespace, in.CreateNamespace, in.Timeout = chartRelease, chartNamespace, true, 2*time.Minute
	values := map[string]any{
		// The virtual nodes run the injected init container and preStop
		// from the demo's image root of this name.
		"injector": map[string]any{"image": demo.InjectorImage},
		// The test runs the replicas (see above): no node takes the pods.
		"nodeSelector": map[string]any{"e2e.zerodrop.dev/runs-controller-pods": "never"},
	}
	began := time.Now()
	rel, err := in.RunWithContext(ctx, ch, values)
	if err != nil {
		return fmt.Errorf("helm install: %w", err)
	}
	c.t.Logf("helm install %s: release %s v%d %s in %s", chartNamespace, rel.Name, rel.Version, rel.Info.Status, time.Since(began).Round(time.Millisecond))

	cs := e.Cluster.Client()
	dep, err := cs.AppsV1().Deployments(chartNamespace).Get(ctx, "zerodrop-controller", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the chart's Deployment: %w", err)
	}
	if err := c.publishWebhookEndpoints(ctx, e); err != nil {
		return err
	}
	kubeconfig, err := c.serviceAccountKubeconfig(ctx, e, dep.Spec.Template.Spec.ServiceAccountName)
	if err != nil {
		return err
	}
	c.exited = make(chan error, chartReplicas)
	for i := range chartReplicas {
		if err := c.startReplica(ctx, dep, i, kubeconfig); err != nil {
			return err
		}
	}
	return c.waitServing(ctx, e)
}

// publishWebhookEndpoints writes the EndpointSlice a kubelet and the
// EndpointSlice controller would: the webhook Service's port at every
// replica's address.
func (c *chartInstall) publishWebhookEndpoints(ctx context.Context, e *demo.Environment) error {
	cs := e.Cluster.Client()
	cfg, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhook.ConfigurationName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the chart's webhook configuration: %w", err)
	}
	ref := cfg.Webhooks[0].ClientConfig.Service
	if ref == nil {
		return errors.New("the chart's webhook configuration names no Service")
	}
	svc, err := cs.CoreV1().Services(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the webhook Service: %w", err)
	}
	dep, err := cs.AppsV1().Deployments(chartNamespace).Get(ctx, "zerodrop-controller", metav1.GetOptions{})
	if err != nil {
		return err
	}
	port, err := containerPort(dep, svc.Spec.Ports[0].TargetPort.String())
	if err != nil {
		return err
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: ref.Name + "-e2e", Namespace: ref.Namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: ref.Name, discoveryv1.LabelManagedBy: "e2e.zerodrop.dev",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(svc.Spec.Ports[0].Name), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for i := range chartReplicas {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{chartPodIP(i).String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		})
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(ref.Namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the webhook Service's EndpointSlice: %w", err)
	}
	return nil
}

// containerPort is the number of the controller container's port name.
func containerPort(dep *appsv1.Deployment, name string) (int32, error) {
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == name {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("the chart's controller container has no port %q", name)
}

// serviceAccountKubeconfig writes a kubeconfig with a token of the chart's
// ServiceAccount, as a pod would mount it.
func (c *chartInstall) serviceAccountKubeconfig(ctx context.Context, e *demo.Environment, sa string) (string, error) {
	tok, err := e.Cluster.Client().CoreV1().ServiceAccounts(chartNamespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token of ServiceAccount %s: %w", sa, err)
	}
	rc := e.Cluster.RESTConfig()
	ca := rc.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(rc.CAFile); err != nil {
			return "", fmt.Errorf("reading the API server's CA: %w", err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: ca}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: sa, Namespace: chartNamespace}
	cfg.CurrentContext = "sa"
	path := filepath.Join(c.dir, "serviceaccount.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// startReplica runs replica i: the container's command and args, with the
// chart's /certs volume in a directory of its own, the pod IP as the
// address of each listener (a pod's ":port" is its own IP's), and the
// ServiceAccount's kubeconfig in place of the in-cluster one.
func (c *chartInstall) startReplica(ctx context.Context, dep *appsv1.Deployment, i int, kubeconfig string) error {
	ctr := dep.Spec.Template.Spec.Containers[0]
	if len(ctr.Command) != 1 || ctr.Command[0] != "/zerodrop" {
		return fmt.Errorf("the chart's controller command is %q, want [/zerodrop]", ctr.Command)
	}
	certs := filepath.Join(c.dir, fmt.Sprintf("replica-%d-certs", i))
	if err := os.MkdirAll(certs, 0o700); err != nil {
		return err
	}
	ip := chartPodIP(i).String()
	var args []string
	for _, a := range ctr.Args {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--webhook-cert-dir":
			a = name + "=" + certs
		case "--drain-bind-address", "--metrics-bind-address", "--health-probe-bind-address":
			a = name + "=" + ip + value
		}
		args = append(args, a)
	}
	args = append(args, "--webhook-host="+ip, "--kubeconfig="+kubeconfig)
	logPath := filepath.Join(c.dir, fmt.Sprintf("replica-%d.log", i))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(zerodropBinary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting controller replica %d: %w", i, err)
	}
	c.t.Logf("controller replica %d (pid %d) on %s: zerodrop %s", i, cmd.Process.Pid, ip, strings.Join(args, " "))
	c.replicas = append(c.replicas, cmd)
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		c.exited <- fmt.Errorf("controller replica %d exited: %v (log %s)", i, err, logPath)
	}()
	return nil
}

// waitServing waits until every replica is ready and the webhook
// configuration carries the self-managed CA.
func (c *chartInstall) waitServing(ctx context.Context, e *demo.Environment) error {
	cs := e.Cluster.Client()
	began := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-c.exited:
			return false, err
		default:
		}
		cfg, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhook.ConfigurationName, metav1.GetOptions{})
		if err != nil || len(cfg.Webhooks) == 0 || len(cfg.Webhooks[0].ClientConfig.CABundle) == 0 {
			return false, nil
		}
		for i := range chartReplicas {
			resp, err := http.Get("http://" + chartPodIP(i).String() + ":8081/readyz")
			if err != nil {
				return false, nil
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the chart's controller replicas to serve: %w", err)
	}
	c.t.Logf("chart's controller: %d replicas ready, CA bundle in the webhook configuration, %s after their start", chartReplicas, time.Since(began).Round(time.Millisecond))
	return nil
}

// stopReplicas ends the replicas (SIGTERM, as a kubelet would).
func (c *chartInstall) stopReplicas() {
	for _, cmd := range c.replicas {
		_ = cmd.Process.Signal(os.Interrupt)
	}
	for range c.replicas {
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
		}
	}
	c.replicas = nil
}

// uninstall follows docs/install.md: `zerodrop uninstall` while the
// controller runs, then `helm uninstall` (the replicas end with their
// Deployment); then nothing of zerodrop may hold any namespace.
func (c *chartInstall) uninstall(ctx context.Context, e *demo.Environment) {
	t := c.t
	rep, err := uninstall.Run(ctx, e.Client, uninstall.Options{Timeout: 2 * time.Minute, Poll: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("zerodrop uninstall: %v", err)
	}
	t.Logf("zerodrop uninstall: %+v", rep)
	if _, err := action.NewUninstall(c.helm).Run(chartRelease); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	cs := e.Cluster.Client()
	if _, err := cs.AppsV1().Deployments(chartNamespace).Get(ctx, "zerodrop-controller", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall the controller Deployment is still there (%v)", err)
	}
	c.stopReplicas()

	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhook.ConfigurationName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("webhook configuration %s left after uninstall (%v)", webhook.ConfigurationName, err)
	}
	bindings := &v1alpha1.TargetBindingList{}
	if err := e.Client.List(ctx, bindings); err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings.Items {
		t.Errorf("TargetBinding %s/%s left after uninstall (finalizers %v)", b.Namespace, b.Name, b.Finalizers)
	}
	namespaces := []string{chartNamespace}
	for _, m := range []demo.Mode{demo.ModeNone, demo.ModeZerodrop} {
		namespaces = append(namespaces, m.Namespace())
	}
	for _, ns := range namespaces {
		if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	}
	began := time.Now()
	for _, ns := range namespaces {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			got, _ := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			t.Errorf("namespace %s not gone 2m after its deletion: %+v", ns, got.Status)
		}
	}
	t.Logf("after zerodrop uninstall and helm uninstall: no webhook configuration, no TargetBinding; %d namespaces deleted in %s", len(namespaces), time.Since(began).Round(time.Millisecond))
}
