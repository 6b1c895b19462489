// Package verify is the `zerodrop verify` subcommand: constant-rate load
// against one or more URLs, every failure classified, optionally a rollout
// command run under load and a Deployment followed through the Kubernetes
// API, with a terminal summary, a JSON and an HTML report, and an exit code
// for CI. The work is done by internal/verify.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	lib "github.com/zerodrop/zerodrop/internal/verify"
	"github.com/zerodrop/zerodrop/internal/verify/kube"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

const longHelp = `Send HTTP requests at a constant rate to one or more URLs (round robin) and
count what the users would have seen: every failure classified (502, 503, 504,
other 5xx, 4xx, connection refused, connection reset, timeout, EOF, other
transport errors), per second, beside a timeline of what the rollout did.

The load is open-model: each request leaves on schedule whether or not earlier
ones returned, so a stalled backend shows up as errors and latency, never as
fewer requests. If this machine cannot keep the requested rate, verify says so
and exits 4 instead of reporting a lower rate as if it were the one asked for.

--during runs a shell command (e.g. a rollout) once the load has run for
--warmup; the load then goes on until the later of --duration and the end of
the command plus --cooldown. --watch NAMESPACE/DEPLOYMENT follows the
Deployment's pods (created, scheduled, readiness gates, Ready, terminating,
deleted) and zerodrop's TargetBindings in the namespace through the API.

Exit codes:
  0  every check passed
  1  usage or internal error (bad flag, malformed URL, kubeconfig, ...)
  2  error budget exceeded (--max-errors / --max-error-rate)
  3  a target was unreachable before the load started (no HTTP answer)
  4  this machine could not sustain the requested rate (measurement invalid)
  5  the --during command failed (non-zero exit)
  130 interrupted (Ctrl-C); the partial report is still written
When several apply, the first of 130, 4, 5, 2 (in that order) is used:
an invalid measurement outranks a budget.

See docs/verify.md for the JSON schema and how to read the HTML report.`

const example = `  # 200 requests/s for 60 s against the LB, fail on any error
  zerodrop verify --rate 200 --duration 60s http://lb.example:8080/healthz

  # measure a rollout: restart, wait for it, keep loading 15 s more
  zerodrop verify --rate 100 --duration 30s --warmup 5s --cooldown 15s \
    --during 'kubectl -n shop rollout restart deploy/web && kubectl -n shop rollout status deploy/web' \
    --watch shop/web --json out.json --html out.html http://lb.example/

  # a new connection per request, errors allowed up to 0.1 %
  zerodrop verify --keep-alive=false --max-error-rate 0.001 http://lb.example/`

// flags are the command-line settings of verify.
type flags struct {
	rate         int
	duration     time.Duration
	timeout      time.Duration
	method       string
	headers      []string
	body         string
	bodyFile     string
	keepAlive    bool
	idleTimeout  time.Duration
	during       string
	warmup       time.Duration
	cooldown     time.Duration
	watch        string
	namespace    string
	deployment   string
	kubeconfig   string
	kubeContext  string
	jsonOut      string
	htmlOut      string
	maxErrors    int64
	maxErrorRate float64
	minRateRatio float64
	maxLag       time.Duration
	noProbe      bool
	noProgress   bool
}

// exitError carries the exit code of a verdict; it implements cli.ExitCoder.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode implements cli.ExitCoder.
func (e *exitError) ExitCode() int { return e.code }

