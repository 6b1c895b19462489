// Package elbv2emu is an AWS Elastic Load Balancing v2 (ALB/NLB) emulator for
// tests and the demo's test bed: it speaks the real Query API (the awsquery
// protocol, version 2015-12-01) on a loopback address, so the unmodified
// aws-sdk-go-v2 elasticloadbalancingv2 client talks to it through its
// BaseEndpoint, and it decides target health with a real HAProxy that health
// checks the real target addresses.
//
// # Model
//
// Every target group is one HAProxy process of its own (package
// internal/loadbalancer/haproxy/process) with one backend, whose "option
// httpchk", "timeout check" and per-server inter/rise/fall come from the
// group's health-check path, timeout, interval and thresholds, and one HTTP
// frontend on a 127.x address (Emulator.FrontendURL): client traffic sent
// there is what the emulated load balancer routes. An ALB's frontend is
// HTTP, balancing every request; an NLB's is TCP, so a client connection
// stays on one target for its life, as on a real NLB, where an established
// connection to a deregistered target lives on unless connection
// termination is enabled. A process per group means
// creating or deleting a group never reloads anybody else's HAProxy, so no
// other group's runtime servers or health history are lost.
//
// Every registered target (keyed by Id and Port, as in AWS) is a dynamic
// HAProxy server. Target health follows AWS's documented semantics:
//
//   - initial/Elb.RegistrationInProgress for Config.RegistrationLag; only
//     then is the server added to HAProxy, so checks count from there;
//   - initial/Elb.InitialHealthChecking until HAProxy's rise is met, then
//     healthy (HAProxy routes to it from that moment);
//   - unhealthy when the last check failed (or, for a target that has been
//     healthy, once HAProxy's fall is met), with the reason from HAProxy's
//     check status: L4TOUT and L7TOUT are Target.Timeout, L7STS is
//     Target.ResponseCodeMismatch, anything else Target.FailedHealthChecks;
//   - draining/Target.DeregistrationInProgress for the whole deregistration
//     delay after DeregisterTargets, even when idle (ALB's behaviour): the
//     server is in HAProxy's drain state, so it gets no new requests and
//     in-flight ones continue; at the end of the delay its sessions are shut
//     (ALB always, NLB only with ConnectionTermination) and the target is
//     gone: unused/Target.NotRegistered when listed explicitly, absent
//     otherwise. Registering a draining target cancels the drain;
//   - unused/Target.NotInUse for every target of a group that is on no load
//     balancer (TargetGroupSpec.Attached false, or SetAttached).
//
// A target that was never healthy becomes unhealthy at its first failed
// check: HAProxy does not count consecutive failures of a server that is
// down, so UnhealthyThreshold applies only to targets that were healthy.
//
// # Faults
//
// Config.Throttle enforces AWS's documented token buckets, InjectError makes
// the next calls of an action fail, and Calls and Throttled count what
// arrived. Requests must carry a SigV4 Authorization header whose credential
// scope names the configured region and the service "elasticloadbalancing";
// the signature itself is not checked.
//
// The emulator accepts only IPv4 loopback targets (its "VPC" is
// 127.0.0.0/8), so no health check or client request leaves the machine.
package elbv2emu
