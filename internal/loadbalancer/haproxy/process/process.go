// Package process starts and stops real HAProxy processes (Debian's haproxy,
// 2.6 or later) for tests, the demo and integration tests: master-worker
// mode, a runtime API socket, HTTP frontends on loopback addresses and named
// backends with HTTP health checks and no static servers by default.
//
// # Draining-related choices
//
// By default the generated configuration uses "option http-server-close":
// HAProxy opens one connection to a server per request and keeps no idle
// pooled connections to servers. Then a server's current sessions (scur) are
// exactly its in-flight requests, "del server" is never held up by idle
// pooled connections, and a target that closes its idle keep-alive
// connections cannot race a request HAProxy sends on one (a classic source
// of 502s unrelated to the LB's own timing). Config.ServerKeepAlive restores
// HAProxy's default (keep-alive to servers, "http-reuse safe") to exercise
// the other path. Client-side keep-alive stays on ("timeout http-keep-alive
// 1s"); every request on it is load balanced on its own.
//
// "timeout connect 1s" makes a request to a dead server fail fast and
// "retries 2" with "option redispatch" retries it on another server; client
// and server timeouts are 30s; "hard-stop-after 10s" bounds how long an old
// worker lingers after a reload with requests still open.
package process

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// Defaults used when the corresponding Config field is empty.
const (
	DefaultHealthPath   = "/healthz"
	DefaultStartTimeout = 20 * time.Second
	defaultBinary       = "/usr/sbin/haproxy"
	stopTimeout         = 10 * time.Second
	pollInterval        = 20 * time.Millisecond
	runtimeSocketName   = "runtime.sock"
	masterSocketName    = "master.sock"
	configName          = "haproxy.cfg"
	logName             = "haproxy.log"
)

// ClientKeepAliveTimeout is the configuration's "timeout http-keep-alive":
// how long HAProxy keeps an idle client connection open. A load client
// should close its idle connections sooner (see verify.Config.IdleTimeout).
const ClientKeepAliveTimeout = time.Second

// Frontend is one HTTP frontend.
type Frontend struct {
	// Name is the frontend's name in the configuration.
	Name string
	// Address is where it listens; a zero port picks a free one. It must be
	// a loopback address.
	Address netip.AddrPort
	// Backend is the backend it sends every request to.
	Backend string
	// TCP makes it a "mode tcp" frontend (a connection goes to one server
	// for its whole life, as with a network load balancer); its backend
	// must be TCP too.
	TCP bool
}

// Backend is one backend with HTTP health checks.
type Backend struct {
	// Name is the backend's name in the configuration.
	Name string
	// HealthPath is checked with "option httpchk GET <HealthPath>" and
	// "http-check expect status 200"; empty means DefaultHealthPath.
	HealthPath string
	// CheckTimeout, when positive, is the backend's "timeout check" (the
	// read timeout of a health check; HAProxy then connects within
	// min("timeout connect", inter)). Zero leaves HAProxy's default: the
	// whole check must finish within the server's inter.
	CheckTimeout time.Duration
	// TCP makes it a "mode tcp" backend; its health checks stay HTTP.
	TCP bool
	// StaticServers are servers written in the configuration (named
	// static-0, static-1, ...), with "check". Usually none: zerodrop adds
	// servers at run time.
	StaticServers []netip.AddrPort
}

// Config describes the HAProxy to start.
type Config struct {
	// Binary is the haproxy executable; empty looks up "haproxy" on PATH,
	// then /usr/sbin/haproxy.
	Binary string
	// Dir is where the process's own directory (configuration, sockets,
	// log) is created; empty means the system's temporary directory. Keep
	// it short: unix socket paths are limited to 107 bytes.
	Dir string
	// Frontends and Backends are the proxies to configure.
	Frontends []Frontend
	Backends  []Backend
	// RuntimeTCP, when valid, also exposes the runtime API on this TCP
	// address (a zero port picks a free one). It must be a loopback address.
	RuntimeTCP netip.AddrPort
	// ServerKeepAlive keeps connections to servers alive and pooled instead
	// of "option http-server-close" (see the package comment).
	ServerKeepAlive bool
	// StartTimeout bounds Start, Reload and Restart's wait for readiness;
	// zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger receives start, reload and stop events.
	Logger logr.Logger
	// Events keeps the backends' log (server state changes: "Server b/s is
	// UP, reason: ...", drain, maintenance) in a ring, EventRing, that
	// FollowEvents streams, each line dated by HAProxy.
	Events bool
	// RequestErrors keeps the frontends' log of abnormal requests only
	// (HAProxy's "option dontlog-normal": errors, aborts, retries and
	// redispatches, each with its termination state; not a connection
	// closed without a request) in a ring,
	// RequestErrorRing, that RequestErrors returns. A request that went
	// well costs no log line.
	RequestErrors bool
}

