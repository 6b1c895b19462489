package haproxy

import (
	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// registrationDownTransitions is how many UP to DOWN transitions
// registration itself causes: Register forces a new server's health down
// once (see the package comment), which HAProxy counts in chkdown.
const registrationDownTransitions = 1

// StateOf maps what HAProxy reports about one server to a target state:
//
//   - any maintenance bit (forced, inherited, configured, resolution,
//     hostname) is StateMaintenance, whatever the sessions; a server in
//     maintenance gets no new requests, and with Sessions == 0 it is as safe
//     to remove as a drained one;
//   - otherwise a drain bit, or the operational state "stopping" (e.g. from
//     http-check disable-on-404), is StateDraining while sessions are open
//     and StateDrained when there are none;
//   - otherwise the operational states "running" and "starting" (slowstart)
//     are StateHealthy: HAProxy sends the server traffic;
//   - otherwise (stopped) the server is StateInitial until it has gone from
//     UP to DOWN more often than registration makes it, and StateUnhealthy
//     after. A target registered again from maintenance (a Register after a
//     failed Remove) counts that second forced transition too and is
//     reported Unhealthy until its checks pass.
func StateOf(s ServerState, st Stat) loadbalancer.State {
	switch {
	case s.AdminState&adminMaintMask != 0:
		return loadbalancer.StateMaintenance
	case s.AdminState&adminDrainMask != 0 || s.OpState == opStopping:
		if st.Sessions > 0 {
			return loadbalancer.StateDraining
		}
		return loadbalancer.StateDrained
	case s.OpState == opRunning || s.OpState == opStarting:
		return loadbalancer.StateHealthy
	case st.DownTransitions > registrationDownTransitions:
		return loadbalancer.StateUnhealthy
	default:
		return loadbalancer.StateInitial
	}
}
