package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// The local cluster has no kube-proxy and no cluster DNS. Inside the
// network namespace RunInNetwork creates, a test can still give a process
// of its own an address that Kubernetes accepts in an EndpointSlice
// (AddLoopbackAddress: loopback addresses are refused there) and make a
// Service's DNS name resolve to it for every process of the cluster
// (SetHosts): the stand-ins for a pod IP and for cluster DNS that let a
// controller run from a Helm chart's Deployment be reached the way the
// chart says, by its Services' names.

// errNotInNetwork is returned outside RunInNetwork's namespace, where an
// address or a mount would change the machine's own network or files.
var errNotInNetwork = errors.New("only inside the network namespace RunInNetwork creates")

// AddLoopbackAddress adds addr (a /32) to the loopback device of the
// cluster's network namespace.
func AddLoopbackAddress(ctx context.Context, addr netip.Addr) error {
	if !InNetwork() {
		return fmt.Errorf("adding address %s: %w", addr, errNotInNetwork)
	}
	if out, err := exec.CommandContext(ctx, "ip", "addr", "add", addr.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
		return fmt.Errorf("adding address %s to lo: %w: %s", addr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// SetHosts makes each name resolve to its address for this process and
// every process it starts from now on (the virtual nodes' exec hooks among
// them): the machine's /etc/hosts with these lines added, written into dir
// and bind-mounted over /etc/hosts in this process's own mount namespace
// (RunInNetwork's), so the machine's file is untouched.
func SetHosts(dir string, hosts map[string]netip.Addr) error {
	if !InNetwork() {
		return fmt.Errorf("setting hosts: %w", errNotInNetwork)
	}
	if err := enterPrivateMounts(); err != nil {
		return err
	}
	base, err := os.ReadFile("/etc/hosts")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading /etc/hosts: %w", err)
	}
	var b strings.Builder
	b.Write(base)
	if len(base) > 0 && base[len(base)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString("# added by the zerodrop local cluster (localcluster.SetHosts)\n")
	names := make([]string, 0, len(hosts))
	for n := range hosts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s %s\n", hosts[n], n)
	}
	path := filepath.Join(dir, "hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := unix.Mount(path, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s over /etc/hosts: %w", path, err)
	}
	return nil
}