// EventRing is the ring buffer Config.Events logs server state changes to.
const EventRing = "zerodrop-events"

// RequestErrorRing is the ring buffer Config.RequestErrors logs abnormal
// requests to.
const RequestErrorRing = "zerodrop-request-errors"

// ringSize is the size of each ring, in bytes.
const ringSize = 4 << 20

// Process is a running HAProxy master and its worker. Its methods are safe
// for concurrent use.
type Process struct {
	cfg        Config
	binary     string
	dir        string
	frontends  map[string]netip.AddrPort
	runtimeTCP netip.AddrPort
	log        logr.Logger

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

// Start writes the configuration to a new temporary directory, starts
// haproxy in master-worker mode and returns once the worker answers on the
// runtime API. ctx bounds only the start; stop the process with Stop
// (callers in tests: t.Cleanup(func() { p.Stop() })).
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	binary, err := findBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.Dir, "zd-haproxy-")
	if err != nil {
		return nil, fmt.Errorf("create HAProxy directory: %w", err)
	}
	p := &Process{cfg: cfg, binary: binary, dir: dir, frontends: map[string]netip.AddrPort{}, log: cfg.Logger, stopped: true}
	if p.log.GetSink() == nil {
		p.log = logr.Discard()
	}
	// A port picked free can be taken before HAProxy binds it: try again
	// with new ports a few times.
	const attempts = 3
	for a := 1; ; a++ {
		if err = p.pickPorts(); err == nil {
			if err = os.WriteFile(filepath.Join(dir, configName), []byte(p.render()), 0o600); err == nil {
				err = p.start(ctx)
			}
		}
		if err == nil {
			return p, nil
		}
		if a == attempts || ctx.Err() != nil || !strings.Contains(err.Error(), "cannot bind") {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
}

func validate(cfg Config) error {
	if len(cfg.Frontends) == 0 {
		return errors.New("haproxy process: no frontend")
	}
	backends := map[string]bool{}
	tcp := map[string]bool{}
	for _, b := range cfg.Backends {
		tcp[b.Name] = b.TCP
		if err := validName("backend", b.Name); err != nil {
			return err
		}
		if backends[b.Name] {
			return fmt.Errorf("haproxy process: backend %q twice", b.Name)
		}
		backends[b.Name] = true
		if b.HealthPath != "" && (!strings.HasPrefix(b.HealthPath, "/") || strings.ContainsAny(b.HealthPath, " \t\r\n")) {
			return fmt.Errorf("haproxy process: backend %q: health path %q must start with / and hold no spaces", b.Name, b.HealthPath)
		}
	}
	frontends := map[string]bool{}
	for _, f := range cfg.Frontends {
		if err := validName("frontend", f.Name); err != nil {
			return err
		}
		if frontends[f.Name] || backends[f.Name] {
			return fmt.Errorf("haproxy process: proxy name %q used twice", f.Name)
		}
		frontends[f.Name] = true
		if !backends[f.Backend] {
			return fmt.Errorf("haproxy process: frontend %q: unknown backend %q", f.Name, f.Backend)
		}
		if f.TCP != tcp[f.Backend] {
			return fmt.Errorf("haproxy process: frontend %q and its backend %q must both be TCP or both HTTP", f.Name, f.Backend)
		}
		if !f.Address.Addr().IsLoopback() {
			return fmt.Errorf("haproxy process: frontend %q: address %s is not a loopback address", f.Name, f.Address)
		}
	}
	if cfg.RuntimeTCP.IsValid() && !cfg.RuntimeTCP.Addr().IsLoopback() {
		return fmt.Errorf("haproxy process: runtime API address %s is not a loopback address", cfg.RuntimeTCP)
	}
	return nil
}

func validName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("haproxy process: %s without a name", kind)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return fmt.Errorf("haproxy process: %s name %q: character %q is not allowed", kind, name, r)
		}
	}
	return nil
}

