// Package cli assembles zerodrop's root command from one package per
// subcommand (internal/cli/<verb>) and maps errors to process exit codes.
package cli

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/spf13/cobra"
)

// ExitCoder is an error that asks for a specific process exit code.
// Subcommands return one (for example verify's error-budget failure) when
// the plain "1" would hide what went wrong.
type ExitCoder interface {
	error
	ExitCode() int
}

// ExitCode returns the process exit code for err: the code an ExitCoder in
// its chain asks for, otherwise 1.
func ExitCode(err error) int {
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// KubectlPluginName is the binary's name as a kubectl plugin: kubectl runs
// "kubectl-zerodrop status" for "kubectl zerodrop status".
const KubectlPluginName = "kubectl-zerodrop"

// NewCommand returns zerodrop's root command with every subcommand
// attached. argv0 is how the binary was invoked (os.Args[0]): as
// KubectlPluginName, the root's usage reads "kubectl zerodrop".
func NewCommand(ctx context.Context, argv0 string) *cobra.Command {
	cmd := &cobra.Command{
		Use:           "zerodrop",
		Short:         "Zero dropped requests through rollouts behind a load balancer",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if filepath.Base(argv0) == KubectlPluginName {
		cmd.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl zerodrop"}
	}
	cmd.AddCommand(subcommands(ctx)...)
	return cmd
}
