package verify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
	"github.com/zerodrop/zerodrop/internal/verify/report"
)

// UnreachableError says that a target gave no HTTP response before the load
// started. Any HTTP status, 5xx included, counts as reachable: a load
// balancer answering 503 is up.
type UnreachableError struct {
	// URL is the target that did not answer.
	URL string
	// Class is how it failed.
	Class classify.Class
	// Err is the transport error.
	Err error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("target %s unreachable before the load started (%s): %v", e.URL, e.Class.Description(), e.Err)
}

// Unwrap returns the transport error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// ExitCode implements cli.ExitCoder.
func (e *UnreachableError) ExitCode() int { return report.ExitTargetUnreachable }

// probe sends one request to each distinct target, with a fresh connection.
func probe(ctx context.Context, targets []Target, timeout time.Duration) error {
	seen := map[string]bool{}
	client := &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, t := range targets {
		if seen[t.URL] {
			continue
		}
		seen[t.URL] = true
		req, err := http.NewRequestWithContext(ctx, t.Method, t.URL, bytes.NewReader(t.Body))
		if err != nil {
			return fmt.Errorf("building the probe request for %s: %w", t.URL, err)
		}
		for k, v := range t.Header {
			req.Header[k] = v
		}
		if h := t.Header.Get("Host"); h != "" {
			req.Host = h
		}
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{URL: t.URL, Class: classify.Classify(0, err), Err: err}
	}
	return nil
}
