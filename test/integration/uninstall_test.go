package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/cli/uninstall"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// TestUninstall_releasesEverythingWhileTheControllerRuns proves the
// documented uninstall path: with the controller running, `zerodrop
// uninstall` deletes the webhook configuration and every binding, and the
// controller finalizes them: gates released (even one whose target never
// passed), targets removed from HAProxy, no binding left to hold a
// namespace in Terminating.
func TestUninstall_releasesEverythingWhileTheControllerRuns(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "bye", "/healthz")
	good, stuck := startTarget(t, "127.44.28.1"), startTarget(t, "127.44.28.2")
	good.SetHealthy(true)
	pg, ps := f.startPod(t, good), f.startPod(t, stuck)
	f.waitGate(t, pg.Name)
	f.waitState(t, 0, stuck, loadbalancer.StateInitial)

	rep, err := uninstall.Run(context.Background(), e.c, uninstall.Options{Timeout: 60 * time.Second, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.WebhookDeleted || rep.Deleted != 1 || len(rep.Stuck) != 0 || len(rep.Forced) != 0 {
		t.Errorf("report %+v; want the webhook deleted, 1 binding deleted, none stuck or forced", rep)
	}
	f.waitGate(t, ps.Name)
	for _, tg := range []*conformance.Server{good, stuck} {
		if st := f.state(t, 0, tg).State; st != loadbalancer.StateAbsent {
			t.Errorf("target %s is %s after uninstall; want Absent", tg.Addr(), st)
		}
	}
	wh := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Name: webhook.ConfigurationName}, wh); !apierrors.IsNotFound(err) {
		t.Errorf("webhook configuration after uninstall: %v; want not found", err)
	}
}

// TestUninstall_withoutAControllerNamesTheStuckBindingsAndForceFreesThem
// proves that when the controller is already gone, uninstall says which
// bindings are stuck (their finalizer would hold the namespace in
// Terminating) and --force strips it.
func TestUninstall_withoutAControllerNamesTheStuckBindingsAndForceFreesThem(t *testing.T) {
	e := startEnv(t, controllerInstances(t))
	f := newFixture(t, e, "gone", "/healthz")
	tg := startTarget(t, "127.44.29.1")
	tg.SetHealthy(true)
	p := f.startPod(t, tg)
	f.waitGate(t, p.Name)
	e.stopController()

	rep, err := uninstall.Run(context.Background(), e.c, uninstall.Options{Timeout: 2 * time.Second, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Stuck) != 1 || rep.Stuck[0] != "gone/web" {
		t.Fatalf("report %+v; want gone/web stuck", rep)
	}
	rep, err = uninstall.Run(context.Background(), e.c, uninstall.Options{Timeout: 2 * time.Second, Poll: 100 * time.Millisecond, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Forced) != 1 || rep.Forced[0] != "gone/web" {
		t.Errorf("report %+v; want gone/web forced", rep)
	}
	e.eventually("binding gone", 30*time.Second, func() error {
		b := &v1alpha1.TargetBinding{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "gone", Name: "web"}, b); !apierrors.IsNotFound(err) {
			return fmt.Errorf("binding: %v, finalizers %v", err, b.Finalizers)
		}
		return nil
	})
}
