// Package certs issues and rotates the serving certificate of zerodrop's
// webhook and drain endpoint without any other component: a self-signed CA
// and a serving certificate kept in one Secret, shared by every replica,
// renewed before they expire, written into the directory the webhook
// server and the drain endpoint serve from (controller-runtime's
// certwatcher reloads them), and the CA bundle patched into the
// MutatingWebhookConfiguration. A new CA enters the bundle long before it
// signs, and old CAs stay in it until they expire, so that rotation never
// leaves the API server, or a pod holding the bundle, without a CA it
// trusts.
package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of Options.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 90 * 24 * time.Hour
	// DefaultSecretName names the Secret holding the CA and serving
	// certificate.
	DefaultSecretName = "zerodrop-tls"
)

// maxCheckInterval bounds how long a replica goes without looking at the
// Secret (another replica may have renewed it).
const maxCheckInterval = 5 * time.Minute

// conflictRetries is how often Ensure reads the Secret again after another
// replica changed it in between.
const conflictRetries = 5

// Options configure a Rotator.
type Options struct {
	// Secret holds the CAs and the serving certificate.
	Secret types.NamespacedName
	// DNSNames are the serving certificate's names: the webhook's and the
	// drain endpoint's Services (an IP address becomes an IP SAN).
	DNSNames []string
	// CertDir receives tls.crt, tls.key and ca.crt.
	CertDir string
	// WebhookConfiguration names the MutatingWebhookConfiguration whose
	// webhooks get the CA bundle ("" patches none).
	WebhookConfiguration string
	// Validity of the CA and serving certificates; zero fields mean
	// DefaultCAValidity and DefaultCertValidity.
	Validity Validity
	// CheckInterval is how often the Secret is looked at; zero means a
	// tenth of the serving certificate's validity, at most 5 minutes.
	CheckInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what the rotator issues and patches (zero: none).
	Logger logr.Logger
}

// Rotator keeps the serving certificate current. Create it with New, call
// Ensure once before the servers start, and run Start (a manager Runnable,
// on every replica) to keep it current.
type Rotator struct {
	c      client.Client
	o      Options
	bundle atomic.Pointer[string]
}

// New returns a rotator reading and writing through c, which should not be
// a cache: it reads one Secret and one webhook configuration.
func New(c client.Client, o Options) (*Rotator, error) {
	if o.Secret.Name == "" || o.Secret.Namespace == "" {
		return nil, errors.New("the certificate Secret needs a name and a namespace")
	}
	if len(o.DNSNames) == 0 {
		return nil, errors.New("the serving certificate needs at least one DNS name")
	}
	if o.CertDir == "" {
		return nil, errors.New("no directory to write the serving certificate to")
	}
	if o.Validity.CA == 0 {
		o.Validity.CA = DefaultCAValidity
	}
	if o.Validity.Cert == 0 {
		o.Validity.Cert = DefaultCertValidity
	}
	if o.Validity.Cert > o.Validity.CA {
		return nil, fmt.Errorf("serving certificate validity %s exceeds the CA's %s", o.Validity.Cert, o.Validity.CA)
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = min(o.Validity.Cert/10, maxCheckInterval)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Rotator{c: c, o: o}, nil
}

// CABundle returns the PEM bundle of every CA in force ("" before the first
// Ensure): what clients of the webhook and drain endpoint trust.
func (r *Rotator) CABundle() string {
	if b := r.bundle.Load(); b != nil {
		return *b
	}
	return ""
}

// NeedLeaderElection is false: every replica serves, so every replica
// keeps its files current.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start calls Ensure every CheckInterval until ctx ends; failures are
// logged and retried at the next tick.
func (r *Rotator) Start(ctx context.Context) error {
	t := time.NewTicker(r.o.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.Ensure(ctx); err != nil {
				r.o.Logger.Error(err, "keeping the serving certificate current")
			}
		}
	}
}

// Ensure makes the Secret hold a current CA bundle and serving certificate
// (creating or renewing what is missing or due), patches the bundle into
// the webhook configuration, then writes the files: the API server trusts
// a new CA before any replica serves a certificate it signed. A webhook
// configuration that does not exist (yet) is not an error.
func (r *Rotator) Ensure(ctx context.Context) error {
	var (
		s   *corev1.Secret
		err error
	)
	for range conflictRetries {
		s, err = r.reconcileSecret(ctx)
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		return err
	}
	bundle := s.Data[KeyCABundle]
	r.bundle.Store(new(string(bundle)))
	if err := r.patchWebhook(ctx, bundle); err != nil {
		return err
	}
	return r.writeFiles(map[string][]byte{KeyCert: s.Data[KeyCert], KeyKey: s.Data[KeyKey], KeyCABundle: bundle})
}

