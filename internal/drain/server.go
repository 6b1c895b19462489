package drain

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Bounds of the server's connections: a pod's ask is one small GET.
const (
	readHeaderTimeout = 2 * time.Second
	writeTimeout      = 5 * time.Second
	idleTimeout       = 30 * time.Second
	shutdownTimeout   = 5 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Server serves Handler at Path on its own TLS listener, apart from the
// admission webhook's, so that a flood of asks cannot slow pod admission.
// It reloads its certificate when the files change. It is a
// controller-runtime Runnable that runs on every replica, leader or not.
type Server struct {
	// Addr is the host:port to listen on.
	Addr string
	// CertDir holds tls.crt and tls.key.
	CertDir string
	// Handler answers the asks.
	Handler http.Handler
	// Logger receives the server's and handler's logs.
	Logger logr.Logger

	started chan struct{}
}

// NewServer returns a server; start it with Start.
func NewServer(addr, certDir string, h http.Handler, logger logr.Logger) *Server {
	return &Server{Addr: addr, CertDir: certDir, Handler: h, Logger: logger, started: make(chan struct{})}
}

// NeedLeaderElection is false: every replica answers.
func (s *Server) NeedLeaderElection() bool { return false }

// Start listens and serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	cw, err := certwatcher.New(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("drain endpoint certificate: %w", err)
	}
	go func() {
		if err := cw.Start(ctx); err != nil {
			s.Logger.Error(err, "drain endpoint certificate watcher stopped")
		}
	}()
	ln, err := tls.Listen("tcp", s.Addr, &tls.Config{GetCertificate: cw.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		return fmt.Errorf("drain endpoint listening on %s: %w", s.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, s.Handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return log.IntoContext(context.WithoutCancel(ctx), s.Logger) },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.Logger.Info("serving the drain endpoint", "address", ln.Addr().String(), "path", Path)
	if s.started != nil {
		close(s.started)
	}
	err = srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("drain endpoint: %w", err)
}

// StartedChecker is a readiness check that passes once the server listens.
func (s *Server) StartedChecker() func(*http.Request) error {
	return func(*http.Request) error {
		select {
		case <-s.started:
			return nil
		default:
			return errors.New("drain endpoint not listening yet")
		}
	}
}
