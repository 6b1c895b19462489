// Package faultserver starts HTTP/1.1 servers on loopback addresses that
// fail in one chosen way on every request: a status code, a reset in the
// middle of the response, no answer until the client gives up, a close right
// after reading the request. Tests of zerodrop verify use it to produce each
// failure class on purpose with real sockets; it is not used in production.
package faultserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Behavior is how a server answers each request.
type Behavior struct {
	// Status is the status code sent (default 200).
	Status int
	// Reset sends the headers and part of the body, then resets the
	// connection (SO_LINGER 0, close).
	Reset bool
	// Hang reads the request and never answers; the connection is closed
	// when the client gives up or the server stops.
	Hang bool
	// CloseAfterRequest reads the request and closes the connection
	// without a byte of response (the client sees EOF).
	CloseAfterRequest bool
	// Fail, if set, is asked for each request (with vegeta's sequence
	// number, -1 when absent) and answers FailStatus when it returns true.
	Fail       func(seq int64) bool
	FailStatus int
}

// Server is a running fault server.
type Server struct {
	// URL is http://ADDR/.
	URL string
	// Requests counts requests read.
	Requests atomic.Int64
	// Failed counts requests answered with FailStatus.
	Failed atomic.Int64

	ln    net.Listener
	b     Behavior
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Start listens on host:0 (host such as "127.43.1.2") and serves b until
// the test ends.
func Start(t testing.TB, host string, b Behavior) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("faultserver: listening on %s: %v", host, err)
	}
	s := &Server{URL: "http://" + ln.Addr().String() + "/", ln: ln, b: b, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// RefusedURL returns a URL on host where nothing listens: a port that was
// just bound and released.
func RefusedURL(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("faultserver: listening on %s: %v", host, err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("faultserver: closing %s: %v", addr, err)
	}
	return "http://" + addr + "/"
}

// Close stops the server and closes every connection.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *Server) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := br.Discard(int(max(req.ContentLength, 0))); err != nil {
			return
		}
		s.Requests.Add(1)
		switch {
		case s.b.CloseAfterRequest:
			return
		case s.b.Hang:
			_ = c.SetReadDeadline(time.Time{})
			_, _ = br.ReadByte() // returns when the client closes or Close runs
			return
		case s.b.Reset:
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
			time.Sleep(5 * time.Millisecond) // let the partial response leave first
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			return
		}
		status := s.b.Status
		if status == 0 {
			status = http.StatusOK
		}
		if s.b.Fail != nil {
			seq, err := strconv.ParseInt(req.Header.Get("X-Vegeta-Seq"), 10, 64)
			if err != nil {
				seq = -1
			}
			if s.b.Fail(seq) {
				status = s.b.FailStatus
				s.Failed.Add(1)
			}
		}
		body := http.StatusText(status)
		if _, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", status, body, len(body), body); err != nil {
			return
		}
		if req.Close {
			return
		}
	}
}
