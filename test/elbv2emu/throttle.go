package elbv2emu

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// AWS's documented ELB API buckets (elb-api-throttling), per account and
// region: a burst and a refill rate per second.
const (
	accountBurst, accountRate           = 40, 10
	describeBurst, describeRate         = 40, 10
	registrationBurst, registrationRate = 20, 4
	mutatingBurst, mutatingRate         = 20, 3
)

// throttle holds the buckets: every call takes one token from the account
// bucket and one from its action's bucket, or neither.
type throttle struct {
	mu           sync.Mutex
	account      *rate.Limiter
	describe     *rate.Limiter
	registration *rate.Limiter
	mutating     *rate.Limiter
}

func newThrottle() *throttle {
	return &throttle{
		account:      rate.NewLimiter(accountRate, accountBurst),
		describe:     rate.NewLimiter(describeRate, describeBurst),
		registration: rate.NewLimiter(registrationRate, registrationBurst),
		mutating:     rate.NewLimiter(mutatingRate, mutatingBurst),
	}
}

// bucket returns the action's own bucket: Describe* are non-mutating,
// RegisterTargets and DeregisterTargets are registration, the rest mutating.
func (t *throttle) bucket(action string) *rate.Limiter {
	switch {
	case strings.HasPrefix(action, "Describe"):
		return t.describe
	case action == actionRegisterTargets || action == actionDeregisterTargets:
		return t.registration
	}
	return t.mutating
}

// allow takes the call's tokens at now, or none when either bucket is
// empty.
func (t *throttle) allow(action string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(action)
	if t.account.TokensAt(now) < 1 || b.TokensAt(now) < 1 {
		return false
	}
	t.account.AllowN(now, 1)
	b.AllowN(now, 1)
	return true
}
