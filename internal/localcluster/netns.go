package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// Real nodes run inside a network namespace of their own: the pod network
// (a bridge per node on PodNetwork) exists only there, so no packet to a
// private address ever leaves it. The control plane, HAProxy, the load
// generator and zerodrop's controller must run in the same namespace, and
// most of them are goroutines of the process that starts the cluster: so the
// whole process runs there. RunInNetwork runs the program again inside a
// new namespace (entered by one locked OS thread with setns(2) just for the
// fork, so no `ip netns exec`, which would also remount /sys and hide the
// cgroup mounts kubelet needs) and in a mount namespace of its own (every
// mount containerd makes, overlays and pod network namespaces, vanishes with
// the cluster's last process instead of staying in the machine's table).
const (
	// EnvNetwork names the environment variable that tells the program run
	// by RunInNetwork the name of the namespace it runs in.
	EnvNetwork = "ZERODROP_NETNS"
	// NetworkPrefix starts the name of every network namespace
	// RunInNetwork creates; the creator's PID follows, which is how a
	// namespace left by a crashed run is recognised.
	NetworkPrefix = "zerodrop-rn-"
	// netnsDir is where `ip netns` keeps named namespaces.
	netnsDir = "/run/netns"
	// stateDir holds, per namespace, what the cleanup of a crashed run
	// needs to know (the cluster directory to remove).
	stateDir = "/run/zerodrop"
	// cleanupTimeout bounds the removal of one namespace's leftovers.
	cleanupTimeout = 20 * time.Second
)

// HostAddress is the cluster's own address inside its network namespace,
// on its loopback device: pods of real nodes reach what runs in the
// cluster's process (zerodrop's drain endpoint) there, through their
// node's bridge.
const HostAddress = "10.244.255.1"

// InNetwork reports whether this process runs inside a network namespace
// RunInNetwork created for it.
func InNetwork() bool {
	name := os.Getenv(EnvNetwork)
	if !strings.HasPrefix(name, NetworkPrefix) {
		return false
	}
	want, err := nsInode(filepath.Join(netnsDir, name))
	if err != nil {
		return false
	}
	have, err := nsInode("/proc/self/ns/net")
	return err == nil && have == want
}

// RunInNetwork removes what crashed earlier runs left behind, creates a
// network namespace, runs this program again in it with the same arguments
// (standard streams shared, SIGINT and SIGTERM forwarded; ctx's end sends
// SIGTERM), waits for it, removes the namespace and everything the run left
// in it (containers, shims, cgroups, the cluster directory of a crashed run)
// and returns the program's exit code. The program sees EnvNetwork and
// InNetwork is true there. It needs root and iproute2.
func RunInNetwork(ctx context.Context) (int, error) {
	return RunArgsInNetwork(ctx, os.Args[1:])
}

// RunArgsInNetwork is RunInNetwork with the program's arguments given: a
// test runs one test of its binary again inside the namespace with it.
func RunArgsInNetwork(ctx context.Context, args []string) (int, error) {
	log := logr.FromContextOrDiscard(ctx)
	CleanStale(ctx)
	name := NetworkPrefix + strconv.Itoa(os.Getpid())
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return 1, fmt.Errorf("creating network namespace %s (needs root and iproute2: hack/install-debs.sh iproute2): %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	defer cleanupNetwork(context.WithoutCancel(ctx), name)
	if out, err := exec.CommandContext(ctx, "ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return 1, fmt.Errorf("bringing up lo in %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", name, "addr", "add", HostAddress+"/32", "dev", "lo").CombinedOutput(); err != nil {
		return 1, fmt.Errorf("adding %s in %s: %w: %s", HostAddress, name, err, strings.TrimSpace(string(out)))
	}
	exe, err := os.Executable()
	if err != nil {
		return 1, fmt.Errorf("finding this program: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), EnvNetwork+"="+name)
	// A new mount namespace; the child makes its mounts private to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := startInNetns(cmd, filepath.Join(netnsDir, name)); err != nil {
		return 1, err
	}
	log.V(1).Info("runningInNetwork", "netns", name, "pid", cmd.Process.Pid)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			ctx = context.WithoutCancel(ctx)
		case err := <-waited:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ee.ExitCode(), nil
			}
			if err != nil {
				return 1, fmt.Errorf("running %s in %s: %w", exe, name, err)
			}
			return 0, nil
		}
	}
}

