package haproxy

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// promptDelimiter ends every response in interactive ("prompt") mode: the
// response's final newline followed by the prompt. A response body holding a
// line that starts with "> " would be cut there; no command used here prints
// one (backend and server names cannot contain '>').
const promptDelimiter = "\n> "

// nextResponse returns the first complete response in buf (a stream read in
// prompt mode) without its trailing newlines, and how many bytes it and its
// prompt take. ok is false when buf holds no complete response yet.
func nextResponse(buf []byte) (resp string, n int, ok bool) {
	i := strings.Index(string(buf), promptDelimiter)
	if i < 0 {
		return "", 0, false
	}
	return strings.TrimRight(string(buf[:i]), "\n"), i + len(promptDelimiter), true
}

// Runtime API messages zerodrop recognises.
const (
	msgServerAdded     = "New server registered."
	msgServerDeleted   = "Server deleted."
	msgNoSuchServer    = "No such server."
	msgNoSuchBackend   = "No such backend."
	msgCantFindBackend = "Can't find backend."
	msgNoSuchProxy     = "No such proxy."
)

// errCommand is returned by checkResponse for a response that reports a
// failure; callers wrap it with the command.
var errCommand = errors.New("runtime API command failed")

// isNoBackend tells whether a response says the backend does not exist.
func isNoBackend(resp string) bool {
	switch strings.TrimSpace(resp) {
	case msgNoSuchBackend, msgCantFindBackend, msgNoSuchProxy:
		return true
	}
	return false
}

// isNoServer tells whether a response says the server does not exist.
func isNoServer(resp string) bool { return strings.TrimSpace(resp) == msgNoSuchServer }

// checkResponse returns nil when resp is what a successful action command
// (add/del/set server, enable health, shutdown sessions) prints: nothing or
// one of HAProxy's success messages. Anything else is an error quoting it.
func checkResponse(resp string) error {
	switch strings.TrimSpace(resp) {
	case "", msgServerAdded, msgServerDeleted:
		return nil
	}
	return fmt.Errorf("%w: %q", errCommand, strings.TrimSpace(resp))
}

// Info is what zerodrop reads from "show info".
type Info struct {
	// Pid is the worker process id.
	Pid string
	// StartTime is the worker's start time in seconds since the epoch
	// (empty on versions that do not print Start_time_sec).
	StartTime string
}

// Generation identifies the worker process: its pid and start time.
func (i Info) Generation() string {
	if i.StartTime == "" {
		return "pid=" + i.Pid
	}
	return "pid=" + i.Pid + ",start=" + i.StartTime
}

// ParseInfo parses the output of "show info".
func ParseInfo(out string) (Info, error) {
	var info Info
	for line := range strings.SplitSeq(out, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "Pid":
			info.Pid = value
		case "Start_time_sec":
			info.StartTime = value
		}
	}
	if info.Pid == "" {
		return Info{}, fmt.Errorf("show info: no Pid in %q", truncate(out))
	}
	if _, err := strconv.ParseUint(info.Pid, 10, 32); err != nil {
		return Info{}, fmt.Errorf("show info: Pid %q is not a number", info.Pid)
	}
	return info, nil
}

// HAProxy's server operational states (srv_op_state).
const (
	opStopped  = 0
	opStarting = 1
	opRunning  = 2
	opStopping = 3
)

// HAProxy's server administrative state bits (srv_admin_state).
const (
	adminForcedMaint     = 0x01
	adminInheritedMaint  = 0x02
	adminConfigMaint     = 0x04
	adminForcedDrain     = 0x08
	adminInheritedDrain  = 0x10
	adminResolutionMaint = 0x20
	adminHostnameMaint   = 0x40

	adminMaintMask = adminForcedMaint | adminInheritedMaint | adminConfigMaint | adminResolutionMaint | adminHostnameMaint
	adminDrainMask = adminForcedDrain | adminInheritedDrain
)

// ServerState is one row of "show servers state".
type ServerState struct {
	// Backend is be_name, the server's backend.
	Backend string
	// Name is the server name.
	Name string
	// OpState is srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping.
	OpState int
	// AdminState is srv_admin_state, a bit set (maintenance, drain, ...).
	AdminState int
	// CheckHealth is srv_check_health, the check's health counter.
	CheckHealth int
}

