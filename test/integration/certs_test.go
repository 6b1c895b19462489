package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/zerodrop/zerodrop/internal/certs"
	"github.com/zerodrop/zerodrop/internal/loadbalancer/provider"
	"github.com/zerodrop/zerodrop/internal/manager"
	"github.com/zerodrop/zerodrop/internal/webhook"
)

// TestCerts_SelfManagedIssueRenewRestart runs the controller with
// self-managed certificates (as the chart does by default) against a real
// API server whose webhook configuration starts without a CA bundle and
// fails closed (this test's, so that a TLS failure shows as a refused pod):
// the controller issues the CA and serving certificate into its Secret,
// patches the bundle in, and the API server reaches the webhook; the
// serving certificate is renewed before it expires (a 45 s validity, so
// renewal comes 30 s after issue) and both servers serve the new one; a
// restarted controller, with an empty cert dir like a new pod's, reuses
// the Secret.
func TestCerts_SelfManagedIssueRenewRestart(t *testing.T) {
	e := startAPIServer(t)
	cfg, c := e.cfg, e.c
	ctx := context.Background()
	e.namespace("zerodrop-system", false)
	e.namespace("shop", true)

	webhookPort, drainPort := freePort(t), freePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d%s", webhookPort, webhook.PodMutatePath)
	wh := webhook.Configuration(admissionregistrationv1.WebhookClientConfig{URL: &url})
	fail := admissionregistrationv1.Fail
	wh.Webhooks[0].FailurePolicy = &fail
	if err := c.Create(ctx, wh); err != nil {
		t.Fatal(err)
	}
	secretKey := types.NamespacedName{Namespace: "zerodrop-system", Name: certs.DefaultSecretName}
	validity := certs.Validity{CA: time.Hour, Cert: 45 * time.Second}

	// start runs the controller with its cert dir in dir and returns its
	// stop function.
	start := func(dir string) func() {
		t.Helper()
		mctx, cancel := context.WithCancel(ctx)
		mgr, err := manager.New(mctx, cfg, manager.Options{
			MetricsAddr: "0", ProbeAddr: "0",
			WebhookHost: "127.0.0.1", WebhookPort: webhookPort, WebhookCertDir: dir,
			DrainAddr: fmt.Sprintf("127.0.0.1:%d", drainPort),
			Instances: provider.New, Registerer: prometheus.NewRegistry(), SkipNameValidation: true,
			Certs: &certs.Options{
				Secret: secretKey, DNSNames: []string{"127.0.0.1"}, WebhookConfiguration: wh.Name,
				Validity: validity, CheckInterval: time.Second,
			},
		})
		if err != nil {
			cancel()
			t.Fatalf("creating manager: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- mgr.Start(mctx) }()
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("controller manager: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("controller manager did not stop within 30s")
			}
		}
	}
	secret := func() *corev1.Secret {
		t.Helper()
		s := &corev1.Secret{}
		if err := c.Get(ctx, secretKey, s); err != nil {
			t.Fatalf("reading the certificate Secret: %v", err)
		}
		return s
	}
	// served returns the serial of the certificate served on port, verified
	// against the bundle.
	served := func(port int, bundle []byte) (string, error) {
		pool, err := certutil.NewPoolFromBytes(bundle)
		if err != nil {
			return "", err
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	serial := func(s *corev1.Secret) *x509.Certificate {
		t.Helper()
		cs, err := certutil.ParseCertsPEM(s.Data[certs.KeyCert])
		if err != nil {
			t.Fatal(err)
		}
		return cs[0]
	}
	// check waits until both servers serve the Secret's certificate, the
	// webhook configuration holds its bundle, and the API server admits a
	// pod through the webhook.
	pods := 0
	check := func(what string, s *corev1.Secret) {
		t.Helper()
		want := serial(s).SerialNumber.String()
		e.eventually(what+": webhook configuration holds the Secret's CA bundle", 30*time.Second, func() error {
			got := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := c.Get(ctx, client.ObjectKey{Name: wh.Name}, got); err != nil {
				return err
			}
			if string(got.Webhooks[0].ClientConfig.CABundle) != string(s.Data[certs.KeyCABundle]) {
				return fmt.Errorf("caBundle differs from the Secret's ca.crt")
			}
			return nil
		})
		for name, port := range map[string]int{"webhook": webhookPort, "drain endpoint": drainPort} {
			e.eventually(what+": the "+name+" serves the Secret's certificate", 30*time.Second, func() error {
				got, err := served(port, s.Data[certs.KeyCABundle])
				if err != nil {
					return err
				}
				if got != want {
					return fmt.Errorf("serves serial %s, want %s", got, want)
				}
				return nil
			})
		}
		pods++
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", pods), Namespace: "shop"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example/app:v1"}}},
		}
		if err := c.Create(ctx, pod); err != nil {
			t.Fatalf("%s: pod creation through the fail-closed webhook: %v", what, err)
		}
	}

	stop := start(t.TempDir())
	first := secret()
	if first.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %s, want %s", first.Type, corev1.SecretTypeTLS)
	}
	check("initial issue", first)
	firstCert := serial(first)
	if firstCert.NotAfter.Sub(firstCert.NotBefore) > validity.Cert+10*time.Minute {
		t.Errorf("serving certificate valid %s..%s: longer than asked", firstCert.NotBefore, firstCert.NotAfter)
	}

	var renewed *corev1.Secret
	e.eventually("serving certificate renewed before it expires", validity.Cert, func() error {
		renewed = secret()
		if serial(renewed).SerialNumber.Cmp(firstCert.SerialNumber) == 0 {
			return fmt.Errorf("still serial %s", firstCert.SerialNumber)
		}
		return nil
	})
	if time.Now().After(firstCert.NotAfter) {
		t.Errorf("renewed only after the certificate expired at %s", firstCert.NotAfter)
	}
	if string(renewed.Data[certs.KeyCABundle]) != string(first.Data[certs.KeyCABundle]) {
		t.Errorf("renewing the serving certificate changed the CA bundle")
	}
	check("after renewal", renewed)
	stop()

	// A restarted controller, its cert dir empty like a new pod's.
	before := secret()
	beforeCert := serial(before)
	stop = start(t.TempDir())
	defer stop()
	after := secret()
	if after.UID != first.UID {
		t.Errorf("Secret re-created on restart")
	}
	if time.Now().Before(beforeCert.NotAfter.Add(-validity.Cert/3)) && after.ResourceVersion != before.ResourceVersion {
		t.Errorf("restart rewrote a Secret that was not due (resourceVersion %s → %s)", before.ResourceVersion, after.ResourceVersion)
	}
	if string(after.Data[certs.KeyCABundle]) != string(first.Data[certs.KeyCABundle]) {
		t.Errorf("restart changed the CA")
	}
	check("after restart", after)
}

// freePort returns a TCP port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
