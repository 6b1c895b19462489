// Package verify measures what a rollout costs the users of a service: it
// sends HTTP requests at a constant rate in an open model (a request leaves on
// schedule whether or not earlier ones returned, so a stalled backend shows up
// as errors and latency, never as fewer requests), classifies every failure
// (package classify), runs a step under load (for example
// `kubectl rollout restart`), follows the pods of a Deployment and zerodrop's
// TargetBindings through the Kubernetes API (package kube), and puts it all on
// one timeline (package report).
//
// The load engine is vegeta's library with a pacer of our own (hit k is due at
// k/rate, the hit count can be extended while the load runs, and the run stops
// rather than silently sending at a lower rate when the machine falls behind)
// and a transport that applies the per-request timeout and keeps each
// failure's typed error for the classifier.
//
// A caller such as zerodrop demo builds a Run with New, injects its own
// timeline events with Run.Record while Execute runs, and renders the Report.
package verify
