package elbv2emu

import (
	"errors"
	"testing"
)

func TestHealthOf(t *testing.T) {
	up := serverStat{Status: "UP", CheckStatus: "L7OK", Downs: 1}
	tests := []struct {
		name      string
		phase     phase
		attached  bool
		st        serverStat
		ok        bool
		baseDowns int64
		want      health
	}{
		{"detached", phaseInService, false, up, true, 1, healthNotInUse},
		{"detached while draining", phaseDraining, false, up, true, 1, healthNotInUse},
		{"in the registration lag", phaseRegistering, true, serverStat{}, false, 0, healthRegistering},
		{"draining", phaseDraining, true, up, true, 1, healthDraining},
		{"server missing", phaseInService, true, serverStat{}, false, 1, healthNoServer},
		{"up", phaseInService, true, up, true, 1, healthHealthy},
		{"up, failing, not fall times yet", phaseInService, true, serverStat{Status: "UP 1/2", CheckStatus: "L7STS", CheckCode: "500", Downs: 1}, true, 1, healthHealthy},
		{"no check yet", phaseInService, true, serverStat{Status: "DOWN", CheckStatus: "INI", Downs: 1}, true, 1, healthInitial},
		{"passing, not rise times yet", phaseInService, true, serverStat{Status: "DOWN 1/3", CheckStatus: "L7OK", Downs: 1}, true, 1, healthInitial},
		{"wrong status", phaseInService, true, serverStat{Status: "DOWN", CheckStatus: "L7STS", CheckCode: "500", Downs: 1}, true, 1,
			health{stateUnhealthy, reasonResponseCodeMismatch, "Health checks failed with these codes: [500]"}},
		{"timeout", phaseInService, true, serverStat{Status: "DOWN", CheckStatus: "L7TOUT", Downs: 1}, true, 1, health{stateUnhealthy, reasonTimeout, "Request timed out"}},
		{"connect timeout", phaseInService, true, serverStat{Status: "DOWN", CheckStatus: "L4TOUT", Downs: 1}, true, 1, health{stateUnhealthy, reasonTimeout, "Request timed out"}},
		{"refused", phaseInService, true, serverStat{Status: "DOWN", CheckStatus: "L4CON", Downs: 1}, true, 1, health{stateUnhealthy, reasonFailedHealthChecks, "Health checks failed"}},
		{"recovering after having been up", phaseInService, true, serverStat{Status: "DOWN 1/3", CheckStatus: "L7OK", Downs: 2}, true, 1, health{stateUnhealthy, reasonFailedHealthChecks, "Health checks failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := healthOf(tt.phase, tt.attached, tt.st, tt.ok, tt.baseDowns); got != tt.want {
				t.Errorf("healthOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// statSample is HAProxy 2.6.12's "show stat tg 4 -1" for one server that is
// up and one that answers 500 (the header cut after the columns used, rows
// cut to match).
const statSample = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code
tg,t1,0,0,2,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,1,11,3,,1,3,1,,0,,2,0,,0,L7OK,200
tg,t2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,1,5,,1,3,2,,0,,2,0,,0,* L7STS,500
tg,BACKEND,0,0,2,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,,0,11,0,,1,3,0,,0,,1,0,,0,,

`

func TestParseStat(t *testing.T) {
	got, err := parseStat(statSample)
	if err != nil {
		t.Fatalf("parseStat: %v", err)
	}
	want := map[string]serverStat{
		"t1": {Status: "UP", CheckStatus: "L7OK", CheckCode: "200", Downs: 1, Sessions: 2},
		"t2": {Status: "DOWN", CheckStatus: "L7STS", CheckCode: "500", Downs: 1},
	}
	if len(got) != len(want) || got["t1"] != want["t1"] || got["t2"] != want["t2"] {
		t.Errorf("parseStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "# pxname,svname\ntg,t1", "# pxname,svname,status,check_status,check_code,chkdown,scur\ntg,t1,UP,L7OK,200,x,0"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestCheckScope(t *testing.T) {
	const region = "us-east-1"
	tests := []struct {
		auth, code string
	}{
		{"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=00", ""},
		{"", CodeMissingAuthenticationToken},
		{"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00", CodeIncompleteSignature},
		{"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing, Signature=00", CodeIncompleteSignature},
		{"AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/elasticloadbalancing/aws4_request, Signature=00", CodeSignatureDoesNotMatch},
		{"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, Signature=00", CodeSignatureDoesNotMatch},
		{"Bearer x", CodeIncompleteSignature},
	}
	for _, tt := range tests {
		t.Run(tt.auth, func(t *testing.T) {
			err := checkScope(tt.auth, region)
			var code string
			var ae *apiError
			if errors.As(err, &ae) {
				code = ae.Code
			}
			if code != tt.code || (tt.code == "") != (err == nil) {
				t.Errorf("checkScope = %v, want code %q", err, tt.code)
			}
		})
	}
}
