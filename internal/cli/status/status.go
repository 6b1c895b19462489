// Package status is the `zerodrop status` subcommand (also `kubectl
// zerodrop status` when the binary is installed as the kubectl plugin
// kubectl-zerodrop): for a namespace, a TargetBinding or a pod it reports
// why pods are not Ready, why terminating pods' drain waits have not
// returned, pods missing their gate or drain wait, grants refused and the
// load balancers' reachability. It reads only Kubernetes API objects
// (Fetch) and leaves the report to internal/status; stuck pods are what it
// reports, not an error: it exits 1 only when the API cannot be read.
package status

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/status"
)

// Fetch reads what the report of scope needs through c: the bindings in
// scope, the pods of their namespaces (or the one pod asked for) and the
// LoadBalancers they use. A LoadBalancer that does not exist is left out
// (the report says so); any other failed read is an error naming it.
func Fetch(ctx context.Context, c client.Reader, scope status.Scope) (status.Input, error) {
	in := status.Input{Scope: scope}
	ns := []client.ListOption{client.InNamespace(scope.Namespace)}
	if scope.AllNamespaces {
		ns = nil
	}
	where := "namespace " + scope.Namespace
	if scope.AllNamespaces {
		where = "all namespaces"
	}
	switch {
	case scope.Binding != "":
		b := &v1alpha1.TargetBinding{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: scope.Namespace, Name: scope.Binding}, b); err != nil {
			return in, fmt.Errorf("getting TargetBinding %s/%s: %w", scope.Namespace, scope.Binding, err)
		}
		in.Bindings = []v1alpha1.TargetBinding{*b}
	default:
		var list v1alpha1.TargetBindingList
		if err := c.List(ctx, &list, ns...); err != nil {
			return in, fmt.Errorf("listing TargetBindings in %s: %w", where, err)
		}
		in.Bindings = list.Items
	}
	if scope.Pod != "" {
		p := &corev1.Pod{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: scope.Namespace, Name: scope.Pod}, p); err != nil {
			return in, fmt.Errorf("getting pod %s/%s: %w", scope.Namespace, scope.Pod, err)
		}
		in.Pods = []corev1.Pod{*p}
	} else if len(in.Bindings) > 0 {
		if scope.Binding != "" {
			ns = []client.ListOption{client.InNamespace(scope.Namespace)}
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, ns...); err != nil {
			return in, fmt.Errorf("listing pods in %s: %w", where, err)
		}
		in.Pods = pods.Items
	}
	var names []string
	for _, b := range in.Bindings {
		names = append(names, b.Spec.LoadBalancerRef)
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		lb := &v1alpha1.LoadBalancer{}
		switch err := c.Get(ctx, types.NamespacedName{Name: name}, lb); {
		case err == nil:
			in.LoadBalancers = append(in.LoadBalancers, *lb)
		case apierrors.IsNotFound(err):
		default:
			return in, fmt.Errorf("getting LoadBalancer %s: %w", name, err)
		}
	}
	return in, nil
}

// ParseTarget reads the command's argument: none (the namespace),
// binding/NAME (also targetbinding/, targetbindings/, tb/) or pod/NAME
// (also pods/, po/).
func ParseTarget(args []string) (binding, pod string, err error) {
	if len(args) == 0 {
		return "", "", nil
	}
	kind, name, ok := strings.Cut(args[0], "/")
	if !ok || name == "" {
		return "", "", fmt.Errorf("argument %q: use binding/NAME or pod/NAME", args[0])
	}
	switch strings.ToLower(kind) {
	case "binding", "bindings", "targetbinding", "targetbindings", "tb":
		return name, "", nil
	case "pod", "pods", "po":
		return "", name, nil
	}
	return "", "", fmt.Errorf("argument %q: unknown kind %q, use binding/NAME or pod/NAME", args[0], kind)
}

type flags struct {
	config        *genericclioptions.ConfigFlags
	output        string
	allNamespaces bool
}

// NewCommand returns the status subcommand.
func NewCommand(ctx context.Context) *cobra.Command {
	f := &flags{config: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "status [binding/NAME | pod/NAME]",
		Short: "Say why pods are not Ready or not yet drained, from the API alone",
		Long: `Report, for the namespace (or -A, a TargetBinding, a pod): why pods are not
Ready (which load-balancer instance reports which state, since when, the
health check), why terminating pods' drain waits have not returned (which
instance still holds sessions, time left to the grace period and to the drain
timeout), pods missing their readiness gate or drain wait, grants refused,
and the load balancers' instances' reachability. It reads only the API
server (what the controller writes into pod conditions and the status of
TargetBindings and LoadBalancers), never a load balancer.

Exit codes: 0 the report was written (stuck pods included); 1 the API could
not be read.`,
		Example: `  zerodrop status -n shop
  kubectl zerodrop status binding/web -n shop -o yaml
  kubectl zerodrop status pod/web-5f9f965cd9-ns6fs -n shop
  kubectl zerodrop status -A -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(ctx, cmd.OutOrStdout(), args) },
	}
	f.config.AddFlags(cmd.Flags())
	cmd.Flags().StringVarP(&f.output, "output", "o", status.FormatTable, "output format: "+strings.Join(status.Formats(), ", "))
	cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "report on every namespace")
	return cmd
}

func (f *flags) run(ctx context.Context, out io.Writer, args []string) error {
	if !slices.Contains(status.Formats(), f.output) {
		return fmt.Errorf("unknown output format %q: use one of %s", f.output, strings.Join(status.Formats(), ", "))
	}
	binding, pod, err := ParseTarget(args)
	if err != nil {
		return err
	}
	if f.allNamespaces && (binding != "" || pod != "") {
		return fmt.Errorf("-A reports on every namespace: drop it to ask about %s", args[0])
	}
	ns, _, err := f.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	cfg, err := f.config.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	scheme, err := manager.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connecting to the API server %s: %w", cfg.Host, err)
	}
	scope := status.Scope{Namespace: ns, AllNamespaces: f.allNamespaces, Binding: binding, Pod: pod}
	if f.allNamespaces {
		scope.Namespace = ""
	}
	in, err := Fetch(ctx, c, scope)
	if err != nil {
		return err
	}
	return status.Render(out, status.Build(in, time.Now()), f.output)
}
