// Package waitdrained is the `zerodrop wait-drained` subcommand: the preStop
// handler zerodrop's webhook injects. It blocks until the controller says
// every load-balancer instance has let go of this pod, then returns (or runs
// the pod's own preStop command, given after "--"), so SIGTERM reaches the
// app only when no instance sends it anything.
package waitdrained

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/zerodrop/zerodrop/internal/drain"
)

// Exit codes. A non-zero exit makes the kubelet record a FailedPreStopHook
// event carrying this command's output: that is how a fallback is reported
// when the controller itself cannot be reached.
const (
	ExitDrained  = 0
	ExitFallback = 3
	ExitMaxWait  = 4
)

type flags struct {
	endpoint, tokenFile, caFile, caEnv string
	opts                               drain.WaitOptions
}

// NewCommand returns the wait-drained subcommand.
func NewCommand(ctx context.Context) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "wait-drained [flags] [-- COMMAND [ARGS...]]",
		Short: "Block until every load balancer has drained this pod (the injected preStop)",
		Long: `wait-drained asks zerodrop's controller, with this pod's projected
service-account token, whether every load-balancer instance has removed this
pod's targets or closed their last session, and returns as soon as it has.

The endpoint must be https:// (the token must not travel in clear). Each
ask is bounded by 2s; a 429 ("ask again") is an answer, not a failure.

It never waits longer than --max-wait (the pod's grace period minus the app's
shutdown budget). If the controller cannot be reached it waits --fallback-wait
from the start instead (computed from the load balancer's own settings:
check interval x unhealthy threshold + drain timeout) and exits 3, so the
kubelet records a FailedPreStopHook event saying so.

A command after "--" (the pod's own exec preStop) runs once the wait is over;
its exit code is then this command's.

Exit codes: 0 drained; 3 fallback wait used (controller unreachable or
refused); 4 --max-wait reached before the drain finished.`,
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(ctx, cmd, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "URL of the controller's drain endpoint (https://.../v1/drained)")
	fl.StringVar(&f.tokenFile, "token-file", "/var/run/secrets/zerodrop.dev/token", "projected service-account token with audience "+drain.Audience)
	fl.StringVar(&f.caFile, "ca-file", "", "PEM CA bundle to trust for the endpoint (default: system roots)")
	fl.StringVar(&f.caEnv, "ca-env", "", "name of an environment variable holding the PEM CA bundle (used when --ca-file is empty)")
	fl.DurationVar(&f.opts.MaxWait, "max-wait", 30*time.Second, "longest wait")
	fl.DurationVar(&f.opts.FallbackWait, "fallback-wait", 10*time.Second, "wait from the start when the controller cannot be reached")
	fl.DurationVar(&f.opts.Interval, "interval", 100*time.Millisecond, "time between two asks")
	fl.DurationVar(&f.opts.UnreachableAfter, "unreachable-after", 2*time.Second, "how long asks may fail in a row before the fallback")
	return cmd
}

// exitError carries an exit code to main.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }

func (f *flags) run(ctx context.Context, cmd *cobra.Command, after []string) error {
	if f.endpoint == "" {
		return errors.New("--endpoint is required")
	}
	var ca []byte
	switch {
	case f.caFile != "":
		b, err := os.ReadFile(f.caFile)
		if err != nil {
			return fmt.Errorf("reading --ca-file: %w", err)
		}
		ca = b
	case f.caEnv != "":
		ca = []byte(os.Getenv(f.caEnv))
	}
	c, err := drain.NewClient(f.endpoint, f.tokenFile, ca)
	if err != nil {
		return err
	}
	res := drain.Wait(ctx, c.Ask, f.opts, drain.RealClock{})
	out := cmd.OutOrStdout()
	var result error
	switch res.Outcome {
	case drain.OutcomeDrained:
		fmt.Fprintf(out, "zerodrop: drained from every load balancer after %s (%s)\n", res.Waited.Round(time.Millisecond), res.Answer.Reason)
	case drain.OutcomeFallback:
		result = &exitError{ExitFallback, fmt.Sprintf("controller unreachable (%v): waited the fallback %s computed from the load balancer's settings", res.Err, res.Waited.Round(time.Millisecond))}
	case drain.OutcomeMaxWait:
		result = &exitError{ExitMaxWait, fmt.Sprintf("not drained after the maximum wait %s (last answer: %s)", res.Waited.Round(time.Millisecond), res.Answer.Reason)}
	}
	if len(after) == 0 {
		return result
	}
	if result != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "zerodrop:", result)
	}
	return runAfter(ctx, after)
}

// runAfter runs the pod's own preStop command; its exit code wins.
func runAfter(ctx context.Context, argv []string) error {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitError{ee.ExitCode(), fmt.Sprintf("preStop command %q exited %d", argv[0], ee.ExitCode())}
	}
	if err != nil {
		return fmt.Errorf("running preStop command %q: %w", argv[0], err)
	}
	return nil
}
