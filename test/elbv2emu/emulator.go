package elbv2emu

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "123456789012"
	DefaultListen  = "127.0.0.1:0"
)

// apiVersion is the only Query API version the emulator speaks.
const apiVersion = "2015-12-01"

// maxBody bounds a request body.
const maxBody = 1 << 20

// maxSocketPath is the longest unix socket path HAProxy 2.6 accepts (the
// 107 bytes of Linux's sun_path less what it appends while binding).
const maxSocketPath = 97

// socketPathSlack is what process.Start adds to Config.Dir for the runtime
// socket: "/zd-haproxy-<up to 10 digits>/runtime.sock".
const socketPathSlack = len("/zd-haproxy-0123456789/runtime.sock")

// Config configures an emulator.
type Config struct {
	// Region and Account appear in ARNs; requests must be signed for
	// Region. Empty means us-east-1 and 123456789012.
	Region, Account string
	// Dir is where each target group's HAProxy keeps its files (required;
	// tests use t.TempDir()). HAProxy's unix sockets live under it and
	// their paths must fit in 97 bytes: when Dir is longer than 62 bytes
	// (t.TempDir() of a long test name) the emulator uses a directory of its
	// own under os.TempDir() instead, removed by Close.
	Dir string
	// RegistrationLag is how long a new target reports
	// initial/Elb.RegistrationInProgress before health checks count.
	RegistrationLag time.Duration
	// Throttle enforces AWS's documented request buckets: 40 burst and 10
	// per second shared by every call, and per kind Describe* 40/10,
	// RegisterTargets and DeregisterTargets 20/4, other mutating calls 20/3.
	Throttle bool
	// Listen is the API's listen address, a loopback one; empty means
	// 127.0.0.1 on a free port.
	Listen string
}

// Emulator is a running ELBv2 emulator. Its methods are safe for concurrent
// use.
type Emulator struct {
	cfg      Config
	server   *http.Server
	listener net.Listener
	throttle *throttle
	served   chan struct{}
	// ownDir is the directory the emulator made itself (Config.Dir was too
	// long), removed by Close.
	ownDir string

	mu        sync.Mutex
	groups    map[string]*targetGroup // by ARN
	byName    map[string]*targetGroup
	seq       int
	calls     map[string]int
	throttled int
	injected  map[string]injection
	requests  int
	closed    bool
}

// injection is a pending injected error.
type injection struct {
	code string
	n    int
}

// Start starts the emulator's API on cfg.Listen. Target groups are created
// with CreateTargetGroup (or the API's CreateTargetGroup). Stop it with
// Close.
func Start(ctx context.Context, cfg Config) (*Emulator, error) {
	cfg.Region = cmp.Or(cfg.Region, DefaultRegion)
	cfg.Account = cmp.Or(cfg.Account, DefaultAccount)
	cfg.Listen = cmp.Or(cfg.Listen, DefaultListen)
	if cfg.Dir == "" {
		return nil, errors.New("elbv2emu: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("elbv2emu: Config.Dir: %w", err)
	}
	ownDir := ""
	if len(dir)+socketPathSlack > maxSocketPath {
		if ownDir, err = os.MkdirTemp("", "elbv2emu-"); err != nil {
			return nil, fmt.Errorf("elbv2emu: Config.Dir %q is too long for HAProxy's unix sockets, and a shorter one: %w", dir, err)
		}
		if len(ownDir)+socketPathSlack > maxSocketPath {
			_ = os.RemoveAll(ownDir)
			return nil, fmt.Errorf("elbv2emu: Config.Dir %q and the temporary directory %q are too long for HAProxy's unix sockets (at most %d bytes)", dir, ownDir, maxSocketPath-socketPathSlack)
		}
		dir = ownDir
	}
	cfg.Dir = dir
	if cfg.RegistrationLag < 0 {
		return nil, fmt.Errorf("elbv2emu: RegistrationLag %s is negative", cfg.RegistrationLag)
	}
	ap, err := netip.ParseAddrPort(cfg.Listen)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("elbv2emu: Listen %q must be a loopback address and port", cfg.Listen)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		if ownDir != "" {
			_ = os.RemoveAll(ownDir)
		}
		return nil, fmt.Errorf("elbv2emu: listen: %w", err)
	}
	e := &Emulator{
		cfg:      cfg,
		ownDir:   ownDir,
		listener: l,
		served:   make(chan struct{}),
		groups:   map[string]*targetGroup{},
		byName:   map[string]*targetGroup{},
		calls:    map[string]int{},
		injected: map[string]injection{},
	}
	if cfg.Throttle {
		e.throttle = newThrottle()
	}
	e.server = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(e.served)
		_ = e.server.Serve(l)
	}()
	return e, nil
}

