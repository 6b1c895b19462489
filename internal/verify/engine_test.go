package verify

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestSchedulePacer_Pace(t *testing.T) {
	newPacer := func(limit uint64) (schedulePacer, *atomic.Bool) {
		var l atomic.Uint64
		var aborted atomic.Bool
		l.Store(limit)
		return schedulePacer{rate: 100, maxLag: time.Second, limit: &l, aborted: &aborted}, &aborted
	}
	for _, tc := range []struct {
		name        string
		elapsed     time.Duration
		hits        uint64
		limit       uint64
		wantWait    time.Duration
		wantStop    bool
		wantAborted bool
	}{
		{"first hit is due at once", 0, 0, 10, 0, false, false},
		{"next hit waits for its slot", 15 * time.Millisecond, 2, 10, 5 * time.Millisecond, false, false},
		{"behind schedule sends at once", 500 * time.Millisecond, 10, 100, -400 * time.Millisecond, false, false},
		{"limit reached stops", time.Second, 10, 10, 0, true, false},
		{"too far behind aborts", 3 * time.Second, 10, 1000, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, aborted := newPacer(tc.limit)
			wait, stop := p.Pace(tc.elapsed, tc.hits)
			if wait != tc.wantWait || stop != tc.wantStop || aborted.Load() != tc.wantAborted {
				t.Errorf("Pace(%s, %d) = %s, %t (aborted %t); want %s, %t (aborted %t)",
					tc.elapsed, tc.hits, wait, stop, aborted.Load(), tc.wantWait, tc.wantStop, tc.wantAborted)
			}
		})
	}
}
