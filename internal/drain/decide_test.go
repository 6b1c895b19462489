package drain

import (
	"testing"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

func TestNext(t *testing.T) {
	tests := []struct {
		name     string
		state    loadbalancer.State
		sessions int64
		act      Action
		out      bool
	}{
		{"absent is out", loadbalancer.StateAbsent, 0, ActionNone, true},
		{"maintenance without session is out", loadbalancer.StateMaintenance, 0, ActionNone, true},
		{"maintenance with sessions waits for them to be shut", loadbalancer.StateMaintenance, 2, ActionNone, false},
		{"healthy is drained", loadbalancer.StateHealthy, 3, ActionDrain, false},
		{"unhealthy is drained (it may have sessions)", loadbalancer.StateUnhealthy, 0, ActionDrain, false},
		{"initial without session had no traffic: removed", loadbalancer.StateInitial, 0, ActionRemove, false},
		{"initial with sessions is drained", loadbalancer.StateInitial, 1, ActionDrain, false},
		{"draining with sessions waits", loadbalancer.StateDraining, 1, ActionNone, false},
		{"drained (no session) still serves persistent clients: removed, not out yet", loadbalancer.StateDrained, 0, ActionRemove, false},
		{"draining reported with zero sessions is removed", loadbalancer.StateDraining, 0, ActionRemove, false},
		{"draining, sessions unknown: the load balancer ends it", loadbalancer.StateDraining, loadbalancer.SessionsUnknown, ActionNone, false},
		{"healthy, sessions unknown, is drained", loadbalancer.StateHealthy, loadbalancer.SessionsUnknown, ActionDrain, false},
		{"initial, sessions unknown, is drained (not removed: traffic cannot be ruled out)", loadbalancer.StateInitial, loadbalancer.SessionsUnknown, ActionDrain, false},
		{"misconfigured gets no traffic: out, and taken out", loadbalancer.StateMisconfigured, loadbalancer.SessionsUnknown, ActionRemove, true},
		{"unknown is drained and not out", loadbalancer.StateUnknown, loadbalancer.SessionsUnknown, ActionDrain, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act, out := Next(tt.state, tt.sessions)
			if act != tt.act || out != tt.out {
				t.Errorf("Next(%s, %d) = %q %v, want %q %v", tt.state, tt.sessions, act, out, tt.act, tt.out)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name   string
		ts     []TargetState
		want   bool
		reason string
	}{
		{"no binding drains the pod", nil, true, ReasonNoBinding},
		{"removed on every instance", []TargetState{{State: "Absent"}, {State: "Absent"}}, true, ReasonDrained},
		{"in maintenance on one, removed on the other", []TargetState{{State: "Maintenance"}, {State: "Absent"}}, true, ReasonDrained},
		{"drained but not in maintenance: persistent clients still reach it", []TargetState{{State: "Drained"}, {State: "Absent"}}, false, ReasonDraining},
		{"still serving on one instance", []TargetState{{State: "Absent"}, {State: "Healthy"}}, false, ReasonDraining},
		{"draining with a session open", []TargetState{{State: "Draining", Sessions: 1}}, false, ReasonDraining},
		{"an instance that did not answer", []TargetState{{State: "Absent"}, {Error: "refused"}}, false, ReasonInstanceUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Verdict(tt.ts)
			if got != tt.want || reason != tt.reason {
				t.Errorf("Verdict = %v %s, want %v %s", got, reason, tt.want, tt.reason)
			}
		})
	}
}
