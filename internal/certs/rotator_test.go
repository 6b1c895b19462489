package certs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestRotator_Ensure walks one Secret through a CA's life on a fake clock:
// first issue, renewals of the serving certificate, a new CA that joins
// the bundle before it signs, the old CA dropped once expired, and a
// restarted controller that reuses what the Secret holds.
func TestRotator_Ensure(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "zerodrop-system", Name: "zerodrop-tls"}
	wh := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zerodrop"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "a.zerodrop.dev"}, {Name: "b.zerodrop.dev"}},
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(wh).Build()
	now := t0
	v := Validity{CA: 30 * time.Hour, Cert: 3 * time.Hour}
	newRotator := func(dir string) *Rotator {
		r, err := New(c, Options{
			Secret: key, DNSNames: []string{"zerodrop-webhook.zerodrop-system.svc"}, CertDir: dir,
			WebhookConfiguration: wh.Name, Validity: v, Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := newRotator(t.TempDir())
	newDir := t.TempDir // the test's, not a step's: the files outlive the step

	type state struct {
		rv      string
		cert    *x509Cert
		caCount int
	}
	read := func(t *testing.T, r *Rotator) state {
		t.Helper()
		s := &corev1.Secret{}
		if err := c.Get(ctx, key, s); err != nil {
			t.Fatal(err)
		}
		m := parseMaterial(s.Data)
		if m.cert == nil || len(m.cas) == 0 {
			t.Fatalf("Secret holds no readable certificate and CA")
		}
		got := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Get(ctx, client.ObjectKey{Name: wh.Name}, got); err != nil {
			t.Fatal(err)
		}
		for _, w := range got.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, s.Data[KeyCABundle]) {
				t.Errorf("webhook %s has another CA bundle than the Secret", w.Name)
			}
		}
		if r.CABundle() != string(s.Data[KeyCABundle]) {
			t.Errorf("CABundle() is not the Secret's bundle")
		}
		for _, f := range []string{KeyCert, KeyKey, KeyCABundle} {
			data, err := os.ReadFile(filepath.Join(r.o.CertDir, f))
			if err != nil || !bytes.Equal(data, s.Data[f]) {
				t.Errorf("%s in the cert dir is not the Secret's (%v)", f, err)
			}
		}
		if s.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type %s, want %s", s.Type, corev1.SecretTypeTLS)
		}
		return state{rv: s.ResourceVersion, cert: &x509Cert{m.cert.SerialNumber.String(), m.cert.Issuer.SerialNumber}, caCount: len(m.cas)}
	}
	ensure := func(t *testing.T, r *Rotator) state {
		t.Helper()
		if err := r.Ensure(ctx); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		return read(t, r)
	}

	first := ensure(t, r)
	if first.caCount != 1 {
		t.Fatalf("first issue: %d CAs, want 1", first.caCount)
	}
	for _, step := range []struct {
		name string
		at   time.Duration // since t0
		// restart runs a new rotator with an empty cert dir (a new pod).
		restart     bool
		wantSecret  bool // the Secret changes
		wantNewCert bool
		wantCAs     int
		wantIssuer  string // "first" or "second" CA signs the serving certificate
	}{
		{name: "nothing due", at: time.Hour, wantCAs: 1, wantIssuer: "first"},
		{name: "serving certificate at two thirds of its life", at: 2 * time.Hour, wantSecret: true, wantNewCert: true, wantCAs: 1, wantIssuer: "first"},
		{name: "controller restarted: the Secret is reused", at: 2*time.Hour + time.Minute, restart: true, wantCAs: 1, wantIssuer: "first"},
		{name: "CA at two thirds of its life: a second CA joins the bundle, the first still signs", at: 20 * time.Hour, wantSecret: true, wantNewCert: true, wantCAs: 2, wantIssuer: "first"},
		{name: "the first CA would not outlive a new certificate: the second signs", at: 27*time.Hour + time.Minute, wantSecret: true, wantNewCert: true, wantCAs: 2, wantIssuer: "second"},
		{name: "the first CA expired: dropped from the bundle", at: 30*time.Hour + time.Minute, wantSecret: true, wantNewCert: true, wantCAs: 1, wantIssuer: "second"},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := read(t, r)
			now = t0.Add(step.at)
			if step.restart {
				r = newRotator(newDir())
			}
			after := ensure(t, r)
			if changed := after.rv != before.rv; changed != step.wantSecret {
				t.Errorf("Secret changed = %v, want %v", changed, step.wantSecret)
			}
			if newCert := after.cert.serial != before.cert.serial; newCert != step.wantNewCert {
				t.Errorf("new serving certificate = %v, want %v", newCert, step.wantNewCert)
			}
			if after.caCount != step.wantCAs {
				t.Errorf("%d CAs in the bundle, want %d", after.caCount, step.wantCAs)
			}
			if issuer := map[bool]string{true: "first", false: "second"}[after.cert.issuer == first.cert.issuer]; issuer != step.wantIssuer {
				t.Errorf("serving certificate signed by the %s CA, want the %s", issuer, step.wantIssuer)
			}
		})
	}
}

// x509Cert identifies a serving certificate and its issuer.
type x509Cert struct{ serial, issuer string }

// TestRotator_EnsureWithoutWebhookConfiguration issues the certificate
// even when the webhook configuration does not exist yet (it is patched
// once it does).
func TestRotator_EnsureWithoutWebhookConfiguration(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).Build()
	dir := t.TempDir()
	r, err := New(c, Options{
		Secret: types.NamespacedName{Namespace: "ns", Name: "tls"}, DNSNames: []string{"svc.ns.svc"},
		CertDir: dir, WebhookConfiguration: "zerodrop",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, KeyCABundle))
	if err != nil {
		t.Fatal(err)
	}
	if cas, err := certutil.ParseCertsPEM(data); err != nil || len(cas) != 1 {
		t.Errorf("ca.crt holds %d CAs (%v), want 1", len(cas), err)
	}
}
