package drain

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
)

// limiterIdle is how long a pod's limiter is kept without an ask.
const limiterIdle = time.Minute

// PodLimiter bounds how often each pod is answered (each answer reads the
// pod and asks every instance), so that a pod asking in a loop cannot
// multiply the controller's load on the load balancers. It is safe for
// concurrent use; pods that stopped asking are forgotten.
type PodLimiter struct {
	// Rate is the answers per second one pod may get, Burst how many at
	// once.
	Rate  rate.Limit
	Burst int

	mu        sync.Mutex
	pods      map[types.UID]*podLimit
	lastPurge time.Time
}

type podLimit struct {
	l    *rate.Limiter
	last time.Time
}

// NewPodLimiter returns a limiter with DefaultPodRate and DefaultPodBurst.
func NewPodLimiter() *PodLimiter {
	return &PodLimiter{Rate: DefaultPodRate, Burst: DefaultPodBurst}
}

// Allow reports whether pod uid may be answered now.
func (p *PodLimiter) Allow(uid types.UID, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pods == nil {
		p.pods = map[types.UID]*podLimit{}
	}
	if now.Sub(p.lastPurge) > limiterIdle {
		for k, pl := range p.pods {
			if now.Sub(pl.last) > limiterIdle {
				delete(p.pods, k)
			}
		}
		p.lastPurge = now
	}
	pl := p.pods[uid]
	if pl == nil {
		pl = &podLimit{l: rate.NewLimiter(p.Rate, p.Burst)}
		p.pods[uid] = pl
	}
	pl.last = now
	return pl.l.AllowN(now, 1)
}