// startInNetns starts cmd with its network namespace the one at path: one
// OS thread enters it and forks; the thread is never given back to the Go
// scheduler (it ends with its goroutine), and Pdeathsig ties the child to
// it, so the goroutine lives until the child has exited.
func startInNetns(cmd *exec.Cmd, path string) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			started <- fmt.Errorf("opening %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		_ = unix.Close(fd)
		if err != nil {
			started <- fmt.Errorf("entering %s: %w", path, err)
			return
		}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("starting %s in %s: %w", cmd.Path, path, err)
			return
		}
		started <- nil
		// Pdeathsig fires when this thread exits: keep it until the child
		// is gone.
		for {
			if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return <-started
}

// enterPrivateMounts makes every mount of this process's mount namespace a
// slave of the machine's, so that what the cluster mounts stays in it.
func enterPrivateMounts() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making mounts private to the cluster: %w", err)
	}
	return nil
}

// nsInode returns the inode of a namespace file.
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("reading namespace %s: %w", path, err)
	}
	return st.Ino, nil
}

// CleanStale removes what runs that did not end cleanly left behind: every
// network namespace named NetworkPrefix<pid> whose creator is gone, with
// the processes in it (shims), the real nodes' cgroups, CNI results, log
// links and a temporary cluster directory. Failures are logged.
func CleanStale(ctx context.Context) {
	entries, _ := os.ReadDir(netnsDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// Cgroups of a run whose namespace is already gone.
	for _, root := range cgroupHierarchies() {
		subs, _ := os.ReadDir(root)
		for _, s := range subs {
			names = append(names, s.Name())
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		pid, ok := strings.CutPrefix(n, NetworkPrefix)
		if !ok || seen[n] {
			continue
		}
		seen[n] = true
		p, err := strconv.Atoi(pid)
		if err != nil || processAlive(p) {
			continue
		}
		logr.FromContextOrDiscard(ctx).Info("removingStaleRealNodes", "netns", n)
		cleanupNetwork(ctx, n)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// cleanupNetwork removes the namespace name and everything of its run.
func cleanupNetwork(ctx context.Context, name string) {
	log := logr.FromContextOrDiscard(ctx)
	deadline := time.Now().Add(cleanupTimeout)
	if ino, err := nsInode(filepath.Join(netnsDir, name)); err == nil {
		killNetns(ino, deadline)
	}
	for _, root := range cgroupHierarchies() {
		if err := removeCgroupTree(filepath.Join(root, name), deadline); err != nil {
			log.Error(err, "removingCgroupsFailed", "netns", name)
		}
	}
	results, _ := filepath.Glob(filepath.Join(cniResultsDir, name+"-*"))
	for _, r := range results {
		_ = os.Remove(r)
	}
	removeDeadShimSockets()
	if dir, err := os.ReadFile(filepath.Join(stateDir, name, "dir")); err == nil && len(dir) > 0 {
		d := strings.TrimSpace(string(dir))
		removeLogLinks(d)
		if _, err := os.Stat(filepath.Join(stateDir, name, "temporary")); err == nil {
			if err := os.RemoveAll(d); err != nil {
				log.Error(err, "removingClusterDirFailed", "dir", d)
			}
		}
	}
	_ = os.RemoveAll(filepath.Join(stateDir, name))
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			log.Error(err, "deletingNetnsFailed", "netns", name, "output", string(out))
		}
	}
}

// killNetns sends SIGKILL to every process (but this one) whose network
// namespace has inode ino, until none is left or deadline passes.
func killNetns(ino uint64, deadline time.Time) {
	want := "net:[" + strconv.FormatUint(ino, 10) + "]"
	for {
		found := false
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if link, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns", "net")); err == nil && link == want {
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

// writeRunState records, for the cleanup of a crashed run, the cluster
// directory of the namespace this process runs in and whether it is
// temporary.
func writeRunState(dir string, temporary bool) error {
	name := os.Getenv(EnvNetwork)
	d := filepath.Join(stateDir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("recording the run's state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d, "dir"), []byte(dir+"\n"), 0o600); err != nil {
		return fmt.Errorf("recording the run's state: %w", err)
	}
	if temporary {
		if err := os.WriteFile(filepath.Join(d, "temporary"), nil, 0o600); err != nil {
			return fmt.Errorf("recording the run's state: %w", err)
		}
	}
	return nil
}