func findBinary(name string) (string, error) {
	if name != "" {
		return exec.LookPath(name)
	}
	if path, err := exec.LookPath("haproxy"); err == nil {
		return path, nil
	}
	if _, err := os.Stat(defaultBinary); err != nil {
		return "", fmt.Errorf("haproxy not found on PATH nor at %s (install it with hack/install-debs.sh haproxy): %w", defaultBinary, err)
	}
	return defaultBinary, nil
}

// pickPorts resolves zero ports to free ones.
func (p *Process) pickPorts() error {
	for _, f := range p.cfg.Frontends {
		a, err := freePort(f.Address)
		if err != nil {
			return fmt.Errorf("frontend %q: %w", f.Name, err)
		}
		p.frontends[f.Name] = a
	}
	if p.cfg.RuntimeTCP.IsValid() {
		a, err := freePort(p.cfg.RuntimeTCP)
		if err != nil {
			return fmt.Errorf("runtime API: %w", err)
		}
		p.runtimeTCP = a
	}
	return nil
}

func freePort(a netip.AddrPort) (netip.AddrPort, error) {
	if a.Port() != 0 {
		return a, nil
	}
	l, err := net.Listen("tcp", a.String())
	if err != nil {
		return a, fmt.Errorf("pick a free port on %s: %w", a.Addr(), err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort(), nil
}

// render returns the HAProxy configuration.
func (p *Process) render() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("global")
	w("    stats socket %s mode 600 level admin expose-fd listeners", p.RuntimeSocket())
	if p.runtimeTCP.IsValid() {
		w("    stats socket ipv4@%s level admin", p.runtimeTCP)
	}
	w("    stats timeout 1m")
	w("    hard-stop-after 10s")
	if p.cfg.Events {
		w("    log ring@%s local0 notice", EventRing)
	}
	// "format iso" dates each line when HAProxy logs it, not when it is
	// read.
	for _, ring := range []string{EventRing, RequestErrorRing} {
		if ring == EventRing && p.cfg.Events || ring == RequestErrorRing && p.cfg.RequestErrors {
			w("")
			w("ring %s", ring)
			w("    format iso")
			w("    size %d", ringSize)
		}
	}
	w("")
	w("defaults")
	w("    mode http")
	w("    timeout connect 1s")
	w("    timeout client 30s")
	w("    timeout server 30s")
	w("    timeout http-request 10s")
	w("    timeout http-keep-alive %dms", ClientKeepAliveTimeout.Milliseconds())
	w("    retries 2")
	w("    option redispatch")
	if !p.cfg.ServerKeepAlive {
		w("    option http-server-close")
	}
	for _, f := range p.cfg.Frontends {
		w("")
		w("frontend %s", f.Name)
		if f.TCP {
			w("    mode tcp")
		}
		w("    bind %s", p.frontends[f.Name])
		if p.cfg.RequestErrors {
			w("    log ring@%s local0", RequestErrorRing)
			if f.TCP {
				w("    option tcplog")
			} else {
				w("    option httplog")
			}
			w("    option dontlog-normal")
			// Not the idle kept-alive connections a client closes.
			w("    option dontlognull")
		}
		w("    default_backend %s", f.Backend)
	}
	for _, be := range p.cfg.Backends {
		w("")
		w("backend %s", be.Name)
		if be.TCP {
			w("    mode tcp")
		}
		w("    balance roundrobin")
		if p.cfg.Events {
			w("    log global")
		}
		w("    option httpchk GET %s", cmp.Or(be.HealthPath, DefaultHealthPath))
		w("    http-check expect status 200")
		if be.CheckTimeout > 0 {
			w("    timeout check %dms", (be.CheckTimeout+time.Millisecond-1)/time.Millisecond)
		}
		for i, s := range be.StaticServers {
			w("    server static-%d %s check", i, s)
		}
	}
	return b.String()
}

// start runs the master and waits until a worker answers.
func (p *Process) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(p.dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open HAProxy log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(p.binary, "-W", "-f", filepath.Join(p.dir, configName), "-S", p.MasterSocket())
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Stop can kill the master and its workers
	// together if the master does not stop in time.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.binary, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		stopped := p.stopped
		p.mu.Unlock()
		if !stopped {
			p.log.Error(err, "haproxyExited", "dir", p.dir, "log", p.logTail())
		}
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited, p.stopped = cmd, exited, false
	p.mu.Unlock()
	_, err = p.waitWorker(ctx, "")
	if err == nil {
		err = p.waitMaster(ctx)
	}
	if err != nil {
		_ = p.Stop()
		return fmt.Errorf("haproxy did not become ready: %w; log: %s", err, p.logTail())
	}
	p.log.Info("haproxyStarted", "dir", p.dir, "masterPid", cmd.Process.Pid)
	return nil
}

// waitWorker polls the runtime API until a worker whose pid differs from
// oldPid answers, and returns its pid.
func (p *Process) waitWorker(ctx context.Context, oldPid string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(p.cfg.StartTimeout, DefaultStartTimeout))
	defer cancel()
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	var lastErr error
	for {
		pid, err := workerPid(ctx, p.RuntimeSocket())
		if err == nil && pid != oldPid {
			return pid, nil
		}
		lastErr = cmp.Or(err, fmt.Errorf("worker %s still answers", pid))
		select {
		case <-exited:
			return "", errors.New("haproxy master exited")
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last: %w)", ctx.Err(), lastErr)
		case <-time.After(pollInterval):
		}
	}
}