// Endpoint is the API's base URL ("http://127.0.0.1:port"), the SDK's
// BaseEndpoint.
func (e *Emulator) Endpoint() string { return "http://" + e.listener.Addr().String() }

// Region is the region requests must be signed for.
func (e *Emulator) Region() string { return e.cfg.Region }

// CreateTargetGroup creates a target group and starts its HAProxy, and
// returns its ARN,
// arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<16 hex>.
func (e *Emulator) CreateTargetGroup(ctx context.Context, spec TargetGroupSpec) (string, error) {
	g, err := e.createTargetGroup(ctx, spec)
	if err != nil {
		return "", err
	}
	return g.arn, nil
}

func (e *Emulator) createTargetGroup(ctx context.Context, spec TargetGroupSpec) (*targetGroup, error) {
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errors.New("elbv2emu: closed")
	}
	if _, ok := e.byName[spec.Name]; ok {
		e.mu.Unlock()
		return nil, errorf(CodeDuplicateTargetGroupName, "A target group with the same name '%s' exists, but with different settings", spec.Name)
	}
	e.seq++
	seq := e.seq
	arn, lbARN := arns(e.cfg.Region, e.cfg.Account, seq, spec.Name, spec.LBType)
	// Reserve the name while HAProxy starts.
	e.byName[spec.Name] = nil
	e.mu.Unlock()

	g, err := newTargetGroup(ctx, e.cfg.Dir, spec, arn, lbARN, seq)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		delete(e.byName, spec.Name)
		return nil, err
	}
	if e.closed {
		delete(e.byName, spec.Name)
		_ = g.close()
		return nil, errors.New("elbv2emu: closed")
	}
	e.groups[arn], e.byName[spec.Name] = g, g
	return g, nil
}

// deleteTargetGroup deletes a group that is on no load balancer.
func (e *Emulator) deleteTargetGroup(arn string) error {
	e.mu.Lock()
	g := e.groups[arn]
	if g == nil {
		e.mu.Unlock()
		return nil
	}
	if g.isAttached() {
		e.mu.Unlock()
		return errorf(CodeResourceInUse, "Target group '%s' is currently in use by a listener or a rule", arn)
	}
	delete(e.groups, arn)
	delete(e.byName, g.spec.Name)
	e.mu.Unlock()
	if err := g.close(); err != nil {
		return fmt.Errorf("delete target group %s: %w", arn, err)
	}
	return nil
}

// group returns the target group of an ARN, or nil.
func (e *Emulator) group(arn string) *targetGroup {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.groups[arn]
}

// FrontendURL is the http:// URL where client traffic for the target group
// enters its HAProxy, or "" for an unknown ARN.
func (e *Emulator) FrontendURL(arn string) string {
	g := e.group(arn)
	if g == nil {
		return ""
	}
	return g.proc.FrontendURL(frontendName)
}

// SetAttached puts the target group on a load balancer (its targets are
// then checked and reported as usual) or takes it off (every target
// unused/Target.NotInUse). Unknown ARNs are ignored. HAProxy's frontend
// keeps routing either way.
func (e *Emulator) SetAttached(arn string, attached bool) {
	if g := e.group(arn); g != nil {
		g.setAttached(attached)
	}
}

// Calls returns how many API calls arrived, by Action, including refused
// ones (throttled, injected errors, bad signatures).
func (e *Emulator) Calls() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.calls)
}

