package integration

import (
	"net"
	"testing"

	"github.com/zerodrop/zerodrop/internal/loadbalancer/conformance"
)

// holdPath is where a target holds a request open until released.
const holdPath = conformance.HoldPath

// startTarget starts a real HTTP server standing in for a pod's app on ip
// at a free port, failing its health checks until told otherwise.
func startTarget(t testing.TB, ip string) *conformance.Server {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listening on %s: %v", ip, err)
	}
	s := conformance.NewServer(t, l, "/healthz")
	s.SetHealthy(false)
	return s
}
