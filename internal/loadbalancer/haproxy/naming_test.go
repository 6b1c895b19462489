package haproxy

import (
	"net/netip"
	"testing"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

func TestServerName(t *testing.T) {
	tests := []struct {
		addr     string
		owner    string
		settings string
		want     string
		wantErr  bool
	}{
		{"10.1.2.3:8080", "", "", "zd-10.1.2.3_8080", false},
		{"[fd00::1]:8080", "", "", "zd-fd00::1_8080", false},
		{"[::ffff:10.0.0.1]:80", "", "", "zd-::ffff:10.0.0.1_80", false},
		{"[fe80::1%eth0]:80", "", "", "", true},
		{"10.1.2.3:8080", "3f2a9c01be", "", "zd-3f2a9c01be-10.1.2.3_8080", false},
		{"[fd00::1]:8080", "3f2a9c01be", "", "zd-3f2a9c01be-fd00::1_8080", false},
		{"10.1.2.3:8080", "3F2A9C01BE", "", "", true},
		{"10.1.2.3:8080", "short", "", "", true},
		{"10.1.2.3:8080", "3f2a9c01be", "a1b2c3", "zd-3f2a9c01be-a1b2c3-10.1.2.3_8080", false},
		{"[fd00::1]:80", "3f2a9c01be", "a1b2c3", "zd-3f2a9c01be-a1b2c3-fd00::1_80", false},
		{"10.1.2.3:8080", "", "a1b2c3", "", true},
		{"10.1.2.3:8080", "3f2a9c01be", "A1B2C3", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.owner+tt.addr, func(t *testing.T) {
			target := loadbalancer.Target{Address: netip.MustParseAddrPort(tt.addr), Owner: tt.owner, Settings: tt.settings}
			got, err := ServerName(target)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ServerName = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			for _, r := range got {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
					t.Errorf("name %q has %q, which HAProxy refuses in server names", got, r)
				}
			}
			back, ok := ParseServerName(got)
			if !ok || back != target {
				t.Errorf("ParseServerName(%q) = %v, %v; want %v", got, back, ok, target)
			}
		})
	}
	if _, err := ServerName(loadbalancer.Target{}); err == nil {
		t.Errorf("ServerName of the zero target succeeded")
	}
}

func TestParseServerName_rejectsOthers(t *testing.T) {
	for _, name := range []string{"static1", "zd-", "zd-10.0.0.1", "zd-10.0.0.1_", "zd-10.0.0.1_x", "zd-10.0.0.1_080",
		"zd-10.0.0.1_70000", "zd-010.0.0.1_80", "zd-FD00::1_80", "zd-fd00:0::1_80", "ZD-10.0.0.1_80",
		"zd-3f2a9c01be-", "zd-3f2a9c01b-10.0.0.1_80", "zd-3F2A9C01BE-10.0.0.1_80", "zd-3f2a9c01be-3f2a9c01be-10.0.0.1_80", "zd--10.0.0.1_80",
		"zd-3f2a9c01be-a1b2c-10.0.0.1_80", "zd-3f2a9c01be-A1B2C3-10.0.0.1_80", "zd-3f2a9c01be-a1b2c3-a1b2c3-10.0.0.1_80"} {
		if got, ok := ParseServerName(name); ok {
			t.Errorf("ParseServerName(%q) = %v, want not zerodrop's", name, got)
		}
	}
}
