package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holdPath is where a target holds a request open until released.
const holdPath = "/hold"

// target is a real HTTP server standing in for a pod's app: it answers the
// health paths it is told to pass with 200 (others with 503), records when
// it answered checks, counts client requests and can hold them open.
type target struct {
	addr     netip.AddrPort
	requests atomic.Int64
	holding  atomic.Int64

	mu       sync.Mutex
	passing  map[string]bool
	passedAt []time.Time
	release  chan struct{}
}

// startTarget serves on ip at a free port until the test ends, failing
// every health check until told otherwise.
func startTarget(t testing.TB, ip string) *target {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listening on %s: %v", ip, err)
	}
	tg := &target{addr: l.Addr().(*net.TCPAddr).AddrPort(), passing: map[string]bool{}, release: make(chan struct{})}
	srv := &http.Server{Handler: tg, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("target %s: %v", tg.addr, err)
		}
	}()
	t.Cleanup(func() {
		tg.releaseAll()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return tg
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tg.mu.Lock()
	pass, isCheck := tg.passing[r.URL.Path]
	if pass {
		tg.passedAt = append(tg.passedAt, time.Now())
	}
	release := tg.release
	tg.mu.Unlock()
	if isCheck || r.URL.Path == "/healthz" || r.URL.Path == "/healthz-b" {
		if pass {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	}
	tg.requests.Add(1)
	if r.URL.Path == holdPath {
		tg.holding.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		tg.holding.Add(-1)
	}
	fmt.Fprint(w, tg.addr)
}

// setPassing makes the health path pass or fail.
func (tg *target) setPassing(path string, ok bool) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.passing[path] = ok
}

// passedSince returns the times of passing checks after since.
func (tg *target) passedSince(since time.Time) []time.Time {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	var out []time.Time
	for _, at := range tg.passedAt {
		if at.After(since) {
			out = append(out, at)
		}
	}
	return out
}

// releaseAll lets every held request finish.
func (tg *target) releaseAll() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	close(tg.release)
	tg.release = make(chan struct{})
}
