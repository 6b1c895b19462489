package podapp

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zerodrop/zerodrop/internal/localcluster/appspec"
)

// Subcommands of the binary; without one it is the pause process.
const (
	CommandServe = "serve"
	CommandSleep = "sleep"
	CommandPause = "pause"
)

// Image is the name the real nodes' image of this binary is imported under:
// their sandbox (pause) image and the demo app's image. BinaryPath is the
// binary's path in it (the image's entrypoint).
const (
	Image      = "zerodrop.dev/podapp:local"
	BinaryPath = "/podapp"
	// Package is the binary's main package, relative to the module root.
	Package = "./internal/localcluster/podapp/cmd/podapp"
)

// Environment variables the app reads: the pod's name, and one per app
// annotation (set from metadata.annotations by the downward API; empty
// means unset).
const (
	EnvPodName = "ZERODROP_POD_NAME"
)

// AnnotationEnv maps every app annotation to the environment variable the
// app reads it from.
func AnnotationEnv() map[string]string {
	return map[string]string{
		appspec.AnnotationStartupDelay:  "ZERODROP_APP_STARTUP_DELAY",
		appspec.AnnotationLatency:       "ZERODROP_APP_LATENCY",
		appspec.AnnotationHealthPath:    "ZERODROP_APP_HEALTH_PATH",
		appspec.AnnotationShutdown:      "ZERODROP_APP_SHUTDOWN",
		appspec.AnnotationShutdownDelay: "ZERODROP_APP_SHUTDOWN_DELAY",
	}
}

// PreStopPath is the app's httpGet preStop hook: it records its start,
// waits the duration in the query parameter "sleep" (default 0) and
// records its end.
const PreStopPath = "/zerodrop/prestop"

// Step names one lifecycle step in the app's log.
type Step string

// The steps the app logs.
const (
	StepListening       Step = "listening"
	StepPreStopStarted  Step = "preStopStarted"
	StepPreStopFinished Step = "preStopFinished"
	StepSIGTERM         Step = "sigterm"
	StepExit            Step = "exit"
)

// Record is one line of the app's standard output.
type Record struct {
	Time time.Time `json:"time"`
	Step Step      `json:"step"`
	Pod  string    `json:"pod,omitempty"`
	// Code is the exit code (StepExit).
	Code int `json:"code,omitempty"`
	// Served, Health and Cut count requests answered (health path
	// excluded), health-path requests, and requests cut by the exit
	// (StepExit).
	Served int64 `json:"served,omitempty"`
	Health int64 `json:"health,omitempty"`
	Cut    int64 `json:"cut,omitempty"`
}

// ParseRecord parses one line of the app's output; ok is false for a line
// that is not a record.
func ParseRecord(line []byte) (Record, bool) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil || r.Step == "" || r.Time.IsZero() {
		return Record{}, false
	}
	return r, true
}

// Main runs the binary with args (os.Args[1:]) and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := CommandPause
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case CommandPause:
		return pause()
	case CommandSleep:
		return sleep(args, stderr)
	case CommandServe:
		return serve(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "podapp: unknown command %q (want %s, %s or %s)\n", cmd, CommandServe, CommandSleep, CommandPause)
	return 2
}

// pause waits for SIGTERM or SIGINT, as the pause container does.
func pause() int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return 0
}

// sleep waits for the given seconds (or Go duration).
func sleep(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "podapp sleep: want one argument, seconds or a Go duration")
		return 2
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		secs, serr := strconv.ParseFloat(args[0], 64)
		if serr != nil {
			fmt.Fprintf(stderr, "podapp sleep: %q is neither seconds nor a duration\n", args[0])
			return 2
		}
		d = time.Duration(secs * float64(time.Second))
	}
	time.Sleep(d)
	return 0
}

