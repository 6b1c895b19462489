package haproxy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
	"github.com/zerodrop/zerodrop/internal/targets"
)

// ServerNamePrefix starts the name of every server zerodrop adds.
const ServerNamePrefix = "zd-"

// ServerName returns the HAProxy server name for a target: ServerNamePrefix,
// the target's owner tag and '-' (when it has an owner), its settings tag
// and '-' (when it has one), the IP address in its canonical text form, '_'
// and the port, for example "zd-3f2a9c01be-a1b2c3-10.1.2.3_8080" or
// "zd-3f2a9c01be-a1b2c3-fd00::1_8080". The tags live in the name because
// the name is the one thing HAProxy keeps for a dynamic server (and its
// check settings cannot be read back or changed at run time); an address
// never holds '-', so tags and address cannot be confused. Targets without an owner get the names of zerodrop before
// ownership ("zd-10.1.2.3_8080"), which is how such legacy servers are
// adopted and removed. Every character is one HAProxy accepts in a server
// name. Addresses with an IPv6 zone and malformed owners are refused.
func ServerName(t loadbalancer.Target) (string, error) {
	a := t.Address
	if !a.IsValid() || !a.Addr().IsValid() {
		return "", fmt.Errorf("target %q: invalid address", t.Address)
	}
	if a.Addr().Zone() != "" {
		return "", fmt.Errorf("target %s: IPv6 zones are not supported", t.Address)
	}
	tags := ""
	if t.Owner != "" {
		if !targets.ValidOwner(t.Owner) {
			return "", fmt.Errorf("target %s: owner %q is not %d lowercase hex digits", t.Address, t.Owner, targets.OwnerLen)
		}
		tags = t.Owner + "-"
	}
	if t.Settings != "" {
		if t.Owner == "" || !isLowerHex(t.Settings, loadbalancer.SettingsTagLen) {
			return "", fmt.Errorf("target %s: settings tag %q needs an owner and %d lowercase hex digits", t.Address, t.Settings, loadbalancer.SettingsTagLen)
		}
		tags += t.Settings + "-"
	}
	return ServerNamePrefix + tags + a.Addr().String() + "_" + strconv.Itoa(int(a.Port())), nil
}

// ParseServerName returns the target a server name made by ServerName
// stands for. ok is false for any other name, including non-canonical
// spellings, so only servers zerodrop named are taken as its own.
func ParseServerName(name string) (t loadbalancer.Target, ok bool) {
	rest, found := strings.CutPrefix(name, ServerNamePrefix)
	if !found {
		return t, false
	}
	if owner, addr, ok := strings.Cut(rest, "-"); ok {
		if !targets.ValidOwner(owner) {
			return t, false
		}
		t.Owner, rest = owner, addr
		if settings, addr, ok := strings.Cut(rest, "-"); ok {
			if !isLowerHex(settings, loadbalancer.SettingsTagLen) {
				return t, false
			}
			t.Settings, rest = settings, addr
		}
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return t, false
	}
	addr, err := netip.ParseAddr(rest[:i])
	if err != nil || addr.Zone() != "" || addr.String() != rest[:i] {
		return t, false
	}
	port, err := strconv.ParseUint(rest[i+1:], 10, 16)
	if err != nil || strconv.FormatUint(port, 10) != rest[i+1:] {
		return t, false
	}
	t.Address = netip.AddrPortFrom(addr, uint16(port))
	return t, true
}

// isLowerHex reports whether s is n lowercase hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// serverAddress is the address argument of "add server": HAProxy reads the
// last colon as the port separator, IPv6 included.
func serverAddress(a netip.AddrPort) string {
	return a.Addr().String() + ":" + strconv.Itoa(int(a.Port()))
}
