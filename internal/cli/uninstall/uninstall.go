// Package uninstall is the `zerodrop uninstall` subcommand: the clean way
// out of a cluster. Every TargetBinding holds a finalizer until the
// controller has released its gates and removed its targets from every
// load-balancer instance; removing the controller first would leave those
// bindings, and so their namespaces, stuck in Terminating. uninstall stops
// new injections (deletes the pod webhook's configuration), deletes every
// binding, waits for the running controller to finalize them, and with
// --force strips the finalizers of those still there after --timeout
// (their load-balancer targets are then left behind, and named). Delete
// the controller and the CRDs after it.
package uninstall

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// Options bound an uninstall.
type Options struct {
	// Timeout is how long to wait for the controller to finalize the
	// bindings.
	Timeout time.Duration
	// Force strips the finalizers of bindings still there after Timeout.
	Force bool
	// Poll is how often the bindings are listed while waiting.
	Poll time.Duration
}

// Report is what an uninstall did.
type Report struct {
	// WebhookDeleted is true when the pod webhook's configuration existed
	// and was deleted.
	WebhookDeleted bool
	// Deleted counts the bindings whose deletion was asked.
	Deleted int
	// Forced names (namespace/name) the bindings whose finalizer was
	// stripped: their targets may still be on their load balancers.
	Forced []string
	// Stuck names the bindings still there (without Force).
	Stuck []string
}

// Run uninstalls through c (see the package comment).
func Run(ctx context.Context, c client.Client, o Options) (Report, error) {
	var rep Report
	wh := &admissionregistrationv1.MutatingWebhookConfiguration{}
	wh.Name = webhook.ConfigurationName
	switch err := c.Delete(ctx, wh); {
	case err == nil:
		rep.WebhookDeleted = true
	case !apierrors.IsNotFound(err):
		return rep, fmt.Errorf("deleting MutatingWebhookConfiguration %s: %w", wh.Name, err)
	}
	var list v1alpha1.TargetBindingList
	if err := c.List(ctx, &list); err != nil {
		return rep, fmt.Errorf("listing TargetBindings: %w", err)
	}
	for i := range list.Items {
		if err := c.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
			return rep, fmt.Errorf("deleting TargetBinding %s/%s: %w", list.Items[i].Namespace, list.Items[i].Name, err)
		}
		rep.Deleted++
	}
	left, err := waitGone(ctx, c, o)
	if err != nil || len(left) == 0 {
		return rep, err
	}
	if !o.Force {
		rep.Stuck = names(left)
		return rep, nil
	}
	for i := range left {
		b := &left[i]
		b.Finalizers = slices.DeleteFunc(b.Finalizers, func(f string) bool { return f == v1alpha1.FinalizerTargetBinding })
		if err := c.Update(ctx, b); client.IgnoreNotFound(err) != nil {
			return rep, fmt.Errorf("removing the finalizer of TargetBinding %s/%s: %w", b.Namespace, b.Name, err)
		}
	}
	rep.Forced = names(left)
	return rep, nil
}

// waitGone waits until no TargetBinding is left or o.Timeout passes, and
// returns those left.
func waitGone(ctx context.Context, c client.Client, o Options) ([]v1alpha1.TargetBinding, error) {
	deadline := time.Now().Add(o.Timeout)
	for {
		var list v1alpha1.TargetBindingList
		if err := c.List(ctx, &list); err != nil {
			return nil, fmt.Errorf("listing TargetBindings: %w", err)
		}
		if len(list.Items) == 0 || !time.Now().Before(deadline) {
			return list.Items, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Poll):
		}
	}
}

func names(bs []v1alpha1.TargetBinding) []string {
	out := make([]string, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.Namespace+"/"+b.Name)
	}
	return out
}

type flags struct {
	kubeconfig, context string
	opts                Options
}

// NewCommand returns the uninstall subcommand.
func NewCommand(ctx context.Context) *cobra.Command {
	f := &flags{opts: Options{Poll: time.Second}}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove zerodrop's bindings cleanly before the controller and CRDs are deleted",
		Long: `Delete the pod webhook's configuration (no new gates or waits), delete every
TargetBinding and wait for the running controller to release their gates and
remove their load-balancer targets. Run it while the controller still runs,
then delete the controller and the CRDs: bindings left with their finalizer
and no controller keep their namespaces in Terminating. With --force, the
finalizers of bindings still there after --timeout are stripped (their
targets stay on the load balancer; they are named).

Exit codes: 0 done; 1 bindings left (without --force) or an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(ctx, cmd.OutOrStdout()) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "path to a kubeconfig; empty means in-cluster or $KUBECONFIG")
	fl.StringVar(&f.context, "context", "", "kubeconfig context to use")
	fl.DurationVar(&f.opts.Timeout, "timeout", 2*time.Minute, "how long to wait for the controller to finalize the bindings")
	fl.BoolVar(&f.opts.Force, "force", false, "strip the finalizers of bindings still there after --timeout")
	return cmd
}

// ErrBindingsLeft is returned when bindings are left without --force.
type ErrBindingsLeft struct{ Names []string }

func (e *ErrBindingsLeft) Error() string {
	return fmt.Sprintf("%d TargetBindings still have their finalizer (is the controller running?): %v; run again with --force to strip it", len(e.Names), e.Names)
}

func (f *flags) run(ctx context.Context, out io.Writer) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	scheme, err := manager.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	rep, err := Run(ctx, c, f.opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "webhook configuration deleted: %v\nTargetBindings deleted: %d\n", rep.WebhookDeleted, rep.Deleted)
	for _, n := range rep.Forced {
		fmt.Fprintf(out, "finalizer stripped: %s (its load-balancer targets may remain)\n", n)
	}
	if len(rep.Stuck) > 0 {
		return &ErrBindingsLeft{Names: rep.Stuck}
	}
	fmt.Fprintln(out, "done: now delete the controller and the CRDs")
	return nil
}
