package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of a real node's processes, used for log files and errors.
const (
	ComponentKubelet    = "kubelet"
	ComponentContainerd = "containerd"
)

// Paths of the machine a real node uses. Everything else of a node (kubelet
// root, containerd root and state, runc root, CNI configuration and IPAM
// data, pod logs) lives in the cluster directory.
const (
	// containerdBinary, ctrBinary and runcBinary are Debian's (containerd,
	// runc: hack/install-debs.sh).
	containerdBinary = "/usr/bin/containerd"
	ctrBinary        = "/usr/bin/ctr"
	runcBinary       = "/usr/sbin/runc"
	// cniBinDir holds Debian's containernetworking-plugins.
	cniBinDir = "/usr/lib/cni"
	// cniResultsDir is where containerd 1.6's CNI library caches results
	// (not configurable); entries start with the network's name.
	cniResultsDir = "/var/lib/cni/results"
	// shimSocketDir is where containerd 1.6's shims put their sockets (not
	// configurable).
	shimSocketDir = "/run/containerd/s"
	// containerLogLinks is where kubelet links every container's log (not
	// configurable).
	containerLogLinks = "/var/log/containers"
	// cgroupFS is where the machine's cgroup hierarchies are mounted.
	cgroupFS = "/sys/fs/cgroup"
	// kubeletPort and kubeletHealthzPort are kubelet's usual ports, on the
	// node's own address.
	kubeletPort        = 10250
	kubeletHealthzPort = 10248
	// maxRealNodes bounds the node index: node i has 10.244.i.0/24.
	maxRealNodes = 200
	// podCPUShares is the cpu.shares (cgroup v1) of the cgroup holding
	// every real node's pods. In cgroup v1 every process of the root
	// cgroup weighs 1024 against a child cgroup as a whole, and kubelet
	// gives BestEffort pods 2 inside it: on a machine busy with builds the
	// pods got a few percent of a CPU, their health checks timed out and
	// HAProxy answered 503. 16 × 1024 gives the pods together the weight
	// of 16 ordinary processes, about what they would have as plain
	// processes (the virtual nodes' apps are goroutines of the test).
	podCPUShares = 16 * 1024
)

// PodNetwork is the range real nodes' pods get addresses from, inside the
// cluster's network namespace: node i has 10.244.i.0/24 on the bridge
// zd<i>, whose address 10.244.i.1 is the node's own.
const PodNetwork = "10.244.0.0/16"

// RealNodeNamePrefix starts every real node's name ("rnode-0").
const RealNodeNamePrefix = "rnode-"

// realNode is one running kubelet with its containerd.
type realNode struct {
	name, ip, bridge string
	index            int
	dir              string
	socket           string // containerd's
	cgroupRoot       string // kubelet's --cgroup-root, e.g. /zerodrop-rn-42/rnode-0
	podLogs          string
	containerd       *process
	kubelet          *process
}

// RealNodeIP returns real node i's address, 10.244.i.1.
func RealNodeIP(i int) string { return fmt.Sprintf("10.244.%d.1", i) }

// checkRealNodeHost says what is missing on this machine for real nodes.
func checkRealNodeHost(binDir string) error {
	if !InNetwork() {
		return errors.New("real nodes run only inside the network namespace localcluster.RunInNetwork creates (zerodrop demo --real-nodes and the real-node e2e test do that themselves)")
	}
	if os.Geteuid() != 0 {
		return errors.New("real nodes need root")
	}
	var missing []string
	for _, p := range []string{containerdBinary, ctrBinary, runcBinary, filepath.Join(cniBinDir, "bridge"), filepath.Join(cniBinDir, "host-local"), filepath.Join(cniBinDir, "loopback")} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("real nodes need %s: hack/install-debs.sh containerd runc containernetworking-plugins", strings.Join(missing, ", "))
	}
	if _, err := os.Stat(filepath.Join(binDir, ComponentKubelet)); err != nil {
		return fmt.Errorf("no kubelet in %s: build it with hack/build-node.sh", binDir)
	}
	return nil
}

