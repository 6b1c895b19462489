package vnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeUserAgent is the User-Agent of httpGet probes, like kubelet's.
const probeUserAgent = "kube-probe/1.37"

// probeKind is the kind of a probe.
type probeKind string

const (
	probeStartup   probeKind = "startup"
	probeReadiness probeKind = "readiness"
	probeLiveness  probeKind = "liveness"
)

// probeResult is the outcome of one probe run.
type probeResult bool

const (
	probeSuccess probeResult = true
	probeFailure probeResult = false
)

// handler is what a probe or a lifecycle hook does; exactly one field is set
// in a valid spec.
type handler struct {
	exec      *corev1.ExecAction
	httpGet   *corev1.HTTPGetAction
	tcpSocket *corev1.TCPSocketAction
	grpc      *corev1.GRPCAction
	sleep     *corev1.SleepAction
}

func probeHandler(p *corev1.Probe) handler {
	return handler{exec: p.Exec, httpGet: p.HTTPGet, tcpSocket: p.TCPSocket, grpc: p.GRPC}
}

func hookHandler(h *corev1.LifecycleHandler) handler {
	return handler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, sleep: h.Sleep}
}

// hostRunner runs a handler against a pod from the host.
type hostRunner struct {
	podIP  string
	c      *corev1.Container
	mapper pathMapper
	env    []string
	argEnv []corev1.EnvVar
}

// run executes h with timeout and returns nil on success.
func (r hostRunner) run(ctx context.Context, h handler, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.exec != nil:
		return r.exec(ctx, h.exec.Command)
	case h.httpGet != nil:
		return r.httpGet(ctx, h.httpGet)
	case h.tcpSocket != nil:
		port, err := r.port(h.tcpSocket.Port)
		if err != nil {
			return err
		}
		host := h.tcpSocket.Host
		if host == "" {
			host = r.podIP
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("tcpSocket: %w", err)
		}
		return conn.Close()
	case h.sleep != nil:
		select {
		case <-time.After(time.Duration(h.sleep.Seconds) * time.Second):
			return nil
		case <-ctx.Done():
			return fmt.Errorf("sleep: %w", ctx.Err())
		}
	case h.grpc != nil:
		return errors.New("grpc probes are not supported by virtual nodes")
	}
	return errors.New("handler has no action")
}

// exec runs argv on the host, paths mapped, in its own process group, which
// is killed when ctx ends.
func (r hostRunner) exec(ctx context.Context, argv []string) error {
	argv = r.mapper.mapCommand(commandLine(argv, nil, r.argEnv))
	if len(argv) == 0 {
		return errors.New("exec: empty command")
	}
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = r.env
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %q: %w", argv, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			return &execError{argv: argv, err: err, output: strings.TrimSpace(lastBytes(out.String(), 400))}
		}
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		return &execError{argv: argv, err: ctx.Err(), output: strings.TrimSpace(lastBytes(out.String(), 400))}
	}
}

// execError is a failed exec command with the tail of its output.
type execError struct {
	argv   []string
	err    error
	output string
}

func (e *execError) Error() string {
	if e.output == "" {
		return fmt.Sprintf("exec %q: %v", e.argv, e.err)
	}
	return fmt.Sprintf("exec %q: %v: %s", e.argv, e.err, e.output)
}

func (e *execError) Unwrap() error { return e.err }

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (r hostRunner) httpGet(ctx context.Context, g *corev1.HTTPGetAction) error {
	port, err := r.port(g.Port)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = r.podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	p := g.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), p), nil)
	if err != nil {
		return fmt.Errorf("httpGet: %w", err)
	}
	req.Header.Set("User-Agent", probeUserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet does not verify probe certificates either
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("httpGet: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("httpGet %s: status %d", req.URL, resp.StatusCode)
	}
	return nil
}

// port resolves a numeric or named container port.
func (r hostRunner) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range r.c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", r.c.Name, p.StrVal)
}

// probeSettings are a probe's timing fields with kubelet's defaults applied
// (the API server defaults them too; this keeps objects created without
// defaulting safe).
type probeSettings struct {
	initialDelay, period, timeout time.Duration
	successThreshold              int32
	failureThreshold              int32
}

func settingsOf(p *corev1.Probe) probeSettings {
	s := probeSettings{
		initialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		period:           time.Duration(p.PeriodSeconds) * time.Second,
		timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		successThreshold: p.SuccessThreshold,
		failureThreshold: p.FailureThreshold,
	}
	if s.period <= 0 {
		s.period = 10 * time.Second
	}
	if s.timeout <= 0 {
		s.timeout = time.Second
	}
	if s.successThreshold <= 0 {
		s.successThreshold = 1
	}
	if s.failureThreshold <= 0 {
		s.failureThreshold = 3
	}
	return s
}

// probeCounter applies kubelet's threshold rule: a result becomes the
// probe's state only after successThreshold consecutive successes or
// failureThreshold consecutive failures.
type probeCounter struct {
	last  probeResult
	count int32
	state probeResult
}

// newProbeCounter starts in kubelet's initial state for the kind: readiness
// and startup start failed, liveness starts successful.
func newProbeCounter(kind probeKind) probeCounter {
	initial := probeFailure
	if kind == probeLiveness {
		initial = probeSuccess
	}
	return probeCounter{last: initial, state: initial}
}

// observe records one result and reports the state and whether it changed.
func (pc *probeCounter) observe(r probeResult, s probeSettings) (state probeResult, changed bool) {
	if r == pc.last {
		pc.count++
	} else {
		pc.last, pc.count = r, 1
	}
	threshold := s.failureThreshold
	if r == probeSuccess {
		threshold = s.successThreshold
	}
	if pc.count < threshold || r == pc.state {
		return pc.state, false
	}
	pc.state = r
	return pc.state, true
}
