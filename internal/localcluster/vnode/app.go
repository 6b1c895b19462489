package vnode

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerodrop/zerodrop/internal/localcluster/appspec"
)

// Exit codes of an app, as a container runtime reports them.
const (
	exitCodeClean   = 0
	exitCodeError   = 1
	exitCodeSIGKILL = 128 + 9
	exitCodeSIGTERM = 128 + 15
)

// Header names the app sets on every response.
const (
	HeaderPod       = appspec.HeaderPod
	HeaderContainer = "X-Zerodrop-Container"
)

// counters are a pod's request counts, shared by its apps across restarts.
type counters struct {
	served   atomic.Int64 // requests answered, health path excluded
	health   atomic.Int64 // health-path requests answered
	cut      atomic.Int64
	inFlight atomic.Int64
}

// app is the process of one container: an HTTP server on the pod address
// and each of the container's TCP ports.
type app struct {
	pod, container string
	spec           AppSpec
	addrs          []string
	counts         *counters

	srv       *http.Server
	listening atomic.Bool
	draining  atomic.Bool
	killed    chan struct{} // closed on kill or immediate close: cuts in-flight requests
	killOnce  sync.Once
	termOnce  sync.Once
	term      chan struct{}
	done      chan struct{} // closed when the app has exited
	exitCode  atomic.Int32
	exitErr   atomic.Value // string
	inFlight  atomic.Int64
}

// startApp starts the app in the background: it waits the startup delay,
// then listens on every address; a failure to listen makes it exit with
// code 1.
func startApp(pod, container string, spec AppSpec, addrs []string, counts *counters) *app {
	a := &app{
		pod: pod, container: container, spec: spec, addrs: addrs, counts: counts,
		killed: make(chan struct{}), term: make(chan struct{}), done: make(chan struct{}),
	}
	a.srv = &http.Server{
		Handler:           http.HandlerFunc(a.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go a.run()
	return a
}

func (a *app) run() {
	defer close(a.done)
	select {
	case <-time.After(a.spec.StartupDelay):
	case <-a.killed:
		a.exitCode.Store(exitCodeSIGKILL)
		return
	case <-a.term:
		a.exitCode.Store(exitCodeSIGTERM)
		return
	}
	var listeners []net.Listener
	for _, addr := range a.addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			a.exitErr.Store(fmt.Sprintf("listening on %s: %v", addr, err))
			a.exitCode.Store(exitCodeError)
			return
		}
		listeners = append(listeners, l)
	}
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Go(func() { _ = a.srv.Serve(l) })
	}
	a.listening.Store(true)

	select {
	case <-a.killed:
		a.exitCode.Store(exitCodeSIGKILL)
		a.hardClose()
	case <-a.term:
		a.shutdown()
	}
	wg.Wait()
	a.listening.Store(false)
}

// shutdown reacts to SIGTERM per the shutdown mode.
func (a *app) shutdown() {
	if a.spec.Shutdown == ShutdownGraceful {
		a.draining.Store(true)
	}
	select {
	case <-time.After(a.spec.ShutdownDelay):
	case <-a.killed:
		a.exitCode.Store(exitCodeSIGKILL)
		a.hardClose()
		return
	}
	if a.spec.Shutdown == ShutdownImmediate {
		a.exitCode.Store(exitCodeSIGTERM)
		a.hardClose()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-a.killed:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.exitCode.Store(exitCodeSIGKILL)
		a.hardClose()
		return
	}
	a.exitCode.Store(exitCodeClean)
}

// hardClose closes the listeners and every connection and cuts in-flight
// requests.
func (a *app) hardClose() {
	a.killOnce.Do(func() { close(a.killed) })
	_ = a.srv.Close()
}

// sigterm delivers "SIGTERM" to the app.
func (a *app) sigterm() { a.termOnce.Do(func() { close(a.term) }) }

// sigkill delivers "SIGKILL" to the app.
func (a *app) sigkill() { a.killOnce.Do(func() { close(a.killed) }) }

func (a *app) serveHTTP(w http.ResponseWriter, r *http.Request) {
	a.inFlight.Add(1)
	a.counts.inFlight.Add(1)
	defer func() {
		a.inFlight.Add(-1)
		a.counts.inFlight.Add(-1)
	}()
	if a.spec.Latency > 0 {
		select {
		case <-time.After(a.spec.Latency):
		case <-a.killed:
			a.cut(w, r)
			return
		case <-r.Context().Done():
			// A kill closes the connections too, so both cases can be
			// ready: a request the kill ended is still a cut request.
			select {
			case <-a.killed:
				a.cut(w, r)
			default:
			}
			return
		}
	}
	select {
	case <-a.killed:
		a.cut(w, r)
		return
	default:
	}
	w.Header().Set(HeaderPod, a.pod)
	w.Header().Set(HeaderContainer, a.container)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Path == a.spec.HealthPath {
		if a.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "draining pod=%s\n", a.pod)
			a.counts.health.Add(1)
			return
		}
		_, _ = fmt.Fprintf(w, "ok pod=%s\n", a.pod)
		a.counts.health.Add(1)
		return
	}
	_, _ = fmt.Fprintf(w, "pod=%s container=%s path=%s\n", a.pod, a.container, r.URL.Path)
	a.counts.served.Add(1)
}

// cut ends a request of a killed app without a response: the connection is
// closed, as the kernel does when a process dies.
func (a *app) cut(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != a.spec.HealthPath { // probes are not requests
		a.counts.cut.Add(1)
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}
