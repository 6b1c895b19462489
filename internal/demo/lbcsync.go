package demo

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// syncPoll is how often the syncer looks at the pods: the AWS Load Balancer
// Controller reacts to endpoint changes within a moment, as this does.
const syncPoll = 100 * time.Millisecond

// startSyncer starts the AWS Load Balancer Controller's stand-in for mode
// m: a plain endpoint sync into the mode's target group, through the AWS
// SDK. Like the controller's TargetGroupBinding reconciler
// (pkg/targetgroupbinding/resource_manager.go), it registers the pods whose
// containers are ready (for pods held back by a readiness gate the
// controller counts containers, not the gate) and that are not
// terminating, and deregisters every other target it registered. It knows
// nothing of drains: zerodrop, observing, holds the pods' SIGTERM.
func (e *Environment) startSyncer(ctx context.Context, m Mode) error {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(e.ELBv2.Region()))
	if err != nil {
		return fmt.Errorf("syncer: loading AWS config: %w", err)
	}
	api := elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.BaseEndpoint = aws.String(e.ELBv2.Endpoint()) })
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	s := &syncer{api: api, c: e.Client, ns: m.Namespace(), arn: e.targetGroups[m], registered: map[netip.AddrPort]bool{}, progress: e.progress}
	go func() {
		defer close(done)
		s.run(sctx)
	}()
	e.closers = append(e.closers, func() error { cancel(); <-done; return nil })
	e.progress("mode %-14s targets registered by a plain syncer (the AWS Load Balancer Controller's stand-in)", m)
	return nil
}

// syncer is one plain endpoint sync into one target group.
type syncer struct {
	api        *elbv2.Client
	c          client.Client
	ns, arn    string
	registered map[netip.AddrPort]bool
	progress   func(string, ...any)
}

func (s *syncer) run(ctx context.Context) {
	tick := time.NewTicker(syncPoll)
	defer tick.Stop()
	for {
		if err := s.sync(ctx); err != nil && ctx.Err() == nil {
			s.progress("syncer %s: %v", s.ns, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sync registers the wanted pods and deregisters the rest, once.
func (s *syncer) sync(ctx context.Context) error {
	var pods corev1.PodList
	if err := s.c.List(ctx, &pods, client.InNamespace(s.ns), client.MatchingLabels{labelApp: AppName}); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	want := map[netip.AddrPort]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || p.DeletionTimestamp != nil || !containersReady(p) {
			continue
		}
		want[netip.AddrPortFrom(ip, ContainerPort)] = true
	}
	var add, del []elbv2types.TargetDescription
	for a := range want {
		if !s.registered[a] {
			add = append(add, target(a))
		}
	}
	for a := range s.registered {
		if !want[a] {
			del = append(del, target(a))
		}
	}
	if len(add) > 0 {
		if _, err := s.api.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: &s.arn, Targets: add}); err != nil {
			return fmt.Errorf("registering %d targets: %w", len(add), err)
		}
		for _, t := range add {
			s.registered[addrOf(t)] = true
		}
	}
	if len(del) > 0 {
		if _, err := s.api.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: &s.arn, Targets: del}); err != nil {
			return fmt.Errorf("deregistering %d targets: %w", len(del), err)
		}
		for _, t := range del {
			delete(s.registered, addrOf(t))
		}
	}
	return nil
}

func containersReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.ContainersReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func target(a netip.AddrPort) elbv2types.TargetDescription {
	return elbv2types.TargetDescription{Id: aws.String(a.Addr().String()), Port: aws.Int32(int32(a.Port()))}
}

func addrOf(t elbv2types.TargetDescription) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(aws.ToString(t.Id)), uint16(aws.ToInt32(t.Port)))
}
