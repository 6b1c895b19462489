// Package lint is the `zerodrop lint` subcommand: it checks manifests or a
// live cluster against the rules of internal/lint.
//
// Exit codes: 0 no finding at or above --fail-on; 1 findings at or above
// --fail-on; 2 usage error or input that could not be read or decoded (the
// readable inputs are still checked and reported).
package lint

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	zlint "github.com/zerodrop/zerodrop/internal/lint"
)

// Exit codes of `zerodrop lint`.
const (
	ExitClean    = 0
	ExitFindings = 1
	ExitUsage    = 2
)

// exitError carries an exit code to main.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode returns the process exit code.
func (e *exitError) ExitCode() int { return e.code }

type flags struct {
	output        string
	failOn        string
	configPath    string
	explain       string
	listRules     bool
	live          bool
	kubeconfig    string
	kubeContext   string
	namespace     string
	allNamespaces bool
	maxFileSize   int64
	color         string
}

// NewCommand returns the lint command.
func NewCommand(ctx context.Context) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "lint [FILE|DIR|-]...",
		Short: "Check manifests or a live cluster for rollout settings that drop requests behind a load balancer",
		Long: `lint checks the timing between pods, Kubernetes and the load balancer: readiness probes,
preStop hooks, terminationGracePeriodSeconds >= preStop + shutdown + buffer, preStop against the
load balancer's deregistration delay, minReadySeconds against its health checks, rolling-update
capacity gaps, PodDisruptionBudgets, AWS target types and readiness-gate labels.

Input: files, directories (recursive *.yaml, *.yml, *.json) and - for stdin; or, with --live,
--kubeconfig, --context, --namespace or --all-namespaces and no paths, a live cluster.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input errors.
Suppress a rule on one object with the annotation lint.zerodrop.dev/ignore: ZD101,ZD203.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runE(ctx, cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "human", "output format: human, json, sarif or junit")
	fl.StringVar(&f.failOn, "fail-on", "warning", "exit 1 when a finding is at least this severe: info, warning or error")
	fl.StringVar(&f.configPath, "config", "", "lint config file (disabled rules, ignores, severity overrides, shutdown/buffer seconds)")
	fl.StringVar(&f.explain, "explain", "", "print a rule's why, link and fix, and exit")
	fl.BoolVar(&f.listRules, "list-rules", false, "list every rule and exit")
	fl.BoolVar(&f.live, "live", false, "read a live cluster (implied by --kubeconfig, --context, --namespace, --all-namespaces without paths)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file for live mode")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context for live mode")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace to read in live mode (default: the context's)")
	fl.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "read every namespace in live mode")
	fl.Int64Var(&f.maxFileSize, "max-file-size", zlint.DefaultMaxFileBytes, "largest input file read, in bytes")
	fl.StringVar(&f.color, "color", "auto", "colour human output: auto (on a terminal, unless NO_COLOR), always or never")
	return cmd
}

func usageError(format string, a ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, a...)}
}

func runE(ctx context.Context, cmd *cobra.Command, f *flags, args []string) error {
	out := cmd.OutOrStdout()
	if f.explain != "" {
		r, err := zlint.RuleByID(f.explain)
		if err != nil {
			return usageError("%v", err)
		}
		_, err = io.WriteString(out, zlint.Explain(r.Meta()))
		return err
	}
	if f.listRules {
		for _, r := range zlint.Rules() {
			m := r.Meta()
			if _, err := fmt.Fprintf(out, "%s  %-7s  %s\n", m.ID, m.Severity, m.Title); err != nil {
				return err
			}
		}
		return nil
	}
	format, err := zlint.ParseFormat(f.output)
	if err != nil {
		return usageError("%v", err)
	}
	failOn, err := zlint.ParseSeverity(f.failOn)
	if err != nil {
		return usageError("--fail-on: %v", err)
	}
	var cfg *zlint.Config
	if f.configPath != "" {
		if cfg, err = zlint.LoadConfig(f.configPath); err != nil {
			return usageError("%v", err)
		}
	}
	liveFlags := f.live || f.kubeconfig != "" || f.kubeContext != "" || f.allNamespaces || cmd.Flags().Changed("namespace")
	var objs []*zlint.Object
	var inputErrs []zlint.InputError
	live := false
	switch {
	case len(args) > 0 && f.live:
		return usageError("give either paths or --live, not both")
	case len(args) > 0:
		dec, err := zlint.NewDecoder()
		if err != nil {
			return err
		}
		rd := &zlint.FileReader{Decoder: dec, MaxBytes: f.maxFileSize, Stdin: cmd.InOrStdin()}
		objs, inputErrs = rd.Read(args)
		if f.namespace != "" {
			for _, o := range objs {
				if o.Ref.Namespace == "" && o.Ref.Kind != "Namespace" {
					o.Ref.Namespace = f.namespace
				}
			}
		}
	case liveFlags:
		live = true
		restCfg, ctxNS, err := zlint.RESTConfig(f.kubeconfig, f.kubeContext)
		if err != nil {
			return usageError("%v", err)
		}
		ns := f.namespace
		if ns == "" {
			ns = ctxNS
		}
		if f.allNamespaces {
			ns = ""
		}
		src, err := zlint.NewClusterSource(restCfg, ns)
		if err != nil {
			return err
		}
		if objs, err = src.Read(ctx); err != nil {
			return &exitError{code: ExitUsage, msg: fmt.Sprintf("reading the cluster: %v", err)}
		}
	default:
		return usageError("nothing to check: give files, directories or - (stdin), or --live for the current cluster")
	}
	res := zlint.Lint(objs, live, cfg)
	res.Errors = inputErrs
	sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].Location.String() < res.Errors[j].Location.String() })
	opts := zlint.ReportOptions{Color: useColor(f.color, out), ToolVersion: "dev"}
	if err := zlint.WriteReport(out, format, res, opts); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	switch {
	case len(res.Errors) > 0:
		return &exitError{code: ExitUsage, msg: fmt.Sprintf("%d input error(s)", len(res.Errors))}
	case res.CountAtLeast(failOn) > 0:
		return &exitError{code: ExitFindings, msg: fmt.Sprintf("%d finding(s) at or above %s", res.CountAtLeast(failOn), failOn)}
	}
	return nil
}

func useColor(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	file, ok := w.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
