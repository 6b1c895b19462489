package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/api/v1alpha1"
	"github.com/zerodrop/zerodrop/internal/drain"
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
)

// drainCaller asks the drain endpoint, as wait-drained does, over the
// controller's real TLS webhook server.
type drainCaller struct {
	url  string
	http *http.Client
}

func newDrainCaller(t testing.TB, e *env) *drainCaller {
	t.Helper()
	wo := e.te.WebhookInstallOptions
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(wo.LocalServingCAData) {
		t.Fatal("no CA from envtest")
	}
	return &drainCaller{
		url:  "https://" + net.JoinHostPort(wo.LocalServingHost, fmt.Sprint(wo.LocalServingPort)) + drain.Path,
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
}

// ask returns the HTTP status and, on 200, the answer.
func (d *drainCaller) ask(t testing.TB, token, query string) (int, drain.Answer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		t.Fatalf("asking the drain endpoint: %v", err)
	}
	defer resp.Body.Close()
	var a drain.Answer
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, a
}

// podToken returns a token bound to pod p for audience aud, as the kubelet
// writes into the projected volume.
func podToken(t testing.TB, e *env, p *corev1.Pod, aud string) string {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(e.cfg)
	exp := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(context.Background(), "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{aud}, ExpirationSeconds: &exp,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for pod %s: %v", p.Name, err)
	}
	return tr.Status.Token
}

// TestDrainEndpoint_AuthenticatesAndAnswersOnlyAboutTheCallersPod proves
// the drain endpoint refuses callers without a valid pod-bound token for its
// audience and requests about another pod, and that it answers "drained"
// only once HAProxy has let go of a terminating pod.
func TestDrainEndpoint_AuthenticatesAndAnswersOnlyAboutTheCallersPod(t *testing.T) {
	e := startEnv(t, provider.New)
	f := newFixture(t, e, "drainauth", "/healthz")
	mustCreate(t, e, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "default"}})
	a, b := startTarget(t, "127.44.8.1"), startTarget(t, "127.44.8.2")
	a.SetHealthy(true)
	b.SetHealthy(true)
	pa, pb := f.startPod(t, a), f.startPod(t, b)
	f.waitGate(t, pa.Name)
	f.waitGate(t, pb.Name)
	d := newDrainCaller(t, e)
	tokenA := podToken(t, e, pa, drain.Audience)

	t.Run("no token is refused", func(t *testing.T) {
		if code, _ := d.ask(t, "", ""); code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", code)
		}
	})
	t.Run("a garbage token is refused", func(t *testing.T) {
		if code, _ := d.ask(t, "not-a-token", ""); code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", code)
		}
	})
	t.Run("a token for another audience is refused", func(t *testing.T) {
		if code, _ := d.ask(t, podToken(t, e, pa, "https://kubernetes.default.svc"), ""); code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", code)
		}
	})
	t.Run("asking about another pod is refused", func(t *testing.T) {
		if code, _ := d.ask(t, tokenA, "?pod="+f.ns+"/"+pb.Name); code != http.StatusForbidden {
			t.Errorf("status %d, want 403", code)
		}
	})
	t.Run("a serving pod is told it is not terminating", func(t *testing.T) {
		code, ans := d.ask(t, tokenA, "?pod="+f.ns+"/"+pa.Name)
		if code != http.StatusOK || !ans.Drained || ans.Reason != drain.ReasonNotTerminating || ans.Pod != f.ns+"/"+pa.Name {
			t.Errorf("got %d %+v, want 200 drained NotTerminating about itself", code, ans)
		}
	})
	t.Run("a terminating pod is drained only once HAProxy let go", func(t *testing.T) {
		b.SetHealthy(false) // all traffic to a
		f.waitState(t, 0, b, loadbalancer.StateUnhealthy)
		held := make(chan error, 1)
		go func() {
			code, body, err := f.get(0, holdPath)
			if err == nil && (code != http.StatusOK || body != a.Addr().String()) {
				err = fmt.Errorf("held request: %d %q", code, body)
			}
			held <- err
		}()
		e.eventually("a request held on target a", 30*time.Second, func() error {
			if a.Holding() != 1 {
				return fmt.Errorf("holding %d", a.Holding())
			}
			return nil
		})
		if err := e.c.Delete(context.Background(), pa); err != nil {
			t.Fatal(err)
		}
		f.waitState(t, 0, a, loadbalancer.StateDraining)
		if _, ans := d.ask(t, tokenA, ""); ans.Drained || ans.Reason != drain.ReasonDraining {
			t.Fatalf("answer while a session is open: %+v, want not drained", ans)
		}
		a.Release()
		if err := <-held; err != nil {
			t.Fatalf("in-flight request during the drain: %v", err)
		}
		e.eventually("drained answer", 15*time.Second, func() error {
			if _, ans := d.ask(t, tokenA, ""); !ans.Drained || ans.Reason != drain.ReasonDrained {
				return fmt.Errorf("answer %+v", ans)
			}
			return nil
		})
	})
	t.Run("the bypass annotation answers drained at once", func(t *testing.T) {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AnnotationSkipDrainWait)
		if err := e.c.Patch(context.Background(), pb, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Delete(context.Background(), pb); err != nil {
			t.Fatal(err)
		}
		e.eventually("bypass answer", 30*time.Second, func() error {
			if _, ans := d.ask(t, podToken(t, e, pb, drain.Audience), ""); !ans.Drained || ans.Reason != drain.ReasonBypass {
				return fmt.Errorf("answer %+v", ans)
			}
			return nil
		})
	})
}
