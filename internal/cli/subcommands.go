package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/zerodrop/zerodrop/internal/cli/cluster"
)

// subcommands lists every subcommand explicitly: no init-time registration.
func subcommands(ctx context.Context) []*cobra.Command {
	return []*cobra.Command{
		cluster.NewCommand(ctx),
	}
}
