// Package haproxy implements loadbalancer.Instance for one HAProxy process
// (2.6 or later) through its Runtime API, on a unix socket or a TCP address.
//
// # Which servers are managed
//
// zerodrop adds one dynamic server per target, named ServerNamePrefix plus
// the target's address (see ServerName). Only servers with that prefix are
// reported or touched; static servers from the configuration are left alone.
// Dynamic servers vanish when HAProxy reloads or restarts; BackendStatus's
// Generation (the worker's pid and start time, from "show info") changes
// then, so the caller can re-register.
//
// # Round trips
//
// Every call opens one connection, switches it to interactive ("prompt")
// mode and pipelines its commands, one per line; each response ends with the
// prompt, which frames responses unambiguously (in non-interactive mode some
// commands end their response with an empty line and others do not). Status
// is one round trip (show info, show servers state, show stat); Drain and
// Remove are one round trip for any number of targets; Register is two on the
// same connection (it must know which targets already exist). A connection is
// not kept between calls on purpose: after a reload the old worker keeps
// serving an open CLI connection, which would hide the reload.
//
// # Registration
//
// HAProxy 2.6 puts a dynamic server leaving maintenance straight into UP,
// even with checks enabled, which would send it traffic before any check
// passed. Register therefore adds the server (in maintenance), enables its
// health checks, moves it to drain (out of maintenance, still no traffic),
// forces its health down and only then sets it ready: it starts DOWN and
// receives traffic once its checks pass rise times.
//
// # States
//
// See StateOf for how HAProxy's admin state, operational state, check
// history and current sessions map to loadbalancer.State.
//
// # Removal
//
// "del server" requires the server in maintenance without sessions or idle
// pooled connections. Remove sets maintenance, shuts the server's sessions
// down and deletes it, retrying the deletion (after shutting sessions down
// again) with a short backoff until the call's timeout, because idle
// connections are released asynchronously. Remove is meant for drained
// targets: sessions still open are cut.
package haproxy