// waitMaster polls the master CLI until the master answers "show proc":
// only then is it in its event loop, where a reload request is not lost (a
// SIGUSR2 sent earlier in its start-up can be).
func (p *Process) waitMaster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(p.cfg.StartTimeout, DefaultStartTimeout))
	defer cancel()
	for {
		out, err := command(ctx, p.MasterSocket(), "show proc;quit")
		if err == nil && strings.Contains(out, "master") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("master CLI: %w (last: %w, %q)", ctx.Err(), err, out)
		case <-time.After(pollInterval):
		}
	}
}

// command sends one command to a CLI socket and returns its output.
func command(ctx context.Context, socket, cmd string) (string, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte(cmd + "\n")); err != nil {
		return "", err
	}
	var out bytes.Buffer
	_, err = out.ReadFrom(conn)
	return out.String(), err
}

// workerPid asks the runtime API for the worker's pid.
func workerPid(ctx context.Context, socket string) (string, error) {
	out, err := command(ctx, socket, "show info")
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(out, "\n") {
		if pid, ok := strings.CutPrefix(line, "Pid: "); ok {
			return strings.TrimSpace(pid), nil
		}
	}
	return "", fmt.Errorf("no Pid in show info: %q", out)
}

// Reload makes the master start a new worker with the same configuration
// (the master CLI's "reload", like SIGUSR2), as a configuration reload does
// in production: servers added at
// run time are gone in the new worker. It returns once the new worker
// answers on the runtime API.
func (p *Process) Reload(ctx context.Context) error {
	old, err := workerPid(ctx, p.RuntimeSocket())
	if err != nil {
		return fmt.Errorf("reload haproxy: current worker: %w", err)
	}
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return errors.New("reload haproxy: not running")
	}
	// The master re-executes itself and closes the connection; the output
	// (none in 2.6) does not matter.
	if _, err := command(ctx, p.MasterSocket(), "reload;quit"); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("reload haproxy: master CLI: %w", err)
	}
	pid, err := p.waitWorker(ctx, old)
	if err == nil {
		err = p.waitMaster(ctx)
	}
	if err != nil {
		return fmt.Errorf("reload haproxy: %w; log: %s", err, p.logTail())
	}
	p.log.Info("haproxyReloaded", "oldWorkerPid", old, "workerPid", pid)
	return nil
}

// Restart stops HAProxy and starts it again with the same configuration,
// sockets and ports.
func (p *Process) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return fmt.Errorf("restart haproxy: %w", err)
	}
	if err := p.start(ctx); err != nil {
		return fmt.Errorf("restart haproxy: %w", err)
	}
	return nil
}

// Stop stops the master and its workers (SIGTERM, then SIGKILL to the
// process group after a timeout) and waits for the master to exit. It is
// idempotent. It does not remove the directory; Cleanup does.
func (p *Process) Stop() error {
	p.mu.Lock()
	cmd, exited, stopped := p.cmd, p.exited, p.stopped
	p.stopped = true
	p.mu.Unlock()
	if stopped || cmd == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Workers exit when the master does; make sure none survives.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	p.log.Info("haproxyStopped", "masterPid", pgid)
	return nil
}

