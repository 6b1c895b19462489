package waitdrained

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zerodrop/zerodrop/internal/drain"
)

// controller is a stand-in drain endpoint over real TLS that says "drained"
// after a number of asks, and checks the bearer token.
func controller(t *testing.T, drainedAfter int64) (url, caFile string) {
	t.Helper()
	var asks atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		n := asks.Add(1)
		_ = json.NewEncoder(w).Encode(drain.Answer{Drained: n >= drainedAfter, Reason: drain.ReasonDraining})
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemCA, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL + drain.Path, caFile
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := NewCommand(context.Background())
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--token-file=" + tok, "--interval=10ms"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestNewCommand(t *testing.T) {
	t.Run("returns 0 once the controller says drained", func(t *testing.T) {
		url, ca := controller(t, 3)
		out, err := run(t, "--endpoint="+url, "--ca-file="+ca)
		if err != nil || !strings.Contains(out, "drained from every load balancer") {
			t.Fatalf("err %v, out %q", err, out)
		}
	})
	t.Run("falls back and exits 3 when the controller is unreachable", func(t *testing.T) {
		_, err := run(t, "--endpoint=https://127.0.0.1:1/v1/drained", "--fallback-wait=200ms", "--unreachable-after=50ms")
		if exitCode(err) != ExitFallback || !strings.Contains(err.Error(), "controller unreachable") {
			t.Fatalf("err %v (exit %d), want exit %d", err, exitCode(err), ExitFallback)
		}
	})
	t.Run("exits 4 at the max wait when never drained", func(t *testing.T) {
		url, ca := controller(t, 1<<30)
		_, err := run(t, "--endpoint="+url, "--ca-file="+ca, "--max-wait=200ms")
		if exitCode(err) != ExitMaxWait {
			t.Fatalf("err %v (exit %d), want %d", err, exitCode(err), ExitMaxWait)
		}
	})
	t.Run("an untrusted server certificate is not accepted", func(t *testing.T) {
		url, _ := controller(t, 1)
		_, err := run(t, "--endpoint="+url, "--fallback-wait=100ms", "--unreachable-after=50ms")
		if exitCode(err) != ExitFallback {
			t.Fatalf("err %v, want the fallback (TLS verification failed)", err)
		}
	})
	t.Run("runs the pod's own preStop command after the wait and returns its exit code", func(t *testing.T) {
		url, ca := controller(t, 1)
		marker := filepath.Join(t.TempDir(), "ran")
		_, err := run(t, "--endpoint="+url, "--ca-file="+ca, "--", "/bin/sh", "-c", "touch "+marker+"; exit 7")
		if _, serr := os.Stat(marker); serr != nil {
			t.Fatalf("their command did not run: %v", serr)
		}
		var ec exitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 7 {
			t.Fatalf("err %v, want their exit code 7", err)
		}
	})
	t.Run("an http:// endpoint is refused before any token is sent", func(t *testing.T) {
		var asked atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { asked.Add(1) }))
		defer srv.Close()
		_, err := run(t, "--endpoint="+srv.URL+drain.Path, "--max-wait=1s", "--fallback-wait=10ms")
		if err == nil || !strings.Contains(err.Error(), "https") || asked.Load() != 0 {
			t.Fatalf("err %v after %d requests, want an https error and none", err, asked.Load())
		}
	})
	t.Run("no endpoint is a usage error", func(t *testing.T) {
		if _, err := run(t); err == nil || !strings.Contains(err.Error(), "--endpoint") {
			t.Fatalf("err %v", err)
		}
	})
}

type exitCoder interface{ ExitCode() int }

func exitCode(err error) int {
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}
