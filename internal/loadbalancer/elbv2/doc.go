// Package elbv2 implements loadbalancer.Instance for AWS Elastic Load
// Balancing v2 target groups of target type ip (ALB and NLB), through the
// AWS SDK for Go v2.
//
// # Sharing
//
// AWS budgets its ELB API per account and region (40 calls burst and 10 per
// second shared by every call; Describe* 40/10; RegisterTargets and
// DeregisterTargets 20/4), and every tool in the account draws on it. A
// Registry therefore hands out Instances that share, per region and
// endpoint, one API client, one client-side token bucket per kind of call
// (Budget), one adaptive retryer (so a Throttling answer slows every caller
// down) and one Poller. The provider factory (internal/loadbalancer/provider)
// owns the Registry; an Instance's Close releases its share.
//
// # Backends
//
// A backend is a target group of the instance's region, by ARN or by name
// (ValidateBackend). Names are resolved once with DescribeTargetGroups and
// kept until AWS says the target group is gone. The health-check settings
// are read in the background, 20 target groups per DescribeTargetGroups,
// and the deregistration delay (DescribeTargetGroupAttributes) at the first
// deregistration, each again when its copy is older than InfoTTL.
//
// # Polling
//
// Status never calls AWS once the poller has a view of the target group: it
// answers from the poller's latest view, and fetches synchronously (within
// the budget) only the first time. The poller describes a target group (one
// DescribeTargetHealth) only while it has targets on the move: after
// Register or a deregistration, while a target is initial, draining or
// unavailable, and while a caller's Expect is unsettled; each of those
// expires after ExpectFor. When the target group's membership is known from
// a full describe, it lists only the moving targets that are due;
// otherwise it describes them all. A target registered here is not
// described before it can have passed its checks ((healthy threshold - 1)
// × check interval, from DescribeTargetGroups), and a draining target whose
// drain start is known not before its deregistration delay has passed.
// Settled target groups are described in full once per Resync, at a phase
// spread evenly by their ARN's hash.
//
// # States
//
// See StateOf for how AWS's target health maps to loadbalancer.State. AWS
// reports no session counts: Sessions is always loadbalancer.SessionsUnknown,
// and a drained target is one AWS no longer lists.
package elbv2