// ParseServersState parses the output of "show servers state [<backend>]"
// (format version 1). Columns are found by the header's names.
func ParseServersState(out string) ([]ServerState, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("show servers state: want format version 1, got %q", truncate(out))
	}
	header, ok := strings.CutPrefix(lines[1], "# ")
	if !ok {
		return nil, fmt.Errorf("show servers state: want a '# ' header line, got %q", truncate(lines[1]))
	}
	columns := strings.Fields(header)
	col := map[string]int{}
	for i, name := range columns {
		col[name] = i
	}
	need := []string{"srv_name", "srv_op_state", "srv_admin_state", "srv_check_health"}
	for _, name := range need {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("show servers state: header has no column %q", name)
		}
	}
	var states []ServerState
	for n, line := range lines[2:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < len(columns) {
			return nil, fmt.Errorf("show servers state: line %d has %d fields, want %d", n+3, len(f), len(columns))
		}
		s := ServerState{Name: f[col["srv_name"]]}
		if c, ok := col["be_name"]; ok {
			s.Backend = f[c]
		}
		var err error
		if s.OpState, err = atoi(f[col["srv_op_state"]], "srv_op_state"); err != nil {
			return nil, fmt.Errorf("show servers state: server %s: %w", s.Name, err)
		}
		if s.AdminState, err = atoi(f[col["srv_admin_state"]], "srv_admin_state"); err != nil {
			return nil, fmt.Errorf("show servers state: server %s: %w", s.Name, err)
		}
		if s.CheckHealth, err = atoi(f[col["srv_check_health"]], "srv_check_health"); err != nil {
			return nil, fmt.Errorf("show servers state: server %s: %w", s.Name, err)
		}
		states = append(states, s)
	}
	return states, nil
}

// Stat is what zerodrop reads from one server row of "show stat".
type Stat struct {
	// Backend is pxname, the server's backend.
	Backend string
	// Name is the server name (svname).
	Name string
	// Sessions is scur, the server's current sessions.
	Sessions int64
	// DownTransitions is chkdown, how often the server went from UP to
	// DOWN.
	DownTransitions int64
}

// ParseStat parses the CSV output of "show stat <backend|-1> 4 -1"
// (servers only). Columns are found by the header's names; rows that are not servers
// (FRONTEND, BACKEND) are skipped.
func ParseStat(out string) ([]Stat, error) {
	header, body, _ := strings.Cut(out, "\n")
	names, ok := strings.CutPrefix(header, "# ")
	if !ok {
		return nil, fmt.Errorf("show stat: want a '# ' CSV header, got %q", truncate(header))
	}
	columns := strings.Split(names, ",")
	col := map[string]int{}
	for i, name := range columns {
		col[name] = i
	}
	for _, name := range []string{"svname", "scur", "chkdown"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("show stat: header has no column %q", name)
		}
	}
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var stats []Stat
	for {
		rec, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("show stat: %w", err)
		}
		if len(rec) < len(columns) {
			return nil, fmt.Errorf("show stat: row has %d fields, want %d", len(rec), len(columns))
		}
		s := Stat{Name: rec[col["svname"]]}
		if c, ok := col["pxname"]; ok {
			s.Backend = rec[c]
		}
		if s.Name == "FRONTEND" || s.Name == "BACKEND" {
			continue
		}
		if s.Sessions, err = atoi64(rec[col["scur"]], "scur"); err != nil {
			return nil, fmt.Errorf("show stat: server %s: %w", s.Name, err)
		}
		if s.DownTransitions, err = atoi64(rec[col["chkdown"]], "chkdown"); err != nil {
			return nil, fmt.Errorf("show stat: server %s: %w", s.Name, err)
		}
		stats = append(stats, s)
	}
	return stats, nil
}

func atoi(s, what string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", what, s)
	}
	return v, nil
}

// atoi64 reads a counter; HAProxy leaves counters that do not apply empty.
func atoi64(s, what string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", what, s)
	}
	return v, nil
}

// truncate shortens text quoted in error messages.
func truncate(s string) string {
	const limit = 120
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
