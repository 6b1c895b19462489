package drain

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock advances only when slept on.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time                           { return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) { c.now = c.now.Add(d) }

// script answers ask calls from a list; the last entry repeats.
type script []func() (Answer, error)

func (s *script) ask(context.Context) (Answer, error) {
	f := (*s)[0]
	if len(*s) > 1 {
		*s = (*s)[1:]
	}
	return f()
}

func draining() (Answer, error)  { return Answer{Reason: ReasonDraining}, nil }
func drained() (Answer, error)   { return Answer{Drained: true, Reason: ReasonDrained}, nil }
func down() (Answer, error)      { return Answer{}, errors.New("connection refused") }
func refused() (Answer, error)   { return Answer{}, &PermanentError{errors.New("401")} }
func throttled() (Answer, error) { return Answer{}, &ThrottledError{errors.New("429")} }

func TestWait(t *testing.T) {
	o := WaitOptions{MaxWait: 20 * time.Second, FallbackWait: 8 * time.Second, Interval: 100 * time.Millisecond, UnreachableAfter: 2 * time.Second}
	tests := []struct {
		name   string
		script script
		want   Outcome
		waited time.Duration
	}{
		{"returns as soon as the controller says drained", script{draining, draining, draining, drained}, OutcomeDrained, 300 * time.Millisecond},
		{"an unreachable controller falls back to the LB-derived wait from the start", script{down}, OutcomeFallback, 8 * time.Second},
		{"a refused token falls back at once", script{refused}, OutcomeFallback, 8 * time.Second},
		{"a short outage within UnreachableAfter does not fall back", script{down, down, down, draining, drained}, OutcomeDrained, 400 * time.Millisecond},
		{"never drained ends at the max wait", script{draining}, OutcomeMaxWait, 20 * time.Second},
		{"a throttled ask is an answer, not an outage", script{down, throttled, down, throttled}, OutcomeMaxWait, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(0, 0)}
			r := Wait(context.Background(), tt.script.ask, o, clk)
			if r.Outcome != tt.want || r.Waited != tt.waited {
				t.Errorf("Wait = %s after %s, want %s after %s", r.Outcome, r.Waited, tt.want, tt.waited)
			}
		})
	}
	t.Run("the fallback never passes the max wait", func(t *testing.T) {
		clk := &fakeClock{now: time.Unix(0, 0)}
		short := o
		short.MaxWait = 5 * time.Second
		s := script{down}
		if r := Wait(context.Background(), s.ask, short, clk); r.Outcome != OutcomeFallback || r.Waited != 5*time.Second {
			t.Errorf("Wait = %s after %s, want fallback after 5s", r.Outcome, r.Waited)
		}
	})
}

func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"https://zerodrop-webhook.zerodrop-system.svc:9444/v1/drained", true},
		{"http://zerodrop-webhook.zerodrop-system.svc:9444/v1/drained", false},
		{"HTTP://127.0.0.1:9444/v1/drained", false},
		{"https:///v1/drained", false},
		{"127.0.0.1:9444", false},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			err := CheckEndpoint(tt.endpoint)
			if (err == nil) != tt.ok {
				t.Errorf("CheckEndpoint(%q) = %v, want ok %v", tt.endpoint, err, tt.ok)
			}
			if _, err := NewClient(tt.endpoint, "token", nil); (err == nil) != tt.ok {
				t.Errorf("NewClient(%q) = %v, want ok %v", tt.endpoint, err, tt.ok)
			}
		})
	}
}
