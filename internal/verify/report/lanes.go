package report

import "strings"

// BuildLanes derives one lane per pod and TargetBinding from the timeline:
// each lifecycle event opens a new segment, every other event about the
// subject (gate conditions, target counts, caller events such as "SIGTERM
// sent") becomes a mark. end closes segments still open at the end of the
// run. Events must be in time order.
func BuildLanes(events []Event, end float64) []Lane {
	var order []string
	lanes := map[string]*Lane{}
	for _, e := range events {
		if !laneSubject(e.Subject) {
			continue
		}
		l, ok := lanes[e.Subject]
		if !ok {
			l = &Lane{Subject: e.Subject}
			lanes[e.Subject] = l
			order = append(order, e.Subject)
		}
		state, isState := laneState(e.Kind)
		switch {
		case e.Kind == KindPodDeleted || e.Kind == KindBindingDeleted:
			closeLast(l, e.AtSeconds)
			l.Marks = append(l.Marks, Mark{AtSeconds: e.AtSeconds, Kind: e.Kind, Message: e.Message})
		case isState:
			if n := len(l.Segments); n > 0 && l.Segments[n-1].Open && l.Segments[n-1].State == state {
				break // no change of state
			}
			closeLast(l, e.AtSeconds)
			l.Segments = append(l.Segments, Segment{State: state, FromSeconds: e.AtSeconds, ToSeconds: end, Open: true})
		default:
			l.Marks = append(l.Marks, Mark{AtSeconds: e.AtSeconds, Kind: e.Kind, Message: e.Message})
		}
	}
	out := make([]Lane, 0, len(order))
	for _, s := range order {
		l := lanes[s]
		for i := range l.Segments {
			if l.Segments[i].ToSeconds < l.Segments[i].FromSeconds {
				l.Segments[i].ToSeconds = l.Segments[i].FromSeconds
			}
		}
		out = append(out, *l)
	}
	return out
}

func laneSubject(s string) bool {
	return strings.HasPrefix(s, "pod/") || strings.HasPrefix(s, "targetbinding/")
}

func closeLast(l *Lane, at float64) {
	if n := len(l.Segments); n > 0 && l.Segments[n-1].Open {
		l.Segments[n-1].ToSeconds = at
		l.Segments[n-1].Open = false
	}
}

// laneState maps a lifecycle event kind to the state it starts.
func laneState(kind string) (string, bool) {
	switch kind {
	case KindPodCreated, KindPodObserved:
		return StatePending, true
	case KindPodScheduled:
		return StateScheduled, true
	case KindPodReady, KindBindingReady:
		return StateReady, true
	case KindPodNotReady, KindBindingNotReady:
		return StateNotReady, true
	case KindPodTerminating:
		return StateTerminating, true
	case KindBindingObserved:
		return StatePending, true
	}
	return "", false
}
