package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/zerodrop/zerodrop/internal/cli/lint"
)

// subcommands lists every subcommand explicitly: no init-time registration.
func subcommands(ctx context.Context) []*cobra.Command {
	return []*cobra.Command{
		lint.NewCommand(ctx),
	}
}
