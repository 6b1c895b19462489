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
}

func newUpCommand(ctx context.Context) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local cluster and keep it running until Ctrl-C",
		Long: `Start etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
127.0.0.1 and --nodes virtual nodes whose pods get 127.(100+i).x.y addresses,
print the kubeconfig path, and run until interrupted; then stop everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(ctx, cmd.OutOrStdout(), f) },
	}
	cmd.Flags().IntVar(&f.nodes, "nodes", 3, "number of virtual nodes")
	cmd.Flags().StringVar(&f.dir, "dir", "", "directory for the cluster's files and logs (default: a new temporary directory, removed on exit)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "also copy the admin kubeconfig to this path")
	cmd.Flags().StringVar(&f.binDir, "bin-dir", "", "directory with the control-plane binaries (default: $"+localcluster.EnvBinDir+", $KUBEBUILDER_ASSETS or the nearest bin/)")
	return cmd
}

func runUp(ctx context.Context, out io.Writer, f *upFlags) error {
	if f.nodes < 0 || f.nodes > 100 {
		return fmt.Errorf("--nodes %d: want 0 to 100", f.nodes)
	}
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: f.nodes, Dir: f.dir, BinDir: f.binDir})
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
	fmt.Fprintf(out, "local cluster up in %s (control plane RSS %d MiB), %d virtual nodes\n",
		c.StartupDuration().Round(time.Millisecond), rss>>20, len(c.Nodes()))
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
