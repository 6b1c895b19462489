package elbv2emu

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Limits of the form parser, so that a hostile body cannot make it allocate
// much: AWS's own limits are lower (e.g. 20 names, a few hundred targets).
const (
	maxParams  = 5000
	maxMembers = 1000
)

// form is one parsed Query API request: its parameters, each with its first
// value.
type form map[string]string

// parseQuery parses a form-encoded request body (or URL query).
func parseQuery(body string) (form, error) {
	if n := strings.Count(body, "&") + 1; n > maxParams {
		return nil, errorf(CodeMalformedQueryString, "the request has %d parameters, more than %d", n, maxParams)
	}
	v, err := url.ParseQuery(body)
	if err != nil {
		return nil, errorf(CodeMalformedQueryString, "the request body is not a valid query string: %v", err)
	}
	f := make(form, len(v))
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, errorf(CodeMalformedQueryString, "parameter %q is given %d times", k, len(vs))
		}
		f[k] = vs[0]
	}
	return f, nil
}

// memberIndex parses the N of "member.N": a canonical decimal in
// 1..maxMembers.
func memberIndex(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxMembers || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// members returns, in index order, the structures of the list parameter
// name ("Targets" for Targets.member.N.Field=...): each one a map from the
// field name to its value. With no fields (a list of strings such as
// Names.member.N), every member is a map with the field "". Indexes must run
// 1, 2, ... without gaps, as the SDK sends them.
func (f form) members(name string) ([]map[string]string, error) {
	prefix := name + ".member."
	byIndex := map[int]map[string]string{}
	for k, v := range f {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		idx, field, _ := strings.Cut(rest, ".")
		n, ok := memberIndex(idx)
		if !ok {
			return nil, errorf(CodeValidationError, "parameter %q: member index %q is not in 1..%d", k, idx, maxMembers)
		}
		m := byIndex[n]
		if m == nil {
			m = map[string]string{}
			byIndex[n] = m
		}
		m[field] = v
	}
	indexes := make([]int, 0, len(byIndex))
	for n := range byIndex {
		indexes = append(indexes, n)
	}
	slices.Sort(indexes)
	out := make([]map[string]string, 0, len(indexes))
	for i, n := range indexes {
		if n != i+1 {
			return nil, errorf(CodeValidationError, "list %s: member %d is missing", name, i+1)
		}
		out = append(out, byIndex[n])
	}
	return out, nil
}

// strings returns the list parameter name (Names.member.N=...) in order.
func (f form) strings(name string) ([]string, error) {
	ms, err := f.members(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		v, ok := m[""]
		if !ok || len(m) != 1 {
			return nil, errorf(CodeValidationError, "list %s holds structures, want strings", name)
		}
		out = append(out, v)
	}
	return out, nil
}

// required returns the parameter name or a ValidationError when it is
// missing or empty.
func (f form) required(name string) (string, error) {
	v := f[name]
	if v == "" {
		return "", errorf(CodeValidationError, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(name))
	}
	return v, nil
}

// lowerFirst is how AWS's validation messages spell a parameter.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// targetRef is one member of a Targets list as the caller wrote it.
type targetRef struct {
	// ID is the Id field (an IP address for ip target groups).
	ID string
	// Port is the Port field, 0 when absent.
	Port int64
	// PortSet tells whether Port was given.
	PortSet bool
	// AvailabilityZone is the AvailabilityZone field.
	AvailabilityZone string
}

// targets returns the Targets.member.N list (Id, Port, AvailabilityZone).
// A member without Id is a ValidationError; a Port that is not a number is
// an InvalidTarget.
func (f form) targets(name string) ([]targetRef, error) {
	ms, err := f.members(name)
	if err != nil {
		return nil, err
	}
	out := make([]targetRef, 0, len(ms))
	for i, m := range ms {
		t := targetRef{ID: m["Id"], AvailabilityZone: m["AvailabilityZone"]}
		if t.ID == "" {
			return nil, errorf(CodeValidationError, "1 validation error detected: Value null at '%s.%d.member.id' failed to satisfy constraint: Member must not be null", lowerFirst(name), i+1)
		}
		if p, ok := m["Port"]; ok {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return nil, errorf(CodeInvalidTarget, "target %s: port %q is not a number", t.ID, p)
			}
			t.Port, t.PortSet = n, true
		}
		out = append(out, t)
	}
	return out, nil
}

// targetKey identifies a registered target, as AWS does for ip targets:
// its address and port.
type targetKey struct {
	Addr netip.Addr
	Port int32
}

// String is "ip:port".
func (k targetKey) String() string { return netip.AddrPortFrom(k.Addr, uint16(k.Port)).String() }

// resolve validates a targetRef for a group whose default port is
// defaultPort: the Id must be an IPv4 address in the emulator's VPC
// (127.0.0.0/8), the port in 1..65535.
func (t targetRef) resolve(defaultPort int32) (targetKey, error) {
	addr, err := netip.ParseAddr(t.ID)
	if err != nil || !addr.Is4() {
		return targetKey{}, errorf(CodeInvalidTarget, "The following targets are not valid IPv4 addresses: '%s'", t.ID)
	}
	if !vpcCIDR.Contains(addr) {
		return targetKey{}, errorf(CodeInvalidTarget, "The IP address '%s' is not within the VPC's CIDR blocks (%s)", t.ID, vpcCIDR)
	}
	port := int64(defaultPort)
	if t.PortSet {
		port = t.Port
	}
	if port < 1 || port > 65535 {
		return targetKey{}, errorf(CodeInvalidTarget, "The following targets have an invalid port: '%s' (port %d is not in 1..65535)", t.ID, port)
	}
	return targetKey{Addr: addr, Port: int32(port)}, nil
}

// vpcCIDR is the emulator's VPC: loopback only, so health checks and client
// traffic never leave the machine.
var vpcCIDR = netip.MustParsePrefix("127.0.0.0/8")