// reconcileSecret reads the Secret, issues what is due and writes it back;
// a conflict or a Secret created meanwhile by another replica is returned
// for Ensure to retry.
func (r *Rotator) reconcileSecret(ctx context.Context) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := r.c.Get(ctx, r.o.Secret, s)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading Secret %s: %w", r.o.Secret, err)
	}
	now := r.o.Now()
	m := parseMaterial(s.Data)
	cas := prune(m.cas, now)
	changed := len(cas) != len(m.cas)
	if caDue(cas, r.o.Validity, now) {
		ca, err := newAuthority(now, r.o.Validity.CA)
		if err != nil {
			return nil, err
		}
		cas = append([]authority{ca}, cas...)
		changed = true
	}
	certPEM, keyPEM := m.certPEM, m.keyPEM
	if sg := signer(cas, r.o.Validity, now); certDue(m.cert, sg, r.o.DNSNames, r.o.Validity, now) {
		if certPEM, keyPEM, err = sg.issue(r.o.DNSNames, now, r.o.Validity.Cert); err != nil {
			return nil, err
		}
		changed = true
	}
	if exists && !changed {
		return s, nil
	}
	bundle, keys, err := encodeAuthorities(cas)
	if err != nil {
		return nil, err
	}
	s.Data = map[string][]byte{KeyCert: certPEM, KeyKey: keyPEM, KeyCABundle: bundle, KeyCAKeys: keys}
	logger := r.o.Logger.WithValues("secret", r.o.Secret.String())
	if !exists {
		s.ObjectMeta = metav1.ObjectMeta{Name: r.o.Secret.Name, Namespace: r.o.Secret.Namespace}
		s.Type = corev1.SecretTypeTLS
		if err := r.c.Create(ctx, s); err != nil {
			return nil, fmt.Errorf("creating Secret %s: %w", r.o.Secret, err)
		}
		logger.Info("issued the serving certificate", "cas", len(cas))
		return s, nil
	}
	if err := r.c.Update(ctx, s); err != nil {
		return nil, fmt.Errorf("updating Secret %s: %w", r.o.Secret, err)
	}
	logger.Info("renewed the serving certificate", "cas", len(cas))
	return s, nil
}

// patchWebhook sets bundle as the caBundle of every webhook of the
// configuration.
func (r *Rotator) patchWebhook(ctx context.Context, bundle []byte) error {
	if r.o.WebhookConfiguration == "" {
		return nil
	}
	for range conflictRetries {
		wh := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: r.o.WebhookConfiguration}, wh); err != nil {
			if apierrors.IsNotFound(err) {
				r.o.Logger.Info("webhook configuration not found, its CA bundle is set once it exists", "webhookConfiguration", r.o.WebhookConfiguration)
				return nil
			}
			return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", r.o.WebhookConfiguration, err)
		}
		changed := false
		for i := range wh.Webhooks {
			if !bytes.Equal(wh.Webhooks[i].ClientConfig.CABundle, bundle) {
				wh.Webhooks[i].ClientConfig.CABundle = bundle
				changed = true
			}
		}
		if !changed {
			return nil
		}
		err := r.c.Update(ctx, wh)
		if err == nil {
			r.o.Logger.Info("patched the CA bundle into the webhook configuration", "webhookConfiguration", r.o.WebhookConfiguration)
			return nil
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("updating the CA bundle of MutatingWebhookConfiguration %s: %w", r.o.WebhookConfiguration, err)
		}
	}
	return fmt.Errorf("updating the CA bundle of MutatingWebhookConfiguration %s: still conflicting after %d tries", r.o.WebhookConfiguration, conflictRetries)
}

// writeFiles writes each file into CertDir whose content differs, each
// through a temporary file and a rename, the key before the certificate
// so that a reader never pairs a new certificate with an old key for long.
func (r *Rotator) writeFiles(files map[string][]byte) error {
	if err := os.MkdirAll(r.o.CertDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", r.o.CertDir, err)
	}
	for _, name := range []string{KeyKey, KeyCert, KeyCABundle} {
		path := filepath.Join(r.o.CertDir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		tmp, err := os.CreateTemp(r.o.CertDir, "."+name+"-*")
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		_, werr := tmp.Write(files[name])
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
