package process

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func testConfig() Config {
	return Config{
		Frontends:  []Frontend{{Name: "web", Address: netip.MustParseAddrPort("127.42.250.1:0"), Backend: "app"}},
		Backends:   []Backend{{Name: "app", HealthPath: "/ready"}},
		RuntimeTCP: netip.MustParseAddrPort("127.42.250.1:0"),
	}
}

func TestProcess_lifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := Start(ctx, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })

	cfg, err := os.ReadFile(p.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"option httpchk GET /ready", "http-check expect status 200", "balance roundrobin", "option http-server-close"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(string(cfg), "\n    server ") {
		t.Errorf("config has static servers:\n%s", cfg)
	}

	// No server: the frontend answers 503, which proves it listens.
	resp, err := http.Get(p.FrontendURL("web"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status through empty backend = %d, want 503", resp.StatusCode)
	}

	pid1, err := workerPid(ctx, p.RuntimeSocket())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	pid2, err := workerPid(ctx, p.RuntimeSocket())
	if err != nil {
		t.Fatal(err)
	}
	if pid2 == pid1 {
		t.Errorf("worker pid %s unchanged by Reload", pid1)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	pid3, err := workerPid(ctx, p.RuntimeSocket())
	if err != nil {
		t.Fatal(err)
	}
	if pid3 == pid2 {
		t.Errorf("worker pid %s unchanged by Restart", pid2)
	}
	if !p.RuntimeAddress().IsValid() || p.FrontendURL("nosuch") != "" {
		t.Errorf("RuntimeAddress %v, FrontendURL(nosuch) %q", p.RuntimeAddress(), p.FrontendURL("nosuch"))
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + pid3); err == nil {
		t.Errorf("worker %s still running after Close", pid3)
	}
	if _, err := os.Stat(p.RuntimeSocket()); err == nil {
		t.Errorf("runtime socket left after Close")
	}
}

func TestStart_rejectsBadConfig(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no frontend":                func(c *Config) { c.Frontends = nil },
		"unknown backend":            func(c *Config) { c.Frontends[0].Backend = "nosuch" },
		"non-loopback address":       func(c *Config) { c.Frontends[0].Address = netip.MustParseAddrPort("10.0.0.1:80") },
		"bad backend name":           func(c *Config) { c.Backends[0].Name = "a b" },
		"bad health path":            func(c *Config) { c.Backends[0].HealthPath = "ready" },
		"TCP frontend, HTTP backend": func(c *Config) { c.Frontends[0].TCP = true },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			mutate(&cfg)
			if _, err := Start(context.Background(), cfg); err == nil {
				t.Fatal("Start succeeded")
			}
		})
	}
}

func TestProcess_render(t *testing.T) {
	p := &Process{cfg: Config{Backends: []Backend{{Name: "a", CheckTimeout: 1500 * time.Microsecond, TCP: true}, {Name: "b"}}}, dir: "/run/x"}
	out := p.render()
	a, b, _ := strings.Cut(out, "backend b")
	for _, want := range []string{"backend a\n", "    timeout check 2ms\n", "    mode tcp\n"} {
		if !strings.Contains(a, want) {
			t.Errorf("backend a has no %q (timeout 1.5ms rounded up, TCP):\n%s", want, out)
		}
	}
	if strings.Contains(b, "timeout check") || strings.Contains(b, "mode tcp") {
		t.Errorf("backend b without CheckTimeout and TCP has a timeout check or mode tcp:\n%s", out)
	}
}

// TestProcess_followEvents checks that with Config.Events a server's state
// change reaches FollowEvents as HAProxy logs it, and that a process
// started without it says so.
func TestProcess_followEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig()
	cfg.Events = true
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if _, err := p.RuntimeCommand(ctx, "experimental-mode on; add server app/s1 127.42.250.2:9 check"); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	dates := make(chan time.Time, 16)
	followCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	began := time.Now()
	go func() {
		done <- p.FollowEvents(followCtx, func(at time.Time, line string) { dates <- at; lines <- line })
	}()
	// The stream is open once a command sent after it shows up: send the
	// change until its line arrives.
	var got string
	for got == "" {
		if _, err := p.RuntimeCommand(ctx, "set server app/s1 state ready"); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-lines:
		case <-time.After(200 * time.Millisecond):
			if _, err := p.RuntimeCommand(ctx, "set server app/s1 state maint"); err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("no event line within a minute")
		}
	}
	if !strings.HasPrefix(got, "Server app/s1 ") {
		t.Errorf("event line %q, want one about Server app/s1 without HAProxy's timestamp", got)
	}
	// HAProxy's own date: after the follow began (less a second, for
	// clocks that round), not later than now.
	if at := <-dates; at.Before(began.Add(-time.Second)) || at.After(time.Now()) {
		t.Errorf("event dated %s, want between %s and now", at, began)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("FollowEvents after its context ended: %v, want nil", err)
	}

	plain, err := Start(ctx, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	if err := plain.FollowEvents(ctx, func(time.Time, string) {}); err == nil || !strings.Contains(err.Error(), "Config.Events") {
		t.Errorf("FollowEvents without Config.Events: %v, want an error naming Config.Events", err)
	}
}

// TestProcess_requestErrors checks that with Config.RequestErrors a failed
// request is logged with its status and termination state, that a request
// that went well is not, and that a process started without it says so.
func TestProcess_requestErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig()
	cfg.RequestErrors = true
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	// The backend has no server: HAProxy answers 503 itself ("SC").
	resp, err := http.Get(p.FrontendURL("web") + "/x")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 from a backend without servers", resp.StatusCode)
	}
	var lines []RingLine
	for ctx.Err() == nil && len(lines) == 0 {
		if lines, err = p.RequestErrors(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0].Line, " 503 ") || !strings.Contains(lines[0].Line, " SC") || !strings.Contains(lines[0].Line, `"GET /x HTTP/1.1"`) {
		t.Errorf("request errors %q, want one 503 line with termination state SC for GET /x", lines)
	}
	if len(lines) > 0 && time.Since(lines[0].At) > time.Minute {
		t.Errorf("request error dated %s, want HAProxy's time of the request", lines[0].At)
	}

	plain, err := Start(ctx, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	if _, err := plain.RequestErrors(ctx); err == nil || !strings.Contains(err.Error(), "Config.RequestErrors") {
		t.Errorf("RequestErrors without Config.RequestErrors: %v, want an error naming it", err)
	}
}

func TestRingLine(t *testing.T) {
	at, line, ok := ringLine("2026-12-03T17:13:52.332968+00:00 Server be/s1 is DOWN \r")
	if want := time.Date(2026, 12, 3, 17, 13, 52, 332968000, time.UTC); !ok || !at.Equal(want) || line != "Server be/s1 is DOWN" {
		t.Errorf("ringLine = %s, %q, %v; want %s, the message, true", at, line, ok, want)
	}
	if at, line, ok := ringLine("no stamp here"); !ok || line != "no stamp here" || time.Since(at) > time.Minute {
		t.Errorf("ringLine without a stamp = %s, %q, %v; want now, the line, true", at, line, ok)
	}
	if _, _, ok := ringLine("  "); ok {
		t.Error("ringLine of a blank line: ok, want not ok")
	}
}
