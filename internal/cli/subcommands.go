package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/zerodrop/zerodrop/internal/cli/verify"
)

// subcommands lists every subcommand explicitly: no init-time registration.
func subcommands(ctx context.Context) []*cobra.Command {
	return []*cobra.Command{
		verify.NewCommand(ctx),
	}
}
