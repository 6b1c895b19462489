package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// session is one Runtime API connection in interactive mode.
type session struct {
	conn    net.Conn
	stop    func() bool
	pending []byte
	buf     []byte
}

// dial opens a Runtime API connection and switches it to prompt mode. The
// connection's deadline is the earlier of ctx's and now + timeout, and ctx's
// cancellation aborts pending I/O.
func (i *Instance) dial(ctx context.Context) (*session, error) {
	deadline := time.Now().Add(i.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	i.roundTrips.Add(1)
	if i.tripsSeen != nil {
		i.tripsSeen.Inc()
	}
	conn, err := i.dialer.DialContext(dctx, i.network, i.address)
	if err != nil {
		return nil, fmt.Errorf("connect to HAProxy runtime API %s: %w", i.address, err)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set deadline on HAProxy runtime API connection: %w", err)
	}
	s := &session{conn: conn, buf: make([]byte, 32<<10)}
	s.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	// "prompt" answers with an empty response and the first prompt.
	if _, err := s.exchange(ctx, nil); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// exchange sends the commands, one per line, in one write and returns their
// responses in order. The first exchange of a session also sends "prompt"
// (handled by dial).
func (s *session) exchange(ctx context.Context, cmds []string) ([]string, error) {
	var b strings.Builder
	want := len(cmds)
	if s.pending == nil {
		s.pending = []byte{}
		b.WriteString("prompt\n")
		want++
	}
	for _, c := range cmds {
		b.WriteString(c)
		b.WriteByte('\n')
	}
	if _, err := s.conn.Write([]byte(b.String())); err != nil {
		return nil, s.ioError(ctx, "send commands", err)
	}
	resps := make([]string, 0, want)
	for len(resps) < want {
		if resp, n, ok := nextResponse(s.pending); ok {
			resps = append(resps, resp)
			s.pending = s.pending[n:]
			continue
		}
		n, err := s.conn.Read(s.buf)
		s.pending = append(s.pending, s.buf[:n]...)
		if err != nil {
			if n > 0 {
				continue
			}
			return nil, s.ioError(ctx, "read responses", err)
		}
	}
	if len(cmds) < want { // drop the response to "prompt"
		resps = resps[1:]
	}
	return resps, nil
}

func (s *session) ioError(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	} else if errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("connection closed by HAProxy: %w", err)
	}
	return fmt.Errorf("HAProxy runtime API: %s: %w", what, err)
}

// close sends "quit" and closes the connection.
func (s *session) close() {
	s.stop()
	_, _ = s.conn.Write([]byte("quit\n"))
	_ = s.conn.Close()
}
