package classify_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
	"github.com/zerodrop/zerodrop/internal/verify/faultserver"
)

func TestClassify_statusCodes(t *testing.T) {
	for _, tc := range []struct {
		code int
		want classify.Class
	}{
		{200, classify.OK},
		{204, classify.OK},
		{301, classify.OK},
		{399, classify.OK},
		{400, classify.HTTP4xx},
		{404, classify.HTTP4xx},
		{429, classify.HTTP4xx},
		{500, classify.HTTP5xx},
		{501, classify.HTTP5xx},
		{502, classify.HTTP502},
		{503, classify.HTTP503},
		{504, classify.HTTP504},
		{599, classify.HTTP5xx},
		{0, classify.TransportOther},
	} {
		if got := classify.Classify(tc.code, nil); got != tc.want {
			t.Errorf("Classify(%d, nil) = %s, want %s", tc.code, got, tc.want)
		}
	}
}

// get sends one request with a fresh connection the way verify's engine
// does: timeout as the context's cause, body read to the end.
func get(url string, timeout time.Duration, clientTimeout bool) (int, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx := context.Background()
	if clientTimeout {
		client.Timeout = timeout
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, classify.ErrTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func TestClassify_realSocketErrors(t *testing.T) {
	const host = "127.43.0.1"
	for _, tc := range []struct {
		name          string
		url           func(t *testing.T) string
		clientTimeout bool
		want          classify.Class
	}{
		{name: "502 response", url: status(host, 502), want: classify.HTTP502},
		{name: "503 response", url: status(host, 503), want: classify.HTTP503},
		{name: "504 response", url: status(host, 504), want: classify.HTTP504},
		{name: "500 response", url: status(host, 500), want: classify.HTTP5xx},
		{name: "404 response", url: status(host, 404), want: classify.HTTP4xx},
		{name: "200 response", url: status(host, 200), want: classify.OK},
		{name: "refused port", url: func(t *testing.T) string { return faultserver.RefusedURL(t, host) }, want: classify.Refused},
		{name: "reset mid-response", url: behave(host, faultserver.Behavior{Reset: true}), want: classify.Reset},
		{name: "closed after reading the request", url: behave(host, faultserver.Behavior{CloseAfterRequest: true}), want: classify.EOF},
		{name: "no answer within the context timeout", url: behave(host, faultserver.Behavior{Hang: true}), want: classify.Timeout},
		{name: "no answer within http.Client.Timeout", url: behave(host, faultserver.Behavior{Hang: true}), clientTimeout: true, want: classify.Timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := get(tc.url(t), 300*time.Millisecond, tc.clientTimeout)
			if got := classify.Classify(code, err); got != tc.want {
				t.Errorf("Classify(%d, %v) = %s, want %s", code, err, got, tc.want)
			}
		})
	}
}

func TestClassify_otherErrors(t *testing.T) {
	var dnsErr error = &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}
	for _, tc := range []struct {
		name string
		err  error
		want classify.Class
	}{
		{"dns failure", dnsErr, classify.TransportOther},
		{"plain error", errors.New("boom"), classify.TransportOther},
		{"unexpected EOF", io.ErrUnexpectedEOF, classify.EOF},
		{"deadline exceeded", context.DeadlineExceeded, classify.Timeout},
		{"error wins over status", io.EOF, classify.EOF},
	} {
		if got := classify.Classify(200, tc.err); got != tc.want {
			t.Errorf("%s: Classify(200, %v) = %s, want %s", tc.name, tc.err, got, tc.want)
		}
	}
}

func status(host string, code int) func(t *testing.T) string {
	return behave(host, faultserver.Behavior{Status: code})
}

func behave(host string, b faultserver.Behavior) func(t *testing.T) string {
	return func(t *testing.T) string { return faultserver.Start(t, host, b).URL }
}
