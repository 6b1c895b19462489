package haproxy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/zerodrop/zerodrop/internal/loadbalancer"
)

// Outputs captured from HAProxy 2.6.12 (Debian bookworm), shortened.
const (
	serversStateOut = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be 1 static1 127.42.0.9 0 5 1 1 55 1 0 0 8 0 0 0 - 1 - 0 0 - - 0
3 be 2 zd-127.42.0.2_18081 127.42.0.2 2 0 1 1 11 15 3 4 6 0 0 0 - 18081 - 0 0 - - 0
3 be 6 zd-::1_8080 ::1 0 8 1 1 0 1 0 0 2 0 0 0 - 8080 - 0 0 - - 0
`
	statHeader = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,\n"
	statOut    = statHeader +
		"be,static1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,,,55,,,1,3,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.42.0.9:1,,http,,\n" +
		"be,zd-127.42.0.2_18081,0,0,3,4,,7,0,0,,0,,0,0,0,0,UP,1,1,0,0,2,11,0,,1,3,2,,0,,2,0,,0,L7OK,200,3,0,0,0,0,0,0,,,,0,0,0,,,,,-1,\"Layer7, \"\"quoted\"\"\",,0,0,0,0,,,,Layer7 check passed,,3,2,4,,,,127.42.0.2:18081,,http,,\n"
	infoOut = "Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 17369\nUptime_sec: 66\nStart_time_sec: 1795319696\nTainted: 0\n"
)

func TestParseServersState(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []ServerState
		wantErr string
	}{
		{"real output", serversStateOut, []ServerState{
			{Backend: "be", Name: "static1", OpState: 0, AdminState: 5, CheckHealth: 0},
			{Backend: "be", Name: "zd-127.42.0.2_18081", OpState: 2, AdminState: 0, CheckHealth: 4},
			{Backend: "be", Name: "zd-::1_8080", OpState: 0, AdminState: 8, CheckHealth: 0},
		}, ""},
		{"empty backend", "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_check_health\n", nil, ""},
		{"backend missing", "Can't find backend.", nil, "want format version 1"},
		{"unknown version", "2\n# srv_name\n", nil, "want format version 1"},
		{"no header", "1\nbe 1 x\n", nil, "header line"},
		{"missing column", "1\n# srv_name srv_op_state\n", nil, `no column "srv_admin_state"`},
		{"short line", "1\n# srv_name srv_op_state srv_admin_state srv_check_health\nx 1\n", nil, "line 3 has 2 fields"},
		{"not a number", "1\n# srv_name srv_op_state srv_admin_state srv_check_health\nx up 0 0\n", nil, `srv_op_state "up" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServersState(tt.out)
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []Stat
		wantErr string
	}{
		{"real output with quoted field", statOut, []Stat{
			{Backend: "be", Name: "static1", Sessions: 0, DownTransitions: 0},
			{Backend: "be", Name: "zd-127.42.0.2_18081", Sessions: 3, DownTransitions: 2},
		}, ""},
		{"frontend and backend rows skipped", "# pxname,svname,scur,chkdown,\nbe,BACKEND,5,0,\nfe,FRONTEND,1,,\nbe,s,2,1,\n", []Stat{{Backend: "be", Name: "s", Sessions: 2, DownTransitions: 1}}, ""},
		{"header only", statHeader, nil, ""},
		{"no such proxy", "No such proxy.", nil, "CSV header"},
		{"missing column", "# pxname,svname,scur,\n", nil, `no column "chkdown"`},
		{"short row", "# pxname,svname,scur,chkdown,\nbe,s\n", nil, "row has 2 fields"},
		{"bad number", "# pxname,svname,scur,chkdown,\nbe,s,many,0,\n", nil, `scur "many" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat(tt.out)
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    Info
		wantErr string
	}{
		{"real output", infoOut, Info{Pid: "17369", StartTime: "1795319696"}, ""},
		{"no start time", "Pid: 12\n", Info{Pid: "12"}, ""},
		{"no pid", "Name: HAProxy\n", Info{}, "no Pid"},
		{"bad pid", "Pid: x\n", Info{}, `Pid "x" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInfo(tt.out)
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestInfo_Generation(t *testing.T) {
	a := Info{Pid: "1", StartTime: "100"}.Generation()
	for _, other := range []Info{{Pid: "2", StartTime: "100"}, {Pid: "1", StartTime: "101"}} {
		if other.Generation() == a {
			t.Errorf("%+v has the same generation as pid 1 started at 100: %q", other, a)
		}
	}
}

func TestNextResponse(t *testing.T) {
	// What HAProxy 2.6 printed for: prompt, show servers state nosuch,
	// del server (no trailing empty line), set server on an unknown
	// server (trailing empty line), add server, enable health.
	stream := "\n> Can't find backend.\n\n> Server deleted.\n> No such server.\n\n> New server registered.\n\n> \n> Pid: 1\n"
	var got []string
	buf := []byte(stream)
	for {
		resp, n, ok := nextResponse(buf)
		if !ok {
			break
		}
		got = append(got, resp)
		buf = buf[n:]
	}
	want := []string{"", "Can't find backend.", "Server deleted.", "No such server.", "New server registered.", ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("responses %q, want %q", got, want)
	}
	if string(buf) != "Pid: 1\n" {
		t.Errorf("left %q, want the incomplete last response", buf)
	}
}

func TestCheckResponses(t *testing.T) {
	cmds := []command{{"add server be/zd-a 1.2.3.4:80 check", "zd-a"}, {"enable health be/zd-a", "zd-a"}, {"del server be/zd-b", "zd-b"}}
	tests := []struct {
		name      string
		resps     []string
		absentOK  bool
		wantErr   string
		noBackend bool
	}{
		{"all succeed", []string{"New server registered.", "", "Server deleted."}, false, "", false},
		{"absent server tolerated", []string{"New server registered.", "", "No such server."}, true, "", false},
		{"absent server is an error", []string{"New server registered.", "", "No such server."}, false, `server zd-b: "del server be/zd-b": "No such server."`, false},
		{"failures name command and server", []string{"Already exists a server with the same name in backend.", "", "Server still has connections attached to it, cannot remove it."}, false,
			`2 HAProxy runtime API command(s) failed: server zd-a: "add server be/zd-a 1.2.3.4:80 check": "Already exists a server with the same name in backend."; server zd-b: "del server be/zd-b": "Server still has connections attached to it, cannot remove it."`, false},
		{"missing backend", []string{"No such backend.", "", ""}, false, "backend not found", true},
		{"response count mismatch", []string{""}, false, "1 responses to 3 commands", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkResponses(cmds, tt.resps, tt.absentOK)
			checkErr(t, err, tt.wantErr)
			if got := errors.Is(err, loadbalancer.ErrNoBackend); got != tt.noBackend {
				t.Errorf("errors.Is(ErrNoBackend) = %v, want %v", got, tt.noBackend)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestParseBackends(t *testing.T) {
	got, err := ParseBackends("# name\nb1\nb2\nempty\n\n")
	if err != nil || !reflect.DeepEqual(got, []string{"b1", "b2", "empty"}) {
		t.Errorf("ParseBackends = %v, %v", got, err)
	}
	if _, err := ParseBackends("Unknown command.\n"); err == nil || !strings.Contains(err.Error(), "show backend") {
		t.Errorf("ParseBackends(junk) error = %v, want one naming show backend", err)
	}
}

// TestParseAll: servers are grouped by backend (a server name may repeat
// across backends), backends without servers are listed empty, servers
// not named by zerodrop are skipped.
func TestParseAll(t *testing.T) {
	info := "Pid: 7\nStart_time_sec: 100\n"
	state := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health\n" +
		"3 b1 1 zd-127.0.0.1_80 127.0.0.1 2 0 1 1 2 1 0 4\n" +
		"4 b2 1 zd-127.0.0.1_80 127.0.0.1 0 0 1 1 2 1 0 0\n" +
		"4 b2 2 static 127.0.0.1 2 0 1 1 2 1 0 4\n"
	stat := "# pxname,svname,scur,chkdown,\nb1,zd-127.0.0.1_80,3,1,\nb2,zd-127.0.0.1_80,0,1,\nb2,static,0,0,\n"
	all, err := parseAll(info, "# name\nb1\nb2\nb3\n", state, stat)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || len(all["b3"].Targets) != 0 {
		t.Fatalf("parseAll = %+v, want b1, b2 and an empty b3", all)
	}
	b1, b2 := all["b1"].Targets, all["b2"].Targets
	if len(b1) != 1 || b1[0].State != loadbalancer.StateHealthy || b1[0].Sessions != 3 {
		t.Errorf("b1 = %+v, want one Healthy target with 3 sessions", b1)
	}
	if len(b2) != 1 || b2[0].State != loadbalancer.StateInitial || b2[0].Sessions != 0 {
		t.Errorf("b2 = %+v, want one Initial target (static skipped)", b2)
	}
	if all["b1"].Generation == "" || all["b1"].Generation != all["b2"].Generation {
		t.Errorf("generations %q, %q: want one, the process's", all["b1"].Generation, all["b2"].Generation)
	}
}
