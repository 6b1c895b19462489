// Command zerodrop keeps load-balanced Kubernetes pods out of service until every
// load-balancer instance sends them traffic, and in service until every instance
// has drained them. See the README for the subcommands. Installed as
// kubectl-zerodrop it is also the kubectl plugin ("kubectl zerodrop status").
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zerodrop/zerodrop/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewCommand(ctx, os.Args[0]).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "zerodrop:", err)
		os.Exit(cli.ExitCode(err))
	}
}
