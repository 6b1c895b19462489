package demo

import (
	"slices"
	"time"
)

// Distribution is the median and 95th percentile (nearest rank) of some
// durations.
type Distribution struct {
	N           int
	Median, P95 time.Duration
}

// Distribute computes a Distribution of ds.
func Distribute(ds []time.Duration) Distribution {
	if len(ds) == 0 {
		return Distribution{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Distribution{N: len(s), Median: rank(0.5), P95: rank(0.95)}
}

// Figures are the headline numbers of a run (what `make bench` prints).
type Figures struct {
	// Failed and Sent add up every rollout kind, per mode.
	Failed, Sent map[Mode]int64
	// RolloutZerodrop and RolloutStatic are the rolling update's
	// durations; Floor is its lower bound: batches × (app start-up + rise ×
	// check interval) + the median drain time HAProxy showed for zerodrop.
	RolloutZerodrop, RolloutStatic, Floor time.Duration
	// RolloutRatioStatic is RolloutZerodrop / RolloutStatic;
	// RolloutRatioFloor is RolloutZerodrop / Floor (0 when unknown).
	RolloutRatioStatic, RolloutRatioFloor float64
	// ZerodropSIGTERM and StaticSIGTERM are deletion→SIGTERM over every
	// deleted pod of every kind.
	ZerodropSIGTERM, StaticSIGTERM Distribution
}

// Headline computes the headline numbers of res.
func Headline(res *Result) Figures {
	s := res.Scenario
	f := Figures{Failed: map[Mode]int64{}, Sent: map[Mode]int64{}}
	var zdSig, stSig, zdDrain []time.Duration
	for _, k := range res.Kinds {
		for _, r := range k.Modes {
			f.Failed[r.Mode] += r.Failed
			f.Sent[r.Mode] += r.Sent
			for _, p := range r.Pods {
				switch r.Mode {
				case ModeZerodrop:
					zdSig = append(zdSig, p.DeletionToSIGTERM)
					if p.HasLBDrain {
						zdDrain = append(zdDrain, p.LBDrain)
					}
				case ModeStatic:
					stSig = append(stSig, p.DeletionToSIGTERM)
				}
			}
		}
		if k.Kind == RollingUpdate {
			if r := k.Mode(ModeZerodrop); r != nil {
				f.RolloutZerodrop = r.Rollout
			}
			if r := k.Mode(ModeStatic); r != nil {
				f.RolloutStatic = r.Rollout
			}
		}
	}
	f.ZerodropSIGTERM, f.StaticSIGTERM = Distribute(zdSig), Distribute(stSig)
	batches := time.Duration(s.Batches()) // zerodrop's rollout replaces maxSurge pods at a time
	f.Floor = batches*(s.App.StartupDelay.Duration+time.Duration(s.LoadBalancer.Rise)*s.LoadBalancer.CheckInterval.Duration) +
		Distribute(zdDrain).Median
	if f.RolloutStatic > 0 {
		f.RolloutRatioStatic = f.RolloutZerodrop.Seconds() / f.RolloutStatic.Seconds()
	}
	if f.Floor > 0 && f.RolloutZerodrop > 0 {
		f.RolloutRatioFloor = f.RolloutZerodrop.Seconds() / f.Floor.Seconds()
	}
	return f
}
