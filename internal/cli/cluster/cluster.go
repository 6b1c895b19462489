// Package cluster implements `zerodrop cluster up|down`: a local cluster of
// real control-plane components and virtual nodes (package localcluster),
// run in the foreground until interrupted.
package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/zerodrop/zerodrop/internal/localcluster"
)

// NewCommand returns the `cluster` command with its `up` and `down`
// subcommands.
func NewCommand(ctx context.Context) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local Kubernetes cluster with virtual nodes (for the demo and e2e tests)",
	}
	cmd.AddCommand(newUpCommand(ctx), newDownCommand())
	return cmd
}

// upFlags are the flags of `cluster up`.
type upFlags struct {
	nodes      int
	dir        string
	kubeconfig string
	binDir     string
	realNodes  int
	images     []string
}

func newUpCommand(ctx context.Context) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local cluster and keep it running until Ctrl-C",
		Long: `Start etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
127.0.0.1 and --nodes virtual nodes whose pods get 127.(100+i).x.y addresses,
print the kubeconfig path, and run until interrupted; then stop everything.

--real-nodes adds real kubelets (bin/kubelet, hack/build-node.sh) with
containerd, runc and the bridge CNI plugin, pods on 10.244.0.0/16; the
command then runs itself again inside a network namespace it creates (needs
root) and imports --image tars into each node (one must hold the sandbox
image zerodrop.dev/podapp:local: make deps-real builds bin/podapp-image.tar).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(ctx, cmd.OutOrStdout(), f) },
	}
	cmd.Flags().IntVar(&f.nodes, "nodes", 3, "number of virtual nodes")
	cmd.Flags().StringVar(&f.dir, "dir", "", "directory for the cluster's files and logs (default: a new temporary directory, removed on exit)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "also copy the admin kubeconfig to this path")
	cmd.Flags().IntVar(&f.realNodes, "real-nodes", 0, "number of real nodes (kubelet + containerd; root)")
	cmd.Flags().StringSliceVar(&f.images, "image", nil, "OCI image-layout tar to import into every real node (repeatable)")
	cmd.Flags().StringVar(&f.binDir, "bin-dir", "", "directory with the control-plane binaries (default: $"+localcluster.EnvBinDir+", $KUBEBUILDER_ASSETS or the nearest bin/)")
	return cmd
}

func runUp(ctx context.Context, out io.Writer, f *upFlags) error {
	if f.nodes < 0 || f.nodes > 100 {
		return fmt.Errorf("--nodes %d: want 0 to 100", f.nodes)
	}
	if f.realNodes > 0 && !localcluster.InNetwork() {
		code, err := localcluster.RunInNetwork(ctx)
		if err == nil && code != 0 {
			err = fmt.Errorf("cluster up inside its network namespace exited with code %d", code)
		}
		return err
	}
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: f.nodes, Dir: f.dir, BinDir: f.binDir, RealNodes: f.realNodes, Images: f.images})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	kubeconfig := c.KubeconfigPath()
	if f.kubeconfig != "" {
		data, err := os.ReadFile(kubeconfig)
		if err != nil {
			return fmt.Errorf("reading kubeconfig: %w", err)
		}
		if err := os.WriteFile(f.kubeconfig, data, 0o600); err != nil {
			return fmt.Errorf("writing --kubeconfig %s: %w", f.kubeconfig, err)
		}
		kubeconfig = f.kubeconfig
	}
	var rss int64
	for _, comp := range c.Components() {
		rss += comp.RSSBytes
	}
	fmt.Fprintf(out, "local cluster up in %s (control plane RSS %d MiB), %d virtual nodes, %d real nodes\n",
		c.StartupDuration().Round(time.Millisecond), rss>>20, len(c.Nodes()), len(c.RealNodes()))
	for _, n := range c.RealNodes() {
		fmt.Fprintf(out, "real node %s (%s): kubelet log %s\n", n.Name, n.IP, n.KubeletLog)
	}
	fmt.Fprintf(out, "API server: %s\n", c.APIServerURL())
	fmt.Fprintf(out, "logs:       %s\n", filepath.Join(c.Dir(), "logs"))
	fmt.Fprintf(out, "kubeconfig: %s\n\n  export KUBECONFIG=%s\n\nPress Ctrl-C to stop.\n", kubeconfig, kubeconfig)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping local cluster")
	if err := c.Stop(); err != nil {
		return fmt.Errorf("stopping local cluster: %w", err)
	}
	return nil
}

func newDownCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Explain how to stop a local cluster (up runs in the foreground)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(),
				"`zerodrop cluster up` runs in the foreground and stops everything it started on Ctrl-C (or SIGTERM); there is nothing to tear down here.")
			return err
		},
	}
}
