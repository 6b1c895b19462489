package verify_test

import (
	"net/url"
	"testing"

	"github.com/zerodrop/zerodrop/internal/verify"
)

func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/", "https://x/y?z", "http://[::1", "ftp://x/", "http:///p", "127.0.0.1:80", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if verify.ValidateURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			t.Fatalf("ValidateURL accepted %q", s)
		}
	})
}
