// Package appspec is the behaviour of the local cluster's demo app, set by
// pod annotations: shared by the virtual node's in-process app (package
// vnode) and the same app as a real process on real nodes (package
// podapp).
package appspec

import (
	"fmt"
	"strings"
	"time"
)

// Pod annotations that configure the app of each container of a pod.
const (
	// AnnotationStartupDelay is a Go duration ("2s") the app waits after the
	// container starts before it listens; until then connections are refused.
	AnnotationStartupDelay = "app.zerodrop.dev/startup-delay"
	// AnnotationLatency is a Go duration added to every request.
	AnnotationLatency = "app.zerodrop.dev/latency"
	// AnnotationHealthPath is the path of the app's health endpoint
	// (default DefaultHealthPath): 200 when started and not shutting down,
	// 503 while draining in graceful shutdown mode.
	AnnotationHealthPath = "app.zerodrop.dev/health-path"
	// AnnotationShutdown is the app's reaction to SIGTERM: ShutdownImmediate
	// (the default) or ShutdownGraceful.
	AnnotationShutdown = "app.zerodrop.dev/shutdown"
	// AnnotationShutdownDelay is a Go duration the app keeps serving after
	// SIGTERM (its health endpoint answers 503 in graceful mode) before it
	// shuts down per AnnotationShutdown.
	AnnotationShutdownDelay = "app.zerodrop.dev/shutdown-delay"
)

// HeaderPod is the response header in which the app names its pod.
const HeaderPod = "X-Zerodrop-Pod"

// DefaultHealthPath is the health path when AnnotationHealthPath is unset.
const DefaultHealthPath = "/healthz"

// ShutdownMode is how the app reacts to SIGTERM.
type ShutdownMode string

const (
	// ShutdownImmediate exits at once on SIGTERM: listeners and every
	// connection are closed, in-flight requests are cut. Most apps behave
	// like this unless they handle SIGTERM.
	ShutdownImmediate ShutdownMode = "immediate"
	// ShutdownGraceful stops accepting connections on SIGTERM, finishes
	// in-flight requests, then exits.
	ShutdownGraceful ShutdownMode = "graceful"
)

// Spec is the behaviour of a pod's app.
type Spec struct {
	StartupDelay  time.Duration
	Latency       time.Duration
	HealthPath    string
	Shutdown      ShutdownMode
	ShutdownDelay time.Duration
}

// maxAppDuration bounds every duration annotation, so that a typo cannot
// make a test hang for hours.
const maxAppDuration = time.Hour

// Parse reads the app annotations of a pod. Missing annotations take
// their defaults; a malformed one gives an error that names it.
func Parse(annotations map[string]string) (Spec, error) {
	spec := Spec{HealthPath: DefaultHealthPath, Shutdown: ShutdownImmediate}
	for key, dst := range map[string]*time.Duration{
		AnnotationStartupDelay:  &spec.StartupDelay,
		AnnotationLatency:       &spec.Latency,
		AnnotationShutdownDelay: &spec.ShutdownDelay,
	} {
		v, ok := annotations[key]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return Spec{}, fmt.Errorf("annotation %s: %q is not a duration such as \"2s\": %w", key, v, err)
		}
		if d < 0 || d > maxAppDuration {
			return Spec{}, fmt.Errorf("annotation %s: %s is outside [0, %s]", key, d, maxAppDuration)
		}
		*dst = d
	}
	if v, ok := annotations[AnnotationHealthPath]; ok {
		if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " ?#") {
			return Spec{}, fmt.Errorf("annotation %s: %q is not an absolute path without query", AnnotationHealthPath, v)
		}
		spec.HealthPath = v
	}
	if v, ok := annotations[AnnotationShutdown]; ok {
		switch m := ShutdownMode(strings.TrimSpace(v)); m {
		case ShutdownImmediate, ShutdownGraceful:
			spec.Shutdown = m
		default:
			return Spec{}, fmt.Errorf("annotation %s: %q is neither %q nor %q", AnnotationShutdown, v, ShutdownImmediate, ShutdownGraceful)
		}
	}
	return spec, nil
}
