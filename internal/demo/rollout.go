package demo

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Bounds of the rollout steps.
const (
	rolloutTimeout = 3 * time.Minute
	evictRetry     = 250 * time.Millisecond
)

// patchDeployment applies a merge patch to mode m's Deployment.
func (e *Environment) patchDeployment(ctx context.Context, m Mode, patch string) error {
	obj := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace(), Name: AppName}}
	if err := e.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("patching deployment %s/%s: %w", m.Namespace(), AppName, err)
	}
	return nil
}

// RollingUpdate changes the pod template's revision annotation, which
// replaces every pod, and waits until mode m is settled.
func (e *Environment) RollingUpdate(ctx context.Context, m Mode, revision int) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, AnnotationRevision, strconv.Itoa(revision))
	if err := e.patchDeployment(ctx, m, patch); err != nil {
		return err
	}
	return e.waitSettled(ctx, m, rolloutTimeout)
}

// Scale sets mode m's replicas and waits until it is settled.
func (e *Environment) Scale(ctx context.Context, m Mode, replicas int32) error {
	if err := e.patchDeployment(ctx, m, fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)); err != nil {
		return err
	}
	return e.waitSettled(ctx, m, rolloutTimeout)
}

// SetUnschedulable cordons (true) or uncordons (false) a node.
func (e *Environment) SetUnschedulable(ctx context.Context, node string, unschedulable bool) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, unschedulable)
	if err := e.Client.Patch(ctx, n, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("setting node %s unschedulable=%t: %w", node, unschedulable, err)
	}
	return nil
}

// DrainNode evicts mode m's pods on node through the eviction API, as
// `kubectl drain` does: every eviction in parallel, each retried while the
// PodDisruptionBudget refuses it (429), then waits until m is settled. The
// node must be cordoned already.
func (e *Environment) DrainNode(ctx context.Context, m Mode, node string) error {
	pods := &corev1.PodList{}
	if err := e.Client.List(ctx, pods, client.InNamespace(m.Namespace()), client.MatchingFields{"spec.nodeName": node}); err != nil {
		return fmt.Errorf("listing pods on %s: %w", node, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(pods.Items))
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		wg.Go(func() {
			if err := e.evict(ctx, p.Namespace, p.Name); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return e.waitSettled(ctx, m, rolloutTimeout)
}

// evict evicts one pod, retrying while the disruption budget forbids it.
func (e *Environment) evict(ctx context.Context, ns, name string) error {
	ctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	defer cancel()
	for {
		err := e.Cluster.Client().PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case apierrors.IsTooManyRequests(err):
		default:
			return fmt.Errorf("evicting pod %s/%s: %w", ns, name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("evicting pod %s/%s: the disruption budget never allowed it: %w", ns, name, ctx.Err())
		case <-time.After(evictRetry):
		}
	}
}

// DrainTarget picks the node to drain: the one where the fewest modes have
// no pod, then the one with the most pods, then the lowest name.
func (e *Environment) DrainTarget(ctx context.Context) (string, error) {
	perNode := map[string]map[Mode]int{}
	for _, n := range e.Cluster.NodeNames() {
		perNode[n] = map[Mode]int{}
	}
	for _, m := range e.modes {
		pods := &corev1.PodList{}
		if err := e.Client.List(ctx, pods, client.InNamespace(m.Namespace())); err != nil {
			return "", fmt.Errorf("listing pods: %w", err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && perNode[p.Spec.NodeName] != nil {
				perNode[p.Spec.NodeName][m]++
			}
		}
	}
	return pickDrainNode(perNode), nil
}

// pickDrainNode chooses among nodes by pods per mode (see DrainTarget).
func pickDrainNode(perNode map[string]map[Mode]int) string {
	names := make([]string, 0, len(perNode))
	for n := range perNode {
		names = append(names, n)
	}
	score := func(n string) (covered, total int) {
		for _, c := range perNode[n] {
			total += c
			if c > 0 {
				covered++
			}
		}
		return covered, total
	}
	sort.Slice(names, func(i, j int) bool {
		ci, ti := score(names[i])
		cj, tj := score(names[j])
		if ci != cj {
			return ci > cj
		}
		if ti != tj {
			return ti > tj
		}
		return names[i] < names[j]
	})
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