// AddRealNode starts one more real node — a bridge and a /24 of
// PodNetwork, containerd with runc and the bridge CNI plugin, the images of
// Options.Images imported, kubelet — and waits until its Node is Ready and
// free of the not-ready taint. Node i is named "rnode-<i>".
func (c *Cluster) AddRealNode(ctx context.Context) error {
	c.mu.Lock()
	index := len(c.realNodes)
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return errors.New("cluster is stopped")
	}
	if index >= maxRealNodes {
		return fmt.Errorf("at most %d real nodes", maxRealNodes)
	}
	netns := os.Getenv(EnvNetwork)
	n := &realNode{
		name: RealNodeNamePrefix + strconv.Itoa(index), index: index, ip: RealNodeIP(index),
		bridge: "zd" + strconv.Itoa(index),
	}
	n.dir = filepath.Join(c.dir, "nodes", n.name)
	// Unix socket paths are short (108 bytes): not in a test's long temp dir.
	n.socket = filepath.Join(stateDir, netns, n.name+".sock")
	n.cgroupRoot = "/" + netns + "/" + n.name
	n.podLogs = filepath.Join(n.dir, "pod-logs")
	c.mu.Lock()
	c.realNodes = append(c.realNodes, n)
	c.mu.Unlock()
	if err := c.startRealNode(ctx, n, netns); err != nil {
		return fmt.Errorf("real node %s: %w", n.name, err)
	}
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if done, err := n.kubelet.exited(); done {
			return false, fmt.Errorf("kubelet exited (%v); log %s:\n%s", err, n.kubelet.logPath, n.kubelet.logTail(20))
		}
		node, err := c.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return nodeSchedulable(node), nil
	}, "node "+n.name+" Ready and untainted")
	if err != nil {
		return fmt.Errorf("%w (kubelet log %s)", err, n.kubelet.logPath)
	}
	return nil
}

func (c *Cluster) startRealNode(ctx context.Context, n *realNode, netns string) error {
	for _, d := range []string{n.dir, n.podLogs, filepath.Dir(n.socket), filepath.Join(n.dir, "cni", "net.d")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := addBridge(ctx, n.bridge, bridgeMAC(n.index), n.ip+"/24"); err != nil {
		return err
	}
	if err := makeCgroup(n.cgroupRoot); err != nil {
		return err
	}
	files := map[string]string{
		filepath.Join(n.dir, "cni", "net.d", "10-zerodrop.conflist"): cniConfig(netns+"-"+n.name, n.bridge, n.index, filepath.Join(n.dir, "cni", "ipam")),
		filepath.Join(n.dir, "containerd.toml"):                      containerdConfig(n, c.pauseImage),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	logDir := filepath.Join(c.dir, "logs")
	var err error
	n.containerd, err = startProcess(n.name+"-"+ComponentContainerd, containerdBinary, filepath.Join(logDir, n.name+"-containerd.log"),
		[]string{"--config", filepath.Join(n.dir, "containerd.toml")}, 0)
	if err != nil {
		return err
	}
	if err := waitContainerd(ctx, n); err != nil {
		return err
	}
	for _, img := range c.images {
		out, err := exec.CommandContext(ctx, ctrBinary, "--address", n.socket, "--namespace", "k8s.io", "images", "import", img).CombinedOutput()
		if err != nil {
			return fmt.Errorf("importing image %s: %w: %s", img, err, strings.TrimSpace(string(out)))
		}
	}

	kp, err := c.pki.ca.clientCert("system:node:"+n.name, "system:nodes")
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(n.dir, "kubelet.kubeconfig")
	if err := writeKubeconfig(kubeconfig, c.apiAddr, c.pki.ca.certPEM, kp, "system:node:"+n.name); err != nil {
		return err
	}
	config := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(config, []byte(kubeletConfig(n, c.files.caCert)), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", config, err)
	}
	n.kubelet, err = startProcess(n.name+"-"+ComponentKubelet, filepath.Join(c.binDir, ComponentKubelet), filepath.Join(logDir, n.name+"-kubelet.log"), []string{
		"--config=" + config,
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + filepath.Join(n.dir, "kubelet"),
		"--node-ip=" + n.ip,
		"--hostname-override=" + n.name,
		"--v=2",
	}, 0)
	return err
}

// waitContainerd waits until containerd answers on its socket.
func waitContainerd(ctx context.Context, n *realNode) error {
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if done, err := n.containerd.exited(); done {
			return false, fmt.Errorf("containerd exited (%v); log %s:\n%s", err, n.containerd.logPath, n.containerd.logTail(20))
		}
		conn, err := net.DialTimeout("unix", n.socket, time.Second)
		if err != nil {
			return false, nil
		}
		_ = conn.Close()
		out, err := exec.CommandContext(ctx, ctrBinary, "--address", n.socket, "version").CombinedOutput()
		if err != nil {
			return false, fmt.Errorf("ctr version: %w: %s", err, out)
		}
		return true, nil
	}, "containerd of "+n.name)
}