// serve runs the app until SIGTERM (or SIGKILL).
func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(CommandServe, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ports := fs.String("ports", "8080", "comma-separated TCP ports to listen on (every address)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ann := map[string]string{}
	for key, env := range AnnotationEnv() {
		if v := os.Getenv(env); v != "" {
			ann[key] = v
		}
	}
	spec, err := appspec.Parse(ann)
	if err != nil {
		fmt.Fprintln(stderr, "podapp:", err)
		return 1
	}
	a := &app{spec: spec, pod: os.Getenv(EnvPodName), out: json.NewEncoder(stdout), killed: make(chan struct{})}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	return a.run(strings.Split(*ports, ","), term, stderr)
}

// app is one container's server.
type app struct {
	spec appspec.Spec
	pod  string

	outMu sync.Mutex
	out   *json.Encoder

	srv      *http.Server
	draining atomic.Bool
	killed   chan struct{}
	killOnce sync.Once
	served   atomic.Int64
	health   atomic.Int64
	cut      atomic.Int64
	inFlight sync.WaitGroup
}

func (a *app) record(r Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Pod = a.pod
	a.outMu.Lock()
	defer a.outMu.Unlock()
	_ = a.out.Encode(r)
}

func (a *app) run(ports []string, term <-chan os.Signal, stderr io.Writer) int {
	select {
	case <-time.After(a.spec.StartupDelay):
	case <-term:
		a.record(Record{Step: StepSIGTERM})
		return a.exit(128 + int(syscall.SIGTERM))
	}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serveHTTP), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	var listeners []net.Listener
	for _, p := range ports {
		l, err := net.Listen("tcp", ":"+strings.TrimSpace(p))
		if err != nil {
			fmt.Fprintln(stderr, "podapp:", err)
			return a.exit(1)
		}
		listeners = append(listeners, l)
	}
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Go(func() { _ = a.srv.Serve(l) })
	}
	a.record(Record{Step: StepListening})
	<-term
	a.record(Record{Step: StepSIGTERM})
	if a.spec.Shutdown == appspec.ShutdownGraceful {
		a.draining.Store(true)
	}
	time.Sleep(a.spec.ShutdownDelay)
	code := 128 + int(syscall.SIGTERM)
	if a.spec.Shutdown == appspec.ShutdownGraceful {
		if err := a.srv.Shutdown(context.Background()); err == nil {
			code = 0
		}
	} else {
		a.killOnce.Do(func() { close(a.killed) })
		_ = a.srv.Close()
	}
	wg.Wait()
	// Handlers of cut requests count themselves before they return.
	done := make(chan struct{})
	go func() { a.inFlight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	return a.exit(code)
}

// exit logs the exit with the counts and returns code.
func (a *app) exit(code int) int {
	a.record(Record{Step: StepExit, Code: code, Served: a.served.Load(), Health: a.health.Load(), Cut: a.cut.Load()})
	return code
}

func (a *app) serveHTTP(w http.ResponseWriter, r *http.Request) {
	a.inFlight.Add(1)
	defer a.inFlight.Done()
	if r.URL.Path == PreStopPath {
		a.preStop(w, r)
		return
	}
	if a.spec.Latency > 0 {
		select {
		case <-time.After(a.spec.Latency):
		case <-a.killed:
			a.cutRequest(w, r)
			return
		case <-r.Context().Done():
			select {
			case <-a.killed:
				a.cutRequest(w, r)
			default:
			}
			return
		}
	}
	select {
	case <-a.killed:
		a.cutRequest(w, r)
		return
	default:
	}
	w.Header().Set(appspec.HeaderPod, a.pod)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Path == a.spec.HealthPath {
		a.health.Add(1)
		if a.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "draining pod=%s\n", a.pod)
			return
		}
		_, _ = fmt.Fprintf(w, "ok pod=%s\n", a.pod)
		return
	}
	a.served.Add(1)
	_, _ = fmt.Fprintf(w, "pod=%s path=%s\n", a.pod, r.URL.Path)
}

// preStop is the httpGet preStop hook (see PreStopPath).
func (a *app) preStop(w http.ResponseWriter, r *http.Request) {
	a.record(Record{Step: StepPreStopStarted})
	var d time.Duration
	if s := r.URL.Query().Get("sleep"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			http.Error(w, "sleep: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
	a.record(Record{Step: StepPreStopFinished})
	w.WriteHeader(http.StatusOK)
}

// cutRequest ends a request without a response, as a dying process does.
func (a *app) cutRequest(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != a.spec.HealthPath {
		a.cut.Add(1)
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}
