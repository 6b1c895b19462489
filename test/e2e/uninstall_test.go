package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/zerodrop/zerodrop/internal/cli/uninstall"
	"github.com/zerodrop/zerodrop/internal/demo"
)

// TestUninstall_namespacesDoNotStickInTerminating proves the uninstall path
// in a cluster with a namespace controller: a namespace deleted while the
// controller is down stays in Terminating (its TargetBinding's finalizer
// waits for a controller), and `zerodrop uninstall` with the controller
// back finalizes every binding, so that namespace and the others, deleted
// afterwards, are gone, and HAProxy holds no zerodrop server in any of the
// demo's backends.
func TestUninstall_namespacesDoNotStickInTerminating(t *testing.T) {
	requirements(t)
	s, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	s.Replicas = 2
	env := setup(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := env.Cluster.Client()
	gone := func(ns string, within time.Duration) error {
		return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, within, true, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	}

	env.StopController()
	stuck := demo.ModeNone.Namespace()
	if err := cs.CoreV1().Namespaces().Delete(ctx, stuck, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := gone(stuck, 15*time.Second); err == nil {
		t.Fatalf("namespace %s was deleted with no controller to finalize its binding; the finalizer should hold it", stuck)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, stuck, metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("namespace %s: %v, phase %v; want Terminating", stuck, err, ns.Status.Phase)
	}
	t.Logf("with the controller down, namespace %s stays %s", stuck, ns.Status.Phase)

	if err := env.StartController(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	rep, err := uninstall.Run(ctx, env.Client, uninstall.Options{Timeout: 2 * time.Minute, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("zerodrop uninstall: %+v in %s", rep, time.Since(began).Round(time.Millisecond))
	if len(rep.Stuck) != 0 || len(rep.Forced) != 0 || rep.Deleted < 2 {
		t.Errorf("uninstall report %+v; want every binding finalized by the controller", rep)
	}
	for _, m := range demo.Modes() {
		if m != demo.ModeNone {
			if err := cs.CoreV1().Namespaces().Delete(ctx, m.Namespace(), metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range demo.Modes() {
		if err := gone(m.Namespace(), 2*time.Minute); err != nil {
			t.Errorf("namespace %s not gone within 2m after uninstall: %v", m.Namespace(), err)
		}
		st, err := env.LoadBalancer().Status(ctx, m.Backend())
		if err != nil {
			t.Errorf("HAProxy status of backend %s: %v", m.Backend(), err)
			continue
		}
		if len(st.Targets) != 0 {
			t.Errorf("backend %s still holds zerodrop servers %v after uninstall", m.Backend(), fmt.Sprint(st.Targets))
		}
	}
}
