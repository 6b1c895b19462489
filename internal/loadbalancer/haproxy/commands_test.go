package haproxy

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

func TestRegisterCommands(t *testing.T) {
	a := loadbalancer.Target{Address: netip.MustParseAddrPort("10.0.0.1:8080")}
	six := loadbalancer.Target{Address: netip.MustParseAddrPort("[fd00::1]:80")}
	check := loadbalancer.CheckSettings{Interval: 150 * time.Millisecond, Rise: 2, Fall: 3, Port: 9000}
	tests := []struct {
		name     string
		check    loadbalancer.CheckSettings
		targets  []loadbalancer.Target
		existing []ServerState
		want     []string
		wantErr  string
	}{
		{"absent target is added and starts down", check, []loadbalancer.Target{a, a}, nil, []string{
			"add server be/zd-10.0.0.1_8080 10.0.0.1:8080 check inter 150ms rise 2 fall 3 port 9000",
			"enable health be/zd-10.0.0.1_8080",
			"set server be/zd-10.0.0.1_8080 state drain",
			"set server be/zd-10.0.0.1_8080 health down",
			"set server be/zd-10.0.0.1_8080 state ready",
		}, ""},
		{"IPv6 target, HAProxy defaults", loadbalancer.CheckSettings{}, []loadbalancer.Target{six}, nil, []string{
			"add server be/zd-fd00::1_80 fd00::1:80 check",
			"enable health be/zd-fd00::1_80",
			"set server be/zd-fd00::1_80 state drain",
			"set server be/zd-fd00::1_80 health down",
			"set server be/zd-fd00::1_80 state ready",
		}, ""},
		{"present healthy or draining target is only set ready", check, []loadbalancer.Target{a},
			[]ServerState{{Name: "zd-10.0.0.1_8080", OpState: opRunning, AdminState: adminForcedDrain}}, []string{
				"enable health be/zd-10.0.0.1_8080",
				"set server be/zd-10.0.0.1_8080 state ready",
			}, ""},
		{"present target in maintenance starts down again", check, []loadbalancer.Target{a},
			[]ServerState{{Name: "zd-10.0.0.1_8080", AdminState: adminForcedMaint}}, []string{
				"enable health be/zd-10.0.0.1_8080",
				"set server be/zd-10.0.0.1_8080 state drain",
				"set server be/zd-10.0.0.1_8080 health down",
				"set server be/zd-10.0.0.1_8080 state ready",
			}, ""},
		{"sub-millisecond interval rounds up", loadbalancer.CheckSettings{Interval: 1500 * time.Microsecond}, []loadbalancer.Target{a}, nil, []string{
			"add server be/zd-10.0.0.1_8080 10.0.0.1:8080 check inter 2ms",
			"enable health be/zd-10.0.0.1_8080",
			"set server be/zd-10.0.0.1_8080 state drain",
			"set server be/zd-10.0.0.1_8080 health down",
			"set server be/zd-10.0.0.1_8080 state ready",
		}, ""},
		{"negative interval", loadbalancer.CheckSettings{Interval: -time.Second}, []loadbalancer.Target{a}, nil, nil, "negative"},
		{"port out of range", loadbalancer.CheckSettings{Port: 70000}, []loadbalancer.Target{a}, nil, nil, "check port 70000 is out of range"},
		{"invalid target", check, []loadbalancer.Target{{}}, nil, nil, "invalid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := RegisterCommands("be", tt.check, tt.targets, tt.existing)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			var lines []string
			for _, c := range cmds {
				lines = append(lines, c.Line)
				if c.Server == "" {
					t.Errorf("command %q names no server", c.Line)
				}
			}
			if !reflect.DeepEqual(lines, tt.want) {
				t.Errorf("commands:\n%q\nwant:\n%q", lines, tt.want)
			}
		})
	}
}

func TestValidBackend(t *testing.T) {
	for name, ok := range map[string]bool{"app": true, "be-1.x:y_z": true, "": false, "a b": false, "a;show info": false, "a\nb": false, "a/b": false} {
		if err := validBackend(name); (err == nil) != ok {
			t.Errorf("validBackend(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
