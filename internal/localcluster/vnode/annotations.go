package vnode

import "github.com/zerodrop/zerodrop/internal/localcluster/appspec"

// The app's annotations and their parser live in package appspec, which the
// real nodes' app (package podapp) shares; these names are vnode's API.
const (
	AnnotationStartupDelay  = appspec.AnnotationStartupDelay
	AnnotationLatency       = appspec.AnnotationLatency
	AnnotationHealthPath    = appspec.AnnotationHealthPath
	AnnotationShutdown      = appspec.AnnotationShutdown
	AnnotationShutdownDelay = appspec.AnnotationShutdownDelay
	// DefaultHealthPath is the health path when AnnotationHealthPath is
	// unset.
	DefaultHealthPath = appspec.DefaultHealthPath
	// ShutdownImmediate and ShutdownGraceful are the app's reactions to
	// SIGTERM (see appspec).
	ShutdownImmediate = appspec.ShutdownImmediate
	ShutdownGraceful  = appspec.ShutdownGraceful
)

// ShutdownMode is how the app reacts to SIGTERM.
type ShutdownMode = appspec.ShutdownMode

// AppSpec is the behaviour of a pod's app.
type AppSpec = appspec.Spec

// ParseAppSpec reads the app annotations of a pod (appspec.Parse).
func ParseAppSpec(annotations map[string]string) (AppSpec, error) { return appspec.Parse(annotations) }
