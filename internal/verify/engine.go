package verify

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
)

// seqHeader is the request header vegeta numbers its requests with; the
// transport reads it to match a typed error to vegeta's result.
const seqHeader = "X-Vegeta-Seq"

// Result is the outcome of one request.
type Result struct {
	// Seq numbers requests from 0 in send order.
	Seq uint64
	// URL is the target hit.
	URL string
	// Sent is when the request left.
	Sent time.Time
	// Scheduled is when it was due; Sent - Scheduled is the schedule lag.
	Scheduled time.Time
	// Latency is the time from Sent to the complete response or failure.
	Latency time.Duration
	// Code is the HTTP status, 0 when no complete response arrived.
	Code int
	// Err is the transport error, nil on a complete response.
	Err error
	// Class is classify.Classify(Code, Err).
	Class classify.Class
	// Conn is the connection a failed request went out on; it is zero for
	// a request that succeeded (verify keeps it only for failures).
	Conn ConnInfo
}

// ConnInfo is how a request got its connection (net/http/httptrace's
// GotConnInfo, without the connection).
type ConnInfo struct {
	// Got is false when the request failed before it had a connection
	// (a failed dial, say).
	Got bool
	// Reused is true for a kept-alive connection used before.
	Reused bool
	// IdleTime is how long a reused connection had been idle in the pool.
	IdleTime time.Duration
	// Local is the connection's local address (the client's port, which
	// the LB's own log names).
	Local string
}

// failure is what recordingTransport keeps of a failed request.
type failure struct {
	err  error
	conn ConnInfo
}

// engine drives vegeta at a constant rate with a hit count that the run can
// extend while the load is under way.
type engine struct {
	targets   []Target
	rate      int
	timeout   time.Duration
	keepAlive bool
	// idleTimeout closes kept-alive connections idle this long.
	idleTimeout time.Duration
	maxLag      time.Duration
}

// schedulePacer is an open-model constant-rate vegeta.Pacer: hit k is due at
// k/rate after the start whatever happened to earlier hits (vegeta adds
// workers when all are busy). It stops after limit hits, or when the sender
// is more than maxLag behind schedule (the machine cannot keep up: going on
// would silently send at a lower rate).
type schedulePacer struct {
	rate    int
	maxLag  time.Duration
	limit   *atomic.Uint64
	aborted *atomic.Bool
}

func (p schedulePacer) due(hits uint64) time.Duration {
	return time.Duration(hits * uint64(time.Second) / uint64(p.rate))
}

// Pace implements vegeta.Pacer.
func (p schedulePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= p.limit.Load() {
		return 0, true
	}
	wait := p.due(hits) - elapsed
	if -wait > p.maxLag {
		p.aborted.Store(true)
		return 0, true
	}
	return wait, false
}

// Rate implements vegeta.Pacer.
func (p schedulePacer) Rate(time.Duration) float64 { return float64(p.rate) }

// attack is one running load.
type attack struct {
	start   time.Time
	limit   atomic.Uint64
	aborted atomic.Bool
	results <-chan *vegeta.Result
	stop    func() bool
	rt      *recordingTransport
	rate    int
}

// start begins sending limit requests; extend the count with attack.limit.
func (e engine) start(limit uint64) (*attack, error) {
	tgts := make([]vegeta.Target, 0, len(e.targets))
	for _, t := range e.targets {
		tgts = append(tgts, vegeta.Target{Method: t.Method, URL: t.URL, Header: t.Header.Clone(), Body: t.Body})
	}
	rt := newRecordingTransport(e.timeout, e.keepAlive, e.idleTimeout)
	client := &http.Client{
		Transport: rt,
		// Redirects are results, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	atk := &attack{rt: rt, rate: e.rate}
	atk.limit.Store(limit)
	a := vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxBody(0), vegeta.Workers(32))
	pacer := schedulePacer{rate: e.rate, maxLag: e.maxLag, limit: &atk.limit, aborted: &atk.aborted}
	atk.start = time.Now()
	atk.results = a.Attack(vegeta.NewStaticTargeter(tgts...), pacer, 0, "")
	atk.stop = a.Stop
	return atk, nil
}

// result converts one vegeta result, looking up its typed error.
func (a *attack) result(r *vegeta.Result) Result {
	res := Result{
		Seq:       r.Seq,
		URL:       r.URL,
		Sent:      r.Timestamp,
		Scheduled: a.start.Add(time.Duration(r.Seq * uint64(time.Second) / uint64(a.rate))),
		Latency:   r.Latency,
		Code:      int(r.Code),
	}
	f := a.rt.take(r.Seq)
	res.Err, res.Conn = f.err, f.conn
	if res.Err == nil && r.Code == 0 && r.Error != "" {
		res.Err = errors.New(r.Error) // failed before reaching the transport
	}
	if res.Err != nil {
		res.Code = 0
	}
	res.Class = classify.Classify(res.Code, res.Err)
	return res
}

// recordingTransport applies the per-request timeout (to connect, headers
// and body alike) and keeps the typed error of every failed request, which
// vegeta only reports as a string, with how it got its connection.
type recordingTransport struct {
	inner   *http.Transport
	timeout time.Duration
	errs    sync.Map // uint64 seq -> failure
}

func newRecordingTransport(timeout time.Duration, keepAlive bool, idleTimeout time.Duration) *recordingTransport {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !keepAlive {
		d.KeepAlive = -1
	}
	return &recordingTransport{
		timeout: timeout,
		inner: &http.Transport{
			// No proxy: verify measures the target itself.
			Proxy:               nil,
			DialContext:         d.DialContext,
			DisableKeepAlives:   !keepAlive,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: 10000,
			MaxConnsPerHost:     0, // never queue a request for a connection
			IdleConnTimeout:     idleTimeout,
			DisableCompression:  true,
			// HTTP/1.1 only, also for https targets.
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		},
	}
}

// RoundTrip implements http.RoundTripper.
func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	seq, seqErr := strconv.ParseUint(req.Header.Get(seqHeader), 10, 64)
	var conn ConnInfo
	record := func(err error) {
		if seqErr == nil && err != nil {
			t.errs.Store(seq, failure{err: err, conn: conn})
		}
	}
	ctx, cancel := context.WithTimeoutCause(req.Context(), t.timeout, classify.ErrTimeout)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		conn = ConnInfo{Got: true, Reused: i.Reused, IdleTime: i.IdleTime, Local: i.Conn.LocalAddr().String()}
	}})
	resp, err := t.inner.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		record(err)
		return nil, err
	}
	resp.Body = &recordingBody{ReadCloser: resp.Body, cancel: cancel, record: record}
	return resp, nil
}

func (t *recordingTransport) take(seq uint64) failure {
	v, ok := t.errs.LoadAndDelete(seq)
	if !ok {
		return failure{}
	}
	return v.(failure)
}

func (t *recordingTransport) close() { t.inner.CloseIdleConnections() }

// recordingBody records the first read error other than io.EOF and ends the
// request's timeout when closed.
type recordingBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	record func(error)
	failed bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && !b.failed {
		b.failed = true
		b.record(err)
	}
	return n, err
}

func (b *recordingBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