// bridgeMAC is node i's bridge's MAC address (locally administered).
func bridgeMAC(i int) string { return fmt.Sprintf("02:7a:64:00:%02x:01", i) }

// addBridge creates (again) the bridge name with the MAC address mac and
// the address cidr. The MAC is set because a bridge without one takes the
// lowest of its ports': every new pod's veth could change it, and the pods'
// ARP caches would send to the old one for seconds (every request through
// HAProxy, whose connections come from the bridge's address, timed out
// during rollouts until the caches expired).
func addBridge(ctx context.Context, name, mac, cidr string) error {
	_ = exec.CommandContext(ctx, "ip", "link", "delete", name).Run()
	for _, args := range [][]string{
		{"link", "add", name, "address", mac, "type", "bridge"},
		{"addr", "add", cidr, "dev", name},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// cniConfig is a node's CNI network: a bridge with host-local addresses,
// the bridge the pods' gateway (every address of the cluster's network
// namespace is reached through it), no masquerade: nothing leaves the
// namespace.
func cniConfig(network, bridge string, index int, ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "10.244.%d.0/24", "gateway": "10.244.%d.1"}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, network, bridge, index, index, ipamDir)
}

// containerdConfig is a node's containerd: its own root, state, socket and
// runc root; the CRI plugin with the local sandbox image and, because this
// machine's root lacks CAP_SYS_RESOURCE, restrict_oom_score_adj (kubelet
// asks for -998, which runc could not set: "can't get final child's PID
// from pipe: EOF").
func containerdConfig(n *realNode, pauseImage string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %q

[ttrpc]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = %q
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = %q
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, filepath.Join(n.dir, "containerd", "root"), filepath.Join(n.dir, "containerd", "state"), n.socket,
		filepath.Join(n.dir, "containerd", "opt"), pauseImage, n.ip, runcBinary, filepath.Join(n.dir, "runc"),
		cniBinDir, filepath.Join(n.dir, "cni", "net.d"))
}

