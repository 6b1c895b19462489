package elbv2emu

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"testing"
)

func TestForm_targets(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []targetRef
		code string
	}{
		{"none", "Action=RegisterTargets", []targetRef{}, ""},
		{"in index order", "Targets.member.2.Id=127.0.0.2&Targets.member.1.Id=127.0.0.1&Targets.member.1.Port=80&Targets.member.2.AvailabilityZone=all",
			[]targetRef{{ID: "127.0.0.1", Port: 80, PortSet: true}, {ID: "127.0.0.2", AvailabilityZone: "all"}}, ""},
		{"a gap", "Targets.member.1.Id=a&Targets.member.3.Id=b", nil, CodeValidationError},
		{"index zero", "Targets.member.0.Id=a", nil, CodeValidationError},
		{"leading zero", "Targets.member.01.Id=a", nil, CodeValidationError},
		{"index too large", "Targets.member.1001.Id=a", nil, CodeValidationError},
		{"no Id", "Targets.member.1.Port=80", nil, CodeValidationError},
		{"port not a number", "Targets.member.1.Id=a&Targets.member.1.Port=http", nil, CodeInvalidTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseQuery(tt.body)
			if err != nil {
				t.Fatalf("parseQuery: %v", err)
			}
			got, err := f.targets("Targets")
			if tt.code != "" {
				var ae *apiError
				if !errors.As(err, &ae) || ae.Code != tt.code {
					t.Fatalf("error %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("targets = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestTargetRef_resolve(t *testing.T) {
	tests := []struct {
		ref  targetRef
		want string
		code string
	}{
		{targetRef{ID: "127.46.0.1"}, "127.46.0.1:8080", ""},
		{targetRef{ID: "127.46.0.1", Port: 9090, PortSet: true}, "127.46.0.1:9090", ""},
		{targetRef{ID: "127.46.0.1", Port: 0, PortSet: true}, "", CodeInvalidTarget},
		{targetRef{ID: "127.46.0.1", Port: 65536, PortSet: true}, "", CodeInvalidTarget},
		{targetRef{ID: "10.0.0.1"}, "", CodeInvalidTarget},
		{targetRef{ID: "::1"}, "", CodeInvalidTarget},
		{targetRef{ID: "i-0abc"}, "", CodeInvalidTarget},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.ref), func(t *testing.T) {
			k, err := tt.ref.resolve(8080)
			if tt.code != "" {
				var ae *apiError
				if !errors.As(err, &ae) || ae.Code != tt.code {
					t.Fatalf("error %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil || k.String() != tt.want {
				t.Errorf("resolve = %s, %v; want %s", k, err, tt.want)
			}
		})
	}
}

// FuzzParseQuery: no body makes the parser panic or return more members
// than its limit, and what it accepts survives a round trip through the
// SDK's encoding.
func FuzzParseQuery(f *testing.F) {
	f.Add("Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=arn&Targets.member.1.Id=127.0.0.1&Targets.member.1.Port=80")
	f.Add("Action=DescribeTargetGroups&Names.member.1=a&Names.member.2=b&PageSize=2")
	f.Add("Targets.member.1.Id=%zz&Targets.member.1&=&&")
	f.Add("Names.member.1.x=a&Names.member.1=b")
	f.Fuzz(func(t *testing.T, body string) {
		fm, err := parseQuery(body)
		if err != nil {
			return
		}
		if ts, err := fm.targets("Targets"); err == nil {
			if len(ts) > maxMembers {
				t.Fatalf("%d targets, more than %d", len(ts), maxMembers)
			}
			v := url.Values{}
			for i, tr := range ts {
				p := fmt.Sprintf("Targets.member.%d.", i+1)
				v.Set(p+"Id", tr.ID)
				if tr.PortSet {
					v.Set(p+"Port", fmt.Sprint(tr.Port))
				}
				if tr.AvailabilityZone != "" {
					v.Set(p+"AvailabilityZone", tr.AvailabilityZone)
				}
			}
			again, err := parseQuery(v.Encode())
			if err != nil {
				t.Fatalf("re-encoded targets do not parse: %v", err)
			}
			ts2, err := again.targets("Targets")
			if err != nil || !reflect.DeepEqual(ts, ts2) {
				t.Fatalf("round trip: %+v became %+v (%v)", ts, ts2, err)
			}
		}
		if names, err := fm.strings("Names"); err == nil && len(names) > maxMembers {
			t.Fatalf("%d names, more than %d", len(names), maxMembers)
		}
	})
}
