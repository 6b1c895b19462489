package elbv2

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Budget is zerodrop's share of the account and region's ELB API budget:
// a steady rate and a burst per kind of call.
type Budget struct {
	DescribePerSecond float64
	DescribeBurst     int
	RegisterPerSecond float64
	RegisterBurst     int
}

// Defaults of Budget: half of AWS's documented refill rates (Describe* 10
// per second, Register/DeregisterTargets 4), leaving the rest to the AWS
// Load Balancer Controller, Terraform and humans in the same account.
const (
	DefaultDescribePerSecond = 5
	DefaultDescribeBurst     = 10
	DefaultRegisterPerSecond = 2
	DefaultRegisterBurst     = 10
)

// withDefaults fills zero fields.
func (b Budget) withDefaults() Budget {
	if b.DescribePerSecond <= 0 {
		b.DescribePerSecond = DefaultDescribePerSecond
	}
	if b.DescribeBurst <= 0 {
		b.DescribeBurst = DefaultDescribeBurst
	}
	if b.RegisterPerSecond <= 0 {
		b.RegisterPerSecond = DefaultRegisterPerSecond
	}
	if b.RegisterBurst <= 0 {
		b.RegisterBurst = DefaultRegisterBurst
	}
	return b
}

// min returns the smaller of each field.
func (b Budget) min(o Budget) Budget {
	return Budget{
		DescribePerSecond: min(b.DescribePerSecond, o.DescribePerSecond),
		DescribeBurst:     min(b.DescribeBurst, o.DescribeBurst),
		RegisterPerSecond: min(b.RegisterPerSecond, o.RegisterPerSecond),
		RegisterBurst:     min(b.RegisterBurst, o.RegisterBurst),
	}
}

// limiters are the token buckets of one region and endpoint, shared by
// every Instance there.
type limiters struct {
	describe, register *rate.Limiter
}

func newLimiters(b Budget) *limiters {
	return &limiters{
		describe: rate.NewLimiter(rate.Limit(b.DescribePerSecond), b.DescribeBurst),
		register: rate.NewLimiter(rate.Limit(b.RegisterPerSecond), b.RegisterBurst),
	}
}

// set changes the buckets' rates and bursts in place.
func (l *limiters) set(b Budget) {
	l.describe.SetLimit(rate.Limit(b.DescribePerSecond))
	l.describe.SetBurst(b.DescribeBurst)
	l.register.SetLimit(rate.Limit(b.RegisterPerSecond))
	l.register.SetBurst(b.RegisterBurst)
}

// kindOf returns the bucket kind of an API action: Describe* are describe,
// RegisterTargets and DeregisterTargets register; "" for anything else
// (zerodrop calls nothing else).
func kindOf(action string) string {
	switch {
	case strings.HasPrefix(action, "Describe"):
		return KindDescribe
	case action == "RegisterTargets" || action == "DeregisterTargets":
		return KindRegister
	}
	return ""
}

func (l *limiters) of(kind string) *rate.Limiter {
	switch kind {
	case KindDescribe:
		return l.describe
	case KindRegister:
		return l.register
	}
	return nil
}

// budgetMiddlewareID is the ID of the budget middleware in the SDK's stack.
const budgetMiddlewareID = "zerodropBudget"

// throttles says which errors are AWS throttling (Throttling,
// ThrottlingException, ...): the SDK's own list.
var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

// budgetMiddleware returns an APIOptions function that adds, after the
// SDK's retry middleware (so once per attempt), a wait for a token of the
// call's bucket and the count of the attempt by outcome.
func budgetMiddleware(region string, l *limiters, m *metrics) func(*middleware.Stack) error {
	mw := middleware.FinalizeMiddlewareFunc(budgetMiddlewareID, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		action := awsmiddleware.GetOperationName(ctx)
		kind := kindOf(action)
		if lim := l.of(kind); lim != nil {
			start := time.Now()
			if err := lim.Wait(ctx); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			m.budgetWait.WithLabelValues(region, kind).Observe(time.Since(start).Seconds())
		}
		out, md, err := next.HandleFinalize(ctx, in)
		outcome := OutcomeOK
		switch {
		case err == nil:
		case throttles.IsErrorThrottle(err) == aws.TrueTernary:
			outcome = OutcomeThrottled
		default:
			outcome = OutcomeError
		}
		m.calls.WithLabelValues(region, action, outcome).Inc()
		return out, md, err
	})
	return func(s *middleware.Stack) error {
		return s.Finalize.Insert(mw, "Retry", middleware.After)
	}
}
