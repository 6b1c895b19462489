package haproxy

import (
	"testing"
)

// The fuzz targets check that the parsers never panic, and what they
// promise about their results.

func FuzzParseServersState(f *testing.F) {
	f.Add(serversStateOut)
	f.Add("1\n# srv_name srv_op_state srv_admin_state srv_check_health\nx 1 2 3\n")
	f.Add("Can't find backend.")
	f.Fuzz(func(t *testing.T, out string) {
		states, err := ParseServersState(out)
		if err != nil && states != nil {
			t.Errorf("states %+v with error %v", states, err)
		}
		for _, s := range states {
			_ = StateOf(s, Stat{})
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add(statOut)
	f.Add("# pxname,svname,scur,chkdown,\nbe,s,2,1,\n")
	f.Add("No such proxy.")
	f.Fuzz(func(t *testing.T, out string) {
		stats, err := ParseStat(out)
		if err != nil && stats != nil {
			t.Errorf("stats %+v with error %v", stats, err)
		}
		for _, s := range stats {
			if s.Name == "FRONTEND" || s.Name == "BACKEND" {
				t.Errorf("row %q not skipped", s.Name)
			}
		}
	})
}

func FuzzParseInfo(f *testing.F) {
	f.Add(infoOut)
	f.Add("Pid: 1\n")
	f.Fuzz(func(t *testing.T, out string) {
		info, err := ParseInfo(out)
		if err == nil && (info.Pid == "" || info.Generation() == "") {
			t.Errorf("info %+v without error", info)
		}
	})
}

func FuzzNextResponse(f *testing.F) {
	f.Add("\n> Can't find backend.\n\n> Server deleted.\n> \n> Pid: 1\n")
	f.Fuzz(func(t *testing.T, stream string) {
		buf := []byte(stream)
		for {
			resp, n, ok := nextResponse(buf)
			if !ok {
				break
			}
			if n <= 0 || n > len(buf) || len(resp) > n {
				t.Fatalf("nextResponse consumed %d of %d bytes for %q", n, len(buf), resp)
			}
			buf = buf[n:]
		}
	})
}

func FuzzParseServerName(f *testing.F) {
	f.Add("zd-10.0.0.1_8080")
	f.Add("zd-fd00::1_80")
	f.Add("zd-3f2a9c01be-10.0.0.1_8080")
	f.Add("zd-3f2a9c01be-a1b2c3-10.0.0.1_8080")
	f.Fuzz(func(t *testing.T, name string) {
		target, ok := ParseServerName(name)
		if !ok {
			return
		}
		back, err := ServerName(target)
		if err != nil || back != name {
			t.Errorf("ParseServerName(%q) = %v, but ServerName gives %q, %v", name, target, back, err)
		}
	})
}

func FuzzCheckResponse(f *testing.F) {
	f.Add("New server registered.")
	f.Add("No such server.")
	f.Fuzz(func(t *testing.T, resp string) {
		err := checkResponse(resp)
		if isNoServer(resp) && err == nil {
			t.Errorf("%q accepted as success", resp)
		}
	})
}
