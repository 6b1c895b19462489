package elbv2emu

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Target states and reasons, as the API spells them.
const (
	stateInitial     = "initial"
	stateHealthy     = "healthy"
	stateUnhealthy   = "unhealthy"
	stateUnused      = "unused"
	stateDraining    = "draining"
	stateUnavailable = "unavailable"

	reasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	reasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	reasonInternalError            = "Elb.InternalError"
	reasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	reasonTimeout                  = "Target.Timeout"
	reasonFailedHealthChecks       = "Target.FailedHealthChecks"
	reasonNotRegistered            = "Target.NotRegistered"
	reasonNotInUse                 = "Target.NotInUse"
	reasonDeregistrationInProgress = "Target.DeregistrationInProgress"
)

// health is one target's TargetHealth: state, reason and description (the
// last two empty for healthy).
type health struct {
	State, Reason, Description string
}

// Health values that do not depend on HAProxy.
var (
	healthRegistering   = health{stateInitial, reasonRegistrationInProgress, "Target registration is in progress"}
	healthInitial       = health{stateInitial, reasonInitialHealthChecking, "Initial health checks in progress"}
	healthHealthy       = health{State: stateHealthy}
	healthDraining      = health{stateDraining, reasonDeregistrationInProgress, "Target deregistration is in progress"}
	healthNotRegistered = health{stateUnused, reasonNotRegistered, "Target is not registered to the target group"}
	healthNotInUse      = health{stateUnused, reasonNotInUse, "Target group is not configured to receive traffic from the load balancer"}
	healthNoServer      = health{stateUnavailable, reasonInternalError, "Health checks failed due to an internal error"}
)

// serverStat is what the emulator reads about one server from "show stat".
type serverStat struct {
	// Status is HAProxy's status column: UP, DOWN, "UP 1/2" (up, failing),
	// "DOWN 1/2" (down, passing), DRAIN, MAINT, NOLB.
	Status string
	// CheckStatus is the last check's status (L7OK, L7STS, L4CON, ...),
	// without the "* " HAProxy puts before it while a check runs.
	CheckStatus string
	// CheckCode is the last check's HTTP status code, if any.
	CheckCode string
	// Downs is chkdown: how often the server went from UP to DOWN.
	Downs int64
	// Sessions is scur, the server's current sessions.
	Sessions int64
}

// up tells whether HAProxy routes to the server by health (UP, or UP and
// failing but not yet fall times).
func (s serverStat) up() bool { return strings.HasPrefix(s.Status, "UP") }

// failing tells whether the last check failed; false also when no check has
// completed yet.
func (s serverStat) failing() bool {
	switch s.CheckStatus {
	case "", "UNK", "INI", "L4OK", "L6OK", "L7OK", "L7OKC", "PROCOK":
		return false
	}
	return true
}

// failure is the unhealthy health for the server's last check.
func (s serverStat) failure() health {
	switch s.CheckStatus {
	case "L4TOUT", "L6TOUT", "L7TOUT":
		return health{stateUnhealthy, reasonTimeout, "Request timed out"}
	case "L7STS":
		return health{stateUnhealthy, reasonResponseCodeMismatch, "Health checks failed with these codes: [" + s.CheckCode + "]"}
	}
	return health{stateUnhealthy, reasonFailedHealthChecks, "Health checks failed"}
}

// phase is where a registered target is in its life.
type phase int

const (
	// phaseRegistering: registered, inside the registration lag; not in
	// HAProxy yet.
	phaseRegistering phase = iota
	// phaseInService: a HAProxy server in its ready state.
	phaseInService
	// phaseDraining: deregistered, inside the deregistration delay.
	phaseDraining
)

// healthOf decides a registered target's health from its phase, whether its
// group is on a load balancer, whether HAProxy knows its server (ok) and
// what HAProxy says about it. baseDowns is the server's chkdown right after
// registration: a higher count means it went down after having been up.
func healthOf(p phase, attached bool, st serverStat, ok bool, baseDowns int64) health {
	switch {
	case !attached:
		return healthNotInUse
	case p == phaseDraining:
		return healthDraining
	case p == phaseRegistering:
		return healthRegistering
	case !ok:
		return healthNoServer
	case st.up():
		return healthHealthy
	case st.failing():
		return st.failure()
	case st.Downs > baseDowns:
		// Down after having been up, its last check passing: it is on its
		// way back, still unhealthy until rise checks pass.
		return health{stateUnhealthy, reasonFailedHealthChecks, "Health checks failed"}
	}
	return healthInitial
}

// parseStat parses the CSV of "show stat <backend> 4 -1" (server rows) into
// a map by server name. Columns are found by the header's names.
func parseStat(out string) (map[string]serverStat, error) {
	out = strings.TrimPrefix(strings.TrimSpace(out), "# ")
	if out == "" {
		return nil, fmt.Errorf("show stat: empty answer")
	}
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("show stat: %w", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"svname", "status", "check_status", "check_code", "chkdown", "scur"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("show stat: no column %q in %q", name, truncate(out))
		}
	}
	stats := map[string]serverStat{}
	for n, row := range rows[1:] {
		if len(row) < len(rows[0]) {
			return nil, fmt.Errorf("show stat: row %d has %d fields, want %d", n+2, len(row), len(rows[0]))
		}
		name := row[col["svname"]]
		if name == "BACKEND" || name == "FRONTEND" {
			continue
		}
		s := serverStat{
			Status:      row[col["status"]],
			CheckStatus: strings.TrimPrefix(row[col["check_status"]], "* "),
			CheckCode:   row[col["check_code"]],
		}
		if s.Downs, err = atoi64(row[col["chkdown"]]); err != nil {
			return nil, fmt.Errorf("show stat: server %s: chkdown: %w", name, err)
		}
		if s.Sessions, err = atoi64(row[col["scur"]]); err != nil {
			return nil, fmt.Errorf("show stat: server %s: scur: %w", name, err)
		}
		stats[name] = s
	}
	return stats, nil
}

// atoi64 parses a counter; empty is 0.
func atoi64(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// truncate shortens HAProxy output for error messages.
func truncate(s string) string {
	const limit = 300
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// seconds renders a duration as the API's whole seconds, rounded up (so a
// caller waiting that long never waits too little), at least 1 when
// positive.
func seconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32((d + time.Second - 1) / time.Second)
}
