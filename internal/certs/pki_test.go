package certs

import (
	"crypto/x509"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testCA returns a CA generated at issued for validity.
func testCA(t *testing.T, issued time.Time, validity time.Duration) authority {
	t.Helper()
	ca, err := newAuthority(issued, validity)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// testCert returns a serving certificate of ca for names, issued at issued.
func testCert(t *testing.T, ca authority, names []string, issued time.Time, validity time.Duration) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.issue(names, issued, validity)
	if err != nil {
		t.Fatal(err)
	}
	m := parseMaterial(map[string][]byte{KeyCert: certPEM, KeyKey: keyPEM})
	if m.cert == nil {
		t.Fatal("issued certificate does not parse")
	}
	return m.cert
}

func TestCADue(t *testing.T) {
	v := Validity{CA: 30 * time.Hour, Cert: 3 * time.Hour}
	ca := testCA(t, t0, v.CA)
	for _, tc := range []struct {
		name string
		cas  []authority
		now  time.Time
		want bool
	}{
		{"no CA yet", nil, t0, true},
		{"fresh CA", []authority{ca}, t0.Add(time.Hour), false},
		{"just before two thirds of its life", []authority{ca}, t0.Add(20*time.Hour - time.Second), false},
		{"two thirds of its life", []authority{ca}, t0.Add(20 * time.Hour), true},
		{"expired", []authority{ca}, t0.Add(31 * time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := caDue(tc.cas, v, tc.now); got != tc.want {
				t.Errorf("caDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	old := testCA(t, t0, 10*time.Hour)
	young := testCA(t, t0.Add(5*time.Hour), 10*time.Hour)
	for _, tc := range []struct {
		name string
		now  time.Time
		want int
	}{
		{"both in force", t0.Add(6 * time.Hour), 2},
		{"old one expired", t0.Add(10 * time.Hour), 1},
		{"both expired", t0.Add(20 * time.Hour), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := prune([]authority{young, old}, tc.now)
			if len(got) != tc.want {
				t.Fatalf("prune kept %d CAs, want %d", len(got), tc.want)
			}
			if tc.want > 0 && got[0].cert != young.cert {
				t.Errorf("prune reordered the bundle")
			}
		})
	}
}

func TestSigner(t *testing.T) {
	v := Validity{CA: 30 * time.Hour, Cert: 3 * time.Hour}
	old := testCA(t, t0, v.CA)                    // ends at t0+30h
	next := testCA(t, t0.Add(20*time.Hour), v.CA) // added at two thirds of old's life
	for _, tc := range []struct {
		name string
		cas  []authority
		now  time.Time
		want authority
	}{
		{"one CA", []authority{old}, t0, old},
		{"a new CA joins the bundle but does not sign yet", []authority{next, old}, t0.Add(20 * time.Hour), old},
		{"old one still outlives a new certificate", []authority{next, old}, t0.Add(27 * time.Hour), old},
		{"old one would not outlive a new certificate", []authority{next, old}, t0.Add(27*time.Hour + time.Second), next},
		{"only CAs that end too soon: the newest", []authority{old}, t0.Add(29 * time.Hour), old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := signer(tc.cas, v, tc.now); got.cert != tc.want.cert {
				t.Errorf("signer = CA issued %s, want CA issued %s", got.cert.NotBefore, tc.want.cert.NotBefore)
			}
		})
	}
}

func TestCertDue(t *testing.T) {
	v := Validity{CA: 30 * time.Hour, Cert: 3 * time.Hour}
	names := []string{"zerodrop-webhook.zerodrop-system.svc", "127.0.0.1"}
	ca := testCA(t, t0, v.CA)
	other := testCA(t, t0, v.CA)
	cert := testCert(t, ca, names, t0, v.Cert)
	for _, tc := range []struct {
		name   string
		cert   *x509.Certificate
		signer authority
		names  []string
		now    time.Time
		want   bool
	}{
		{"none yet", nil, ca, names, t0, true},
		{"fresh", cert, ca, names, t0.Add(time.Hour), false},
		{"names in another order", cert, ca, []string{names[1], names[0]}, t0.Add(time.Hour), false},
		{"two thirds of its life", cert, ca, names, t0.Add(2 * time.Hour), true},
		{"expired", cert, ca, names, t0.Add(4 * time.Hour), true},
		{"another name wanted", cert, ca, []string{"zerodrop-drain.zerodrop-system.svc"}, t0.Add(time.Hour), true},
		{"another CA signs now", cert, other, names, t0.Add(time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := certDue(tc.cert, tc.signer, tc.names, v, tc.now); got != tc.want {
				t.Errorf("certDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAuthority_issue(t *testing.T) {
	ca := testCA(t, t0, 10*time.Hour)
	for _, tc := range []struct {
		name         string
		validity     time.Duration
		wantNotAfter time.Time
	}{
		{"within the CA's life", 3 * time.Hour, t0.Add(3 * time.Hour)},
		{"capped at the CA's end", 20 * time.Hour, ca.cert.NotAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCert(t, ca, []string{"a.example", "10.1.2.3"}, t0, tc.validity)
			if !c.NotAfter.Equal(tc.wantNotAfter) {
				t.Errorf("NotAfter = %s, want %s", c.NotAfter, tc.wantNotAfter)
			}
			if err := c.CheckSignatureFrom(ca.cert); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			if len(c.DNSNames) != 1 || len(c.IPAddresses) != 1 {
				t.Errorf("SANs = %v %v, want one DNS name and one IP", c.DNSNames, c.IPAddresses)
			}
		})
	}
}
