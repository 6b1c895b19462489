package drain

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Client asks the controller whether its own pod is drained.
type Client struct {
	// URL is the handler's full URL.
	URL string
	// TokenFile holds the pod's projected token (re-read on every ask:
	// the kubelet rotates it).
	TokenFile string
	// HTTP sends the requests.
	HTTP *http.Client
}

// NewClient returns a client for endpoint that trusts the PEM CA bundle
// caPEM (the system roots when empty). The endpoint must be https: the pod
// sends its token. Each ask is bounded by ClientTimeout.
func NewClient(endpoint, tokenFile string, caPEM []byte) (*Client, error) {
	if err := CheckEndpoint(endpoint); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("no certificate found in the CA bundle")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{URL: endpoint, TokenFile: tokenFile, HTTP: &http.Client{Transport: tr, Timeout: ClientTimeout}}, nil
}

// CheckEndpoint refuses an endpoint URL that is not https with a host: the
// pod's token must not travel in clear.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("drain endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("drain endpoint %q: must be an https:// URL (the pod sends its token)", endpoint)
	}
	return nil
}

// PermanentError is a refusal that asking again will not change (the
// token is rejected or the request is refused).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// ThrottledError says the controller answered but asks this pod to ask
// less often (429): it is reachable, so this is no step towards the
// fallback.
type ThrottledError struct{ Err error }

func (e *ThrottledError) Error() string { return e.Err.Error() }
func (e *ThrottledError) Unwrap() error { return e.Err }

// Ask asks once.
func (c *Client) Ask(ctx context.Context) (Answer, error) {
	token, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return Answer{}, &PermanentError{fmt.Errorf("reading token: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return Answer{}, &PermanentError{fmt.Errorf("drain endpoint %q: %w", c.URL, err)}
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("asking the controller: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Answer{}, &PermanentError{fmt.Errorf("controller refused: %s: %s", resp.Status, strings.TrimSpace(string(body)))}
	case resp.StatusCode == http.StatusTooManyRequests:
		return Answer{}, &ThrottledError{fmt.Errorf("controller answered %s: %s", resp.Status, strings.TrimSpace(string(body)))}
	case resp.StatusCode != http.StatusOK:
		return Answer{}, fmt.Errorf("controller answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return Answer{}, fmt.Errorf("decoding the controller's answer: %w", err)
	}
	return a, nil
}

// WaitOptions bound a wait.
type WaitOptions struct {
	// MaxWait is the most the wait may take (the pod's grace period minus
	// the app's shutdown budget).
	MaxWait time.Duration
	// FallbackWait is how long to wait in all when the controller cannot
	// be reached: the load balancer's own settings (check interval × fall
	// + drain timeout), computed at admission.
	FallbackWait time.Duration
	// Interval between two asks.
	Interval time.Duration
	// UnreachableAfter is how long asks may fail in a row before the
	// controller counts as unreachable.
	UnreachableAfter time.Duration
}

// Outcome says how a wait ended.
type Outcome string

// Outcomes.
const (
	OutcomeDrained  Outcome = "drained"
	OutcomeFallback Outcome = "fallback"
	OutcomeMaxWait  Outcome = "max-wait"
)

// Result is how a wait ended.
type Result struct {
	Outcome Outcome
	// Answer is the last answer, if any.
	Answer Answer
	// Waited is the time from start to end.
	Waited time.Duration
	// Err is why the fallback was used.
	Err error
}

// Clock is the time source of a wait; tests pass a fake.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration)
}

// Wait asks until the answer is drained, the controller counts as
// unreachable (then it waits out FallbackWait from the start) or MaxWait
// passes.
func Wait(ctx context.Context, ask func(context.Context) (Answer, error), o WaitOptions, clk Clock) Result {
	start := clk.Now()
	deadline := start.Add(o.MaxWait)
	var failingSince time.Time
	var last Answer
	for {
		a, err := ask(ctx)
		now := clk.Now()
		var perm *PermanentError
		var throttled *ThrottledError
		switch {
		case err == nil && a.Drained:
			return Result{Outcome: OutcomeDrained, Answer: a, Waited: now.Sub(start)}
		case err == nil:
			last, failingSince = a, time.Time{}
		case errors.As(err, &throttled):
			failingSince = time.Time{}
		case errors.As(err, &perm):
			return fallback(ctx, start, deadline, o, clk, err)
		default:
			if failingSince.IsZero() {
				failingSince = now
			}
			if now.Sub(failingSince) >= o.UnreachableAfter {
				return fallback(ctx, start, deadline, o, clk, err)
			}
		}
		if !now.Add(o.Interval).Before(deadline) || ctx.Err() != nil {
			clk.Sleep(ctx, deadline.Sub(now))
			return Result{Outcome: OutcomeMaxWait, Answer: last, Waited: clk.Now().Sub(start)}
		}
		clk.Sleep(ctx, o.Interval)
	}
}

// fallback waits until FallbackWait from the start (never past deadline).
func fallback(ctx context.Context, start, deadline time.Time, o WaitOptions, clk Clock, err error) Result {
	end := start.Add(o.FallbackWait)
	if end.After(deadline) {
		end = deadline
	}
	if d := end.Sub(clk.Now()); d > 0 {
		clk.Sleep(ctx, d)
	}
	return Result{Outcome: OutcomeFallback, Waited: clk.Now().Sub(start), Err: err}
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep sleeps for d or until ctx ends.
func (RealClock) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
