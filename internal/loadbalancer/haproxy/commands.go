package haproxy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// command is one Runtime API command about one server.
type command struct {
	// Line is the command as sent.
	Line string
	// Server is the server it is about.
	Server string
}

// RegisterCommands returns the commands that register targets in backend,
// given the backend's current servers: for an absent target, add it (in
// maintenance, with checks), enable its checks, leave maintenance through
// drain, force its health down and set it ready, so it starts DOWN and gets
// traffic only after rise passing checks; for a target in maintenance, the
// same without adding; for any other present target (healthy, draining, ...)
// enable its checks and set it ready, which does not interrupt a healthy
// server. Duplicate targets are registered once.
func RegisterCommands(backend string, check loadbalancer.CheckSettings, targets []loadbalancer.Target, existing []ServerState) ([]command, error) {
	opts, err := checkOptions(check)
	if err != nil {
		return nil, err
	}
	present := make(map[string]ServerState, len(existing))
	for _, s := range existing {
		present[s.Name] = s
	}
	servers, err := uniqueServers(targets)
	if err != nil {
		return nil, err
	}
	var cmds []command
	for _, sv := range servers {
		name, t := sv.name, sv.target
		ref := backend + "/" + name
		add := func(line string) { cmds = append(cmds, command{Line: line, Server: name}) }
		s, ok := present[name]
		if !ok {
			add("add server " + ref + " " + serverAddress(t.Address) + " check" + opts)
		}
		add("enable health " + ref)
		if !ok || s.AdminState&adminMaintMask != 0 {
			add("set server " + ref + " state drain")
			add("set server " + ref + " health down")
		}
		add("set server " + ref + " state ready")
	}
	return cmds, nil
}

// checkOptions renders check settings as "add server" keywords; zero values
// are left to HAProxy's defaults (inter 2s, rise 2, fall 3).
func checkOptions(c loadbalancer.CheckSettings) (string, error) {
	var b strings.Builder
	switch {
	case c.Interval < 0:
		return "", fmt.Errorf("check interval %s is negative", c.Interval)
	case c.Interval > 0:
		ms := (c.Interval + time.Millisecond - 1) / time.Millisecond
		b.WriteString(" inter " + strconv.FormatInt(int64(ms), 10) + "ms")
	}
	for _, o := range []struct {
		name string
		v    int32
		max  int32
	}{{"rise", c.Rise, 1 << 20}, {"fall", c.Fall, 1 << 20}, {"port", c.Port, 65535}} {
		if o.v < 0 || o.v > o.max {
			return "", fmt.Errorf("check %s %d is out of range 0..%d", o.name, o.v, o.max)
		}
		if o.v > 0 {
			b.WriteString(" " + o.name + " " + strconv.Itoa(int(o.v)))
		}
	}
	return b.String(), nil
}

// perServer returns, for every target (duplicates once), each format with
// the target's backend/server reference.
func perServer(backend string, targets []loadbalancer.Target, formats ...string) ([]command, error) {
	servers, err := uniqueServers(targets)
	if err != nil {
		return nil, err
	}
	var cmds []command
	for _, sv := range servers {
		for _, f := range formats {
			cmds = append(cmds, command{Line: fmt.Sprintf(f, backend+"/"+sv.name), Server: sv.name})
		}
	}
	return cmds, nil
}

// namedTarget is a target and its server name.
type namedTarget struct {
	name   string
	target loadbalancer.Target
}

// uniqueServers names every target, each once, in order.
func uniqueServers(targets []loadbalancer.Target) ([]namedTarget, error) {
	seen := map[string]bool{}
	var out []namedTarget
	for _, t := range targets {
		name, err := ServerName(t)
		if err != nil {
			return nil, err
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, namedTarget{name, t})
		}
	}
	return out, nil
}

// validBackend refuses names HAProxy would not accept as a proxy name, which
// also keeps them from splitting or injecting commands.
func validBackend(name string) error {
	if name == "" {
		return errors.New("backend name is empty")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return fmt.Errorf("backend name %q: character %q is not allowed", name, r)
		}
	}
	return nil
}

// CommandError is one Runtime API command that failed.
type CommandError struct {
	// Command is the command as sent.
	Command string
	// Server is the server it was about.
	Server string
	// Response is what HAProxy answered.
	Response string
}

// CommandErrors lists every command of one call that failed.
type CommandErrors struct {
	// Failed holds the failed commands, in the order they were sent.
	Failed []CommandError
}

// Error names each failed command, its server and HAProxy's answer.
func (e *CommandErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d HAProxy runtime API command(s) failed", len(e.Failed))
	for i, f := range e.Failed {
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		fmt.Fprintf(&b, "%sserver %s: %q: %q", sep, f.Server, f.Command, f.Response)
	}
	return b.String()
}

// only tells whether every failed command starts with prefix.
func (e *CommandErrors) only(prefix string) bool {
	for _, f := range e.Failed {
		if !strings.HasPrefix(f.Command, prefix) {
			return false
		}
	}
	return true
}

// checkResponses checks each command's response. A missing backend is an
// error wrapping loadbalancer.ErrNoBackend; with absentOK, a missing server
// is not an error.
func checkResponses(cmds []command, resps []string, absentOK bool) error {
	if len(resps) != len(cmds) {
		return fmt.Errorf("HAProxy runtime API: %d responses to %d commands", len(resps), len(cmds))
	}
	var failed []CommandError
	for n, c := range cmds {
		r := resps[n]
		switch {
		case isNoBackend(r):
			return fmt.Errorf("%q: %w", c.Line, loadbalancer.ErrNoBackend)
		case absentOK && isNoServer(r):
		case checkResponse(r) != nil:
			failed = append(failed, CommandError{Command: c.Line, Server: c.Server, Response: strings.TrimSpace(r)})
		}
	}
	if len(failed) > 0 {
		return &CommandErrors{Failed: failed}
	}
	return nil
}
