package haproxy

import (
	"testing"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

func TestStateOf(t *testing.T) {
	tests := []struct {
		name string
		s    ServerState
		st   Stat
		want loadbalancer.State
	}{
		{"new server, checks not yet passed", ServerState{OpState: opStopped}, Stat{DownTransitions: 1}, loadbalancer.StateInitial},
		{"never forced down", ServerState{OpState: opStopped}, Stat{}, loadbalancer.StateInitial},
		{"running", ServerState{OpState: opRunning}, Stat{DownTransitions: 1}, loadbalancer.StateHealthy},
		{"slow start", ServerState{OpState: opStarting}, Stat{}, loadbalancer.StateHealthy},
		{"was up, now down", ServerState{OpState: opStopped}, Stat{DownTransitions: 2}, loadbalancer.StateUnhealthy},
		{"drain with sessions", ServerState{OpState: opRunning, AdminState: adminForcedDrain}, Stat{Sessions: 1}, loadbalancer.StateDraining},
		{"drain without sessions", ServerState{OpState: opRunning, AdminState: adminForcedDrain}, Stat{}, loadbalancer.StateDrained},
		{"drain while down", ServerState{OpState: opStopped, AdminState: adminForcedDrain}, Stat{DownTransitions: 5}, loadbalancer.StateDrained},
		{"inherited drain", ServerState{OpState: opRunning, AdminState: adminInheritedDrain}, Stat{Sessions: 2}, loadbalancer.StateDraining},
		{"stopping (disable-on-404)", ServerState{OpState: opStopping}, Stat{Sessions: 1}, loadbalancer.StateDraining},
		{"maintenance without sessions", ServerState{AdminState: adminForcedMaint}, Stat{}, loadbalancer.StateMaintenance},
		{"maintenance with sessions", ServerState{AdminState: adminForcedMaint}, Stat{Sessions: 3}, loadbalancer.StateMaintenance},
		{"maintenance wins over drain", ServerState{AdminState: adminForcedMaint | adminForcedDrain}, Stat{}, loadbalancer.StateMaintenance},
		{"configured disabled", ServerState{AdminState: adminForcedMaint | adminConfigMaint}, Stat{}, loadbalancer.StateMaintenance},
		{"resolution maintenance", ServerState{OpState: opRunning, AdminState: adminResolutionMaint}, Stat{}, loadbalancer.StateMaintenance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StateOf(tt.s, tt.st); got != tt.want {
				t.Errorf("StateOf(%+v, %+v) = %s, want %s", tt.s, tt.st, got, tt.want)
			}
		})
	}
}