// NewCommand returns the verify subcommand.
func NewCommand(ctx context.Context) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:     "verify [flags] URL...",
		Short:   "Measure what a rollout costs the users: constant-rate load, classified failures, timeline",
		Long:    longHelp,
		Example: example,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runE(ctx, cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.rate, "rate", 50, "requests per second, constant")
	fl.DurationVar(&f.duration, "duration", 30*time.Second, "how long to send load (with --during: at least this long)")
	fl.DurationVar(&f.timeout, "timeout", lib.DefaultTimeout, "per-request timeout: connect, headers and body")
	fl.StringVar(&f.method, "method", http.MethodGet, "HTTP method")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "request header 'Name: value' (repeatable; 'Host: x' sets the Host)")
	fl.StringVar(&f.body, "body", "", "request body")
	fl.StringVar(&f.bodyFile, "body-file", "", "read the request body from this file")
	fl.BoolVar(&f.keepAlive, "keep-alive", true, "reuse connections; --keep-alive=false opens a new connection per request")
	fl.DurationVar(&f.idleTimeout, "idle-timeout", lib.DefaultIdleTimeout, "close a kept-alive connection idle this long; keep it below the target's keep-alive timeout, or a request sent as the target closes an idle connection fails (EOF)")
	fl.StringVar(&f.during, "during", "", "shell command to run under load once warm (e.g. a rollout)")
	fl.DurationVar(&f.warmup, "warmup", 5*time.Second, "load before the --during command starts")
	fl.DurationVar(&f.cooldown, "cooldown", 10*time.Second, "load after the --during command ends")
	fl.StringVar(&f.watch, "watch", "", "NAMESPACE/DEPLOYMENT whose pods and TargetBindings to follow")
	fl.StringVar(&f.namespace, "namespace", "", "namespace of --deployment")
	fl.StringVar(&f.deployment, "deployment", "", "Deployment to follow (with --namespace, instead of --watch)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context (default: the current one)")
	fl.StringVar(&f.jsonOut, "json", "", "write the JSON report to this file ('-': stdout, the summary then goes to stderr)")
	fl.StringVar(&f.htmlOut, "html", "", "write the self-contained HTML report to this file")
	fl.Int64Var(&f.maxErrors, "max-errors", 0, "error budget in failed requests (exit 2 above it); ignored when only --max-error-rate is given")
	fl.Float64Var(&f.maxErrorRate, "max-error-rate", -1, "error budget as a fraction of requests, e.g. 0.001 (exit 2 above it; -1: off)")
	fl.Float64Var(&f.minRateRatio, "min-rate-ratio", lib.DefaultMinRateRatio, "lowest achieved/requested rate that counts as sustained (exit 4 below it)")
	fl.DurationVar(&f.maxLag, "max-schedule-lag", lib.DefaultMaxScheduleLag, "stop (exit 4) when sending falls this far behind schedule")
	fl.BoolVar(&f.noProbe, "no-probe", false, "do not check that every target answers before starting")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no live progress line (it is shown only on a terminal anyway)")
	return cmd
}

func runE(ctx context.Context, cmd *cobra.Command, f *flags, args []string) error {
	cfg, err := f.config(cmd, args)
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	summaryOut := stdout
	if f.jsonOut == "-" {
		summaryOut = stderr
	}
	var progress *progressLine
	if !f.noProgress && isTerminal(stderr) {
		progress = &progressLine{w: stderr}
		cfg.OnProgress = progress.show
	}

	run, err := lib.New(cfg)
	if err != nil {
		return err
	}
	rep, err := run.Execute(ctx)
	progress.clear()
	if err != nil {
		return err
	}

	if err := report.WriteText(summaryOut, rep); err != nil {
		return err
	}
	if err := writeReports(f, stdout, rep); err != nil {
		return err
	}
	if rep.Verdict.ExitCode != report.ExitOK {
		return &exitError{code: rep.Verdict.ExitCode, msg: "verify: " + rep.Verdict.Status + ": " + strings.Join(rep.Verdict.Reasons, "; ")}
	}
	return nil
}

