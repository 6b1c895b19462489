package conformance

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// HoldPath is the path at which a Server holds a request open until Release.
const HoldPath = "/hold"

// Server is a real HTTP target: it answers its health paths with 200 or 503
// as told (remembering when it passed a check), holds requests to HoldPath
// open until released, and counts the other requests it serves (health
// checks are not counted).
type Server struct {
	addr       netip.AddrPort
	healthPath string
	requests   atomic.Int64
	holding    atomic.Int64

	mu       sync.Mutex
	passing  map[string]bool
	passedAt map[string][]time.Time
	release  chan struct{}
}

// NewServer serves on l until the test ends; it starts healthy.
func NewServer(t testing.TB, l net.Listener, healthPath string) *Server {
	t.Helper()
	s := &Server{
		addr:       l.Addr().(*net.TCPAddr).AddrPort(),
		healthPath: healthPath,
		release:    make(chan struct{}),
		passing:    map[string]bool{healthPath: true},
		passedAt:   map[string][]time.Time{},
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("target %s: %v", s.addr, err)
		}
	}()
	t.Cleanup(func() {
		s.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		<-done
	})
	return s
}

// ServeHTTP answers health checks, held requests and plain requests (with
// its own address as the body).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	pass, isCheck := s.passing[r.URL.Path]
	if pass {
		s.passedAt[r.URL.Path] = append(s.passedAt[r.URL.Path], time.Now())
	}
	s.mu.Unlock()
	if isCheck {
		if pass {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	}
	s.requests.Add(1)
	if r.URL.Path == HoldPath {
		s.mu.Lock()
		release := s.release
		s.mu.Unlock()
		s.holding.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		s.holding.Add(-1)
	}
	_, _ = w.Write([]byte(s.addr.String()))
}

// Target is the server as a load-balancer target.
func (s *Server) Target() loadbalancer.Target { return loadbalancer.Target{Address: s.addr} }

// SetHealthy makes the health path pass or fail.
func (s *Server) SetHealthy(ok bool) { s.SetPathHealthy(s.healthPath, ok) }

// SetPathHealthy makes path a health path that passes or fails: an LB
// instance configured with another check path then sees another state.
func (s *Server) SetPathHealthy(path string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passing[path] = ok
}

// PassedSince returns the times of the checks it passed after since, on
// any health path, in order.
func (s *Server) PassedSince(since time.Time) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, ats := range s.passedAt {
		out = append(out, after(ats, since)...)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// PassedOnSince returns the times of the checks it passed on path after
// since: with one health path per LB instance, that instance's checks.
func (s *Server) PassedOnSince(path string, since time.Time) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return after(s.passedAt[path], since)
}

func after(ats []time.Time, since time.Time) []time.Time {
	var out []time.Time
	for _, at := range ats {
		if at.After(since) {
			out = append(out, at)
		}
	}
	return out
}

// Addr is where the server listens.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Requests counts the requests served, health checks excepted.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Holding counts the requests currently held at HoldPath.
func (s *Server) Holding() int64 { return s.holding.Load() }

// Release lets every held request finish; later ones are held again.
func (s *Server) Release() {
	s.mu.Lock()
	close(s.release)
	s.release = make(chan struct{})
	s.mu.Unlock()
}