// Close stops HAProxy and removes its directory (configuration, sockets,
// log).
func (p *Process) Close() error {
	err := p.Stop()
	if rmErr := os.RemoveAll(p.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove HAProxy directory: %w", rmErr))
	}
	return err
}

// RuntimeSocket is the unix socket of the worker's runtime API (level
// admin).
func (p *Process) RuntimeSocket() string { return filepath.Join(p.dir, runtimeSocketName) }

// RuntimeAddress is the TCP address of the runtime API, or the zero value
// when Config.RuntimeTCP was not set.
func (p *Process) RuntimeAddress() netip.AddrPort { return p.runtimeTCP }

// RuntimeCommand sends one command to the runtime API socket and returns
// HAProxy's whole answer (tests use it to look at what HAProxy holds).
func (p *Process) RuntimeCommand(ctx context.Context, cmd string) (string, error) {
	return command(ctx, p.RuntimeSocket(), cmd)
}

// FollowEvents streams the lines HAProxy logs to EventRing from now on
// (Config.Events), calling fn with each line and the time HAProxy logged it,
// until ctx is done or HAProxy closes the connection (a reload or a stop).
// It returns nil when ctx ends it.
func (p *Process) FollowEvents(ctx context.Context, fn func(at time.Time, line string)) error {
	if !p.cfg.Events {
		return errors.New("haproxy process: started without Config.Events")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", p.RuntimeSocket())
	if err != nil {
		return fmt.Errorf("connect to the runtime API: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	// -w waits for new events, -n skips those already in the ring.
	if _, err := conn.Write([]byte("show events " + EventRing + " -w -n\n")); err != nil {
		return fmt.Errorf("ask for events: %w", err)
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		if at, line, ok := ringLine(sc.Text()); ok {
			fn(at, line)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	return errors.New("haproxy process: the runtime API closed the event stream")
}

// ringLine splits one line of a "format iso" ring into HAProxy's
// timestamp and the message; a line without a timestamp is dated now. ok
// is false for a blank line.
func ringLine(raw string) (at time.Time, line string, ok bool) {
	line = strings.TrimSpace(raw)
	if line == "" {
		return time.Time{}, "", false
	}
	if stamp, rest, found := strings.Cut(line, " "); found {
		if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
			return t, strings.TrimSpace(rest), true
		}
	}
	return time.Now(), line, true
}

// RequestErrors returns the abnormal requests logged so far (see
// Config.RequestErrors), oldest first, each with HAProxy's timestamp; the
// ring keeps the latest 4 MiB of lines.
func (p *Process) RequestErrors(ctx context.Context) ([]RingLine, error) {
	if !p.cfg.RequestErrors {
		return nil, errors.New("haproxy process: started without Config.RequestErrors")
	}
	out, err := p.RuntimeCommand(ctx, "show events "+RequestErrorRing)
	if err != nil {
		return nil, err
	}
	var lines []RingLine
	for raw := range strings.SplitSeq(out, "\n") {
		if at, line, ok := ringLine(raw); ok {
			lines = append(lines, RingLine{At: at, Line: line})
		}
	}
	return lines, nil
}

// RingLine is one line of a ring, dated by HAProxy.
type RingLine struct {
	At   time.Time
	Line string
}

// MasterSocket is the master CLI's unix socket.
func (p *Process) MasterSocket() string { return filepath.Join(p.dir, masterSocketName) }

// ConfigPath is the configuration file HAProxy runs with.
func (p *Process) ConfigPath() string { return filepath.Join(p.dir, configName) }

// FrontendAddress is where the named frontend listens (zero if unknown).
func (p *Process) FrontendAddress(name string) netip.AddrPort { return p.frontends[name] }

// FrontendURL is the http:// URL of the named frontend, or "" if there is
// no such frontend.
func (p *Process) FrontendURL(name string) string {
	a, ok := p.frontends[name]
	if !ok {
		return ""
	}
	return "http://" + a.String()
}

// logTail returns the end of HAProxy's output, for error messages.
func (p *Process) logTail() string {
	b, err := os.ReadFile(filepath.Join(p.dir, logName))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const limit = 2000
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	return strconv.Quote(string(b))
}