// config turns flags and arguments into a run configuration.
func (f *flags) config(cmd *cobra.Command, urls []string) (lib.Config, error) {
	header, err := parseHeaders(f.headers)
	if err != nil {
		return lib.Config{}, err
	}
	body := []byte(f.body)
	if f.bodyFile != "" {
		if f.body != "" {
			return lib.Config{}, errors.New("--body and --body-file are mutually exclusive")
		}
		if body, err = os.ReadFile(f.bodyFile); err != nil {
			return lib.Config{}, fmt.Errorf("reading --body-file: %w", err)
		}
	}
	cfg := lib.Config{
		Rate: f.rate, Duration: f.duration, Timeout: f.timeout, KeepAlive: f.keepAlive, IdleTimeout: f.idleTimeout,
		MaxErrors: f.maxErrors, MaxErrorRate: f.maxErrorRate, MinRateRatio: f.minRateRatio,
		MaxScheduleLag: f.maxLag, SkipProbe: f.noProbe,
	}
	if f.timeout <= 0 {
		return lib.Config{}, fmt.Errorf("--timeout %s must be positive", f.timeout)
	}
	if f.maxLag <= 0 {
		return lib.Config{}, fmt.Errorf("--max-schedule-lag %s must be positive", f.maxLag)
	}
	if f.minRateRatio <= 0 || f.minRateRatio > 1 {
		return lib.Config{}, fmt.Errorf("--min-rate-ratio %g must be in (0, 1]", f.minRateRatio)
	}
	if f.maxErrors < 0 {
		return lib.Config{}, fmt.Errorf("--max-errors %d must not be negative", f.maxErrors)
	}
	if cmd.Flags().Changed("max-error-rate") {
		if f.maxErrorRate < 0 || f.maxErrorRate > 1 {
			return lib.Config{}, fmt.Errorf("--max-error-rate %g must be a fraction in [0, 1]", f.maxErrorRate)
		}
		if !cmd.Flags().Changed("max-errors") {
			cfg.MaxErrors = -1 // the rate alone is the budget
		}
	}
	for _, u := range urls {
		if err := lib.ValidateURL(u); err != nil {
			return lib.Config{}, err
		}
		cfg.Targets = append(cfg.Targets, lib.Target{URL: u, Method: f.method, Header: header, Body: body})
	}
	if f.during != "" {
		step := lib.ShellStep(f.during)
		cfg.During = &step
		cfg.Warmup, cfg.Cooldown = f.warmup, f.cooldown
	}
	ns, dep, err := watchTarget(f.watch, f.namespace, f.deployment)
	if err != nil {
		return lib.Config{}, err
	}
	if dep != "" {
		rc, err := kube.RESTConfig(f.kubeconfig, f.kubeContext)
		if err != nil {
			return lib.Config{}, err
		}
		cfg.Watchers = append(cfg.Watchers, &kube.Watcher{Config: rc, Namespace: ns, Deployment: dep})
	}
	return cfg, nil
}

// parseHeaders parses "Name: value" strings.
func parseHeaders(in []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range in {
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("malformed --header %q: want 'Name: value'", s)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// watchTarget resolves --watch NAMESPACE/DEPLOYMENT or --namespace with
// --deployment into a namespace and a deployment ("" when nothing is
// watched).
func watchTarget(watch, namespace, deployment string) (string, string, error) {
	if watch != "" {
		if namespace != "" || deployment != "" {
			return "", "", errors.New("--watch and --namespace/--deployment are mutually exclusive")
		}
		ns, dep, ok := strings.Cut(watch, "/")
		if !ok || !validName(ns) || !validName(dep) {
			return "", "", fmt.Errorf("malformed --watch %q: want NAMESPACE/DEPLOYMENT", watch)
		}
		return ns, dep, nil
	}
	if deployment == "" {
		if namespace != "" {
			return "", "", errors.New("--namespace needs --deployment")
		}
		return "", "", nil
	}
	if namespace == "" {
		namespace = "default"
	}
	if !validName(namespace) || !validName(deployment) {
		return "", "", fmt.Errorf("invalid --namespace %q or --deployment %q", namespace, deployment)
	}
	return namespace, deployment, nil
}

// validName reports whether s is a DNS-1123 subdomain, as Kubernetes names are.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, r := range s {
		alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !alnum && !(r == '-' || r == '.') {
			return false
		}
		if (i == 0 || i == len(s)-1) && !alnum {
			return false
		}
	}
	return true
}

func writeReports(f *flags, stdout io.Writer, rep *report.Report) error {
	if f.jsonOut == "-" {
		if err := report.WriteJSON(stdout, rep); err != nil {
			return err
		}
	} else if f.jsonOut != "" {
		if err := writeFile(f.jsonOut, func(w io.Writer) error { return report.WriteJSON(w, rep) }); err != nil {
			return err
		}
	}
	if f.htmlOut != "" {
		return writeFile(f.htmlOut, func(w io.Writer) error { return report.WriteHTML(w, rep) })
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating report file: %w", err)
	}
	if err := write(out); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine rewrites one terminal line with the run's progress.
type progressLine struct{ w io.Writer }

func (p *progressLine) show(pr lib.Progress) {
	_, _ = fmt.Fprintf(p.w, "\r%s\x1b[K", report.ProgressLine(pr.Elapsed.Seconds(), pr.Phase, pr.Rate, pr.Counts))
}

func (p *progressLine) clear() {
	if p != nil {
		_, _ = fmt.Fprint(p.w, "\r\x1b[K")
	}
}
