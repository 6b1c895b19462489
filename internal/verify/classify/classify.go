// Package classify sorts the outcome of one HTTP request — its status code
// and transport error — into the failure classes zerodrop verify counts.
//
// Classify is a pure function: it looks only at the status code and at the
// error chain (errors.Is / errors.As), never at error strings, so it gives
// the same answer for the same kernel error whatever Go wrapped it in.
package classify

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Class is one outcome class of a request. Its string value is stable: it
// is the key used in verify's JSON report.
type Class string

// The classes, in the order reports list them.
const (
	// OK is a response with a status below 400 (redirects are not followed).
	OK Class = "ok"
	// HTTP502 is a 502 Bad Gateway response: the LB reached no live backend.
	HTTP502 Class = "http_502"
	// HTTP503 is a 503 Service Unavailable response: the LB had no backend.
	HTTP503 Class = "http_503"
	// HTTP504 is a 504 Gateway Timeout response.
	HTTP504 Class = "http_504"
	// HTTP5xx is any other 5xx response.
	HTTP5xx Class = "http_5xx"
	// HTTP4xx is any 4xx response.
	HTTP4xx Class = "http_4xx"
	// Refused is a connection refused (ECONNREFUSED): nothing listened.
	Refused Class = "refused"
	// Reset is a connection reset (ECONNRESET) or broken pipe (EPIPE), before
	// or in the middle of a response.
	Reset Class = "reset"
	// Timeout is a request that did not complete within the per-request
	// timeout (connect, headers or body).
	Timeout Class = "timeout"
	// EOF is a connection closed by the peer without a (complete) response.
	EOF Class = "eof"
	// TransportOther is any other transport error (DNS, TLS, unreachable
	// network, malformed response, ...).
	TransportOther Class = "transport_other"
)

// All returns every class in report order, OK first.
func All() []Class {
	return []Class{OK, HTTP502, HTTP503, HTTP504, HTTP5xx, HTTP4xx, Refused, Reset, Timeout, EOF, TransportOther}
}

// Failures returns every class except OK, in report order.
func Failures() []Class { return All()[1:] }

// Failed reports whether c counts against the error budget.
func (c Class) Failed() bool { return c != OK }

// Description is a short human description of c, for reports.
func (c Class) Description() string {
	switch c {
	case OK:
		return "success (status < 400)"
	case HTTP502:
		return "502 Bad Gateway"
	case HTTP503:
		return "503 Service Unavailable"
	case HTTP504:
		return "504 Gateway Timeout"
	case HTTP5xx:
		return "other 5xx status"
	case HTTP4xx:
		return "4xx status"
	case Refused:
		return "connection refused"
	case Reset:
		return "connection reset"
	case Timeout:
		return "timed out"
	case EOF:
		return "closed without response (EOF)"
	case TransportOther:
		return "other transport error"
	}
	return string(c)
}

// ErrTimeout is the cause verify's engine gives a request's context when its
// per-request timeout fires, so that Classify can tell the timeout from a
// cancellation by the caller.
var ErrTimeout = errors.New("request timed out")

// Classify returns the class of one request outcome: err is the transport
// error (nil when a response with status code was received and read
// completely); code is ignored when err is not nil.
func Classify(code int, err error) Class {
	if err != nil {
		return classifyError(err)
	}
	switch {
	case code == 502:
		return HTTP502
	case code == 503:
		return HTTP503
	case code == 504:
		return HTTP504
	case code >= 500:
		return HTTP5xx
	case code >= 400:
		return HTTP4xx
	case code <= 0:
		return TransportOther
	}
	return OK
}

func classifyError(err error) Class {
	// Order matters: a reset seen after the deadline passed is still a
	// reset, but a deadline that wraps an EOF-looking error is a timeout.
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Reset
	case isTimeout(err):
		return Timeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EOF
	}
	return TransportOther
}

func isTimeout(err error) bool {
	if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