// Throttled is how many calls were refused with Throttling: by the buckets
// or by an injected Throttling.
func (e *Emulator) Throttled() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.throttled
}

// InjectError makes the next n calls of action ("*" for any action) fail
// with code: Throttling (400, Rate exceeded), InternalFailure (500),
// ServiceUnavailable (503) or any other code (400). It replaces a pending
// injection for the same action; n <= 0 removes it. Injected failures take
// no tokens from the throttling buckets.
func (e *Emulator) InjectError(action, code string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n <= 0 {
		delete(e.injected, action)
		return
	}
	e.injected[action] = injection{code: code, n: n}
}

// shutdownGrace bounds how long Close waits for in-flight API calls.
const shutdownGrace = time.Second

// Close stops the API and every target group's HAProxy.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	groups := make([]*targetGroup, 0, len(e.groups))
	for _, g := range e.groups {
		groups = append(groups, g)
	}
	e.mu.Unlock()
	// Shutdown waits for in-flight calls. A connection a client dialled
	// but never sent a request on counts as active for net/http's first
	// five seconds (an SDK call cancelled while dialling leaves one): after
	// a short grace the rest are closed, which is no error of the emulator.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var err error
	if e.server.Shutdown(ctx) != nil {
		err = e.server.Close()
	}
	<-e.served
	for _, g := range groups {
		err = errors.Join(err, g.close())
	}
	if e.ownDir != "" {
		err = errors.Join(err, os.RemoveAll(e.ownDir))
	}
	return err
}

// admit counts a call and decides whether it is refused before it is
// handled: a pending injected error, then the throttling buckets.
func (e *Emulator) admit(action string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, key := range []string{action, "*"} {
		inj, ok := e.injected[key]
		if !ok {
			continue
		}
		if inj.n--; inj.n <= 0 {
			delete(e.injected, key)
		} else {
			e.injected[key] = inj
		}
		if inj.code == CodeThrottling {
			e.throttled++
			return errorf(CodeThrottling, messageRateExceeded)
		}
		return errorf(inj.code, "injected %s", inj.code)
	}
	if e.throttle != nil && !e.throttle.allow(action, time.Now()) {
		e.throttled++
		return errorf(CodeThrottling, messageRateExceeded)
	}
	return nil
}

// nextRequestID returns a request id shaped like AWS's (a UUID).
func (e *Emulator) nextRequestID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests++
	return fmt.Sprintf("%08x-e1b2-4000-8000-%012x", e.requests, e.requests)
}

// ServeHTTP serves the Query API: a form-encoded POST / (or GET with the
// form in the query string).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := e.nextRequestID()
	var body string
	switch r.Method {
	case http.MethodPost:
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, id, errorf(CodeMalformedQueryString, "cannot read the request body: %v", err))
			return
		}
		body = string(bytes.TrimSpace(b))
	case http.MethodGet:
		body = r.URL.RawQuery
	default:
		writeError(w, id, &apiError{Status: http.StatusMethodNotAllowed, Code: CodeInvalidAction, Message: "method " + r.Method + " is not allowed"})
		return
	}
	f, err := parseQuery(body)
	if err != nil {
		writeError(w, id, err)
		return
	}
	action := f["Action"]
	if action == "" {
		writeError(w, id, errorf(CodeMissingAction, "Missing Action"))
		return
	}
	e.mu.Lock()
	e.calls[action]++
	e.mu.Unlock()
	if err := checkScope(r.Header.Get("Authorization"), e.cfg.Region); err != nil {
		writeError(w, id, err)
		return
	}
	if v := f["Version"]; v != apiVersion {
		writeError(w, id, errorf(CodeInvalidAction, "Could not find operation %s for version %s", action, v))
		return
	}
	if err := e.admit(action); err != nil {
		writeError(w, id, err)
		return
	}
	result, err := e.handle(r.Context(), action, f)
	if err != nil {
		writeError(w, id, err)
		return
	}
	writeResult(w, action, id, result)
}
