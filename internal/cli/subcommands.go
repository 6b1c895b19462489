package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/zerodrop/zerodrop/internal/cli/cluster"
	"github.com/zerodrop/zerodrop/internal/cli/controller"
	"github.com/zerodrop/zerodrop/internal/cli/demo"
	"github.com/zerodrop/zerodrop/internal/cli/install"
	"github.com/zerodrop/zerodrop/internal/cli/lint"
	"github.com/zerodrop/zerodrop/internal/cli/status"
	"github.com/zerodrop/zerodrop/internal/cli/uninstall"
	"github.com/zerodrop/zerodrop/internal/cli/verify"
	"github.com/zerodrop/zerodrop/internal/cli/waitdrained"
)

// subcommands lists every subcommand explicitly: no init-time registration.
func subcommands(ctx context.Context) []*cobra.Command {
	return []*cobra.Command{
		demo.NewCommand(ctx),
		controller.NewCommand(ctx),
		waitdrained.NewCommand(ctx),
		install.NewCommand(ctx),
		verify.NewCommand(ctx),
		lint.NewCommand(ctx),
		cluster.NewCommand(ctx),
		uninstall.NewCommand(ctx),
		status.NewCommand(ctx),
	}
}