// kubeletConfig is a node's KubeletConfiguration: cgroupfs under the
// node's own cgroup root (cgroup v1 allowed), containerd's socket, kubelet's
// API on the node's address with webhook authentication and authorization,
// no swap check, no resolv.conf, eviction thresholds low enough for a
// shared machine, no image garbage collection (nothing could be pulled
// back), and pod logs in the cluster directory.
func kubeletConfig(n *realNode, caFile string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: %s
healthzPort: %d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: %s
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
resolvConf: ""
podLogsDir: %s
evictionHard:
  memory.available: 100Mi
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
makeIPTablesUtilChains: false
staticPodPath: ""
`, n.ip, kubeletPort, n.ip, kubeletHealthzPort, caFile, n.cgroupRoot, n.socket, n.podLogs)
}

// stop stops the node and removes what it made outside the cluster
// directory: kubelet first (so nothing restarts containers), then every
// process in the node's cgroups (pods), containerd and its shims, then
// the node's mounts, cgroups, bridge and log links.
func (n *realNode) stop(timeout time.Duration) error {
	var errs []error
	if n.kubelet != nil {
		errs = append(errs, n.kubelet.stop(timeout))
	}
	deadline := time.Now().Add(cleanupTimeout)
	for _, root := range cgroupHierarchies() {
		killCgroupTree(filepath.Join(root, n.cgroupRoot))
	}
	if n.containerd != nil {
		errs = append(errs, n.containerd.stop(timeout))
	}
	killShims(n.socket, deadline)
	unmountUnder(n.dir)
	for _, root := range cgroupHierarchies() {
		errs = append(errs, removeCgroupTree(filepath.Join(root, n.cgroupRoot), deadline))
	}
	_ = exec.Command("ip", "link", "delete", n.bridge).Run()
	removeLogLinks(n.podLogs)
	return errors.Join(errs...)
}

// killShims kills the containerd shims serving the containerd at socket.
func killShims(socket string, deadline time.Time) {
	for {
		found := false
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
			if err != nil {
				continue
			}
			args := strings.Split(string(cmdline), "\x00")
			if len(args) > 0 && strings.Contains(filepath.Base(args[0]), "containerd-shim") && slices.Contains(args, socket) {
				found = true
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if !found || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
}

// removeLogLinks removes kubelet's links in /var/log/containers that point
// below dir.
func removeLogLinks(dir string) {
	entries, _ := os.ReadDir(containerLogLinks)
	for _, e := range entries {
		p := filepath.Join(containerLogLinks, e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, dir+"/") {
			_ = os.Remove(p)
		}
	}
}

// removeDeadShimSockets removes shim sockets nobody listens on any more
// (left by shims that were killed).
func removeDeadShimSockets() {
	entries, _ := os.ReadDir(shimSocketDir)
	for _, e := range entries {
		p := filepath.Join(shimSocketDir, e.Name())
		conn, err := net.DialTimeout("unix", p, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			_ = os.Remove(p)
		}
	}
}

// cgroupHierarchies returns the machine's cgroup mount points below
// /sys/fs/cgroup (cgroup v1 controllers, the named systemd hierarchy, the
// unified one), or /sys/fs/cgroup itself on a pure cgroup v2 machine.
func cgroupHierarchies() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fs := fields[sep+1]; (fs == "cgroup" || fs == "cgroup2") && (fields[4] == cgroupFS || strings.HasPrefix(fields[4], cgroupFS+"/")) {
			out = append(out, fields[4])
		}
	}
	return out
}

// makeCgroup creates the cgroup path (e.g. /zerodrop-rn-42/rnode-0) in
// every hierarchy; in cpuset it copies the parent's CPUs and memory nodes,
// without which no process could join, and the top cgroup gets
// podCPUShares where there is a cpu.shares.
func makeCgroup(path string) error {
	for _, root := range cgroupHierarchies() {
		dir := root
		for i, part := range strings.Split(strings.Trim(path, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
			if shares := filepath.Join(dir, "cpu.shares"); i == 0 {
				if _, err := os.Stat(shares); err == nil {
					if err := os.WriteFile(shares, []byte(strconv.Itoa(podCPUShares)), 0o644); err != nil {
						return fmt.Errorf("setting %s: %w", shares, err)
					}
				}
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if v, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if cur, err := os.ReadFile(filepath.Join(dir, f)); err == nil && strings.TrimSpace(string(cur)) == "" {
						if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
							return fmt.Errorf("setting %s of %s: %w", f, dir, err)
						}
					}
				}
			}
		}
	}
	return nil
}

// killCgroupTree sends SIGKILL to every process in dir and below.
func killCgroupTree(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
}

// removeCgroupTree kills the processes of the cgroup dir and below and
// removes the cgroups, deepest first, retrying until deadline.
func removeCgroupTree(dir string, deadline time.Time) error {
	for {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		killCgroupTree(dir)
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		var last error
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
				last = err
			}
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", dir, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
