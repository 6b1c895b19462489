package status

import "testing"

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		binding, pod string
		wantErr      bool
	}{
		{nil, "", "", false},
		{[]string{"binding/web"}, "web", "", false},
		{[]string{"tb/web"}, "web", "", false},
		{[]string{"targetbindings/web"}, "web", "", false},
		{[]string{"pod/web-1"}, "", "web-1", false},
		{[]string{"po/web-1"}, "", "web-1", false},
		{[]string{"web"}, "", "", true},
		{[]string{"svc/web"}, "", "", true},
		{[]string{"pod/"}, "", "", true},
	} {
		b, p, err := ParseTarget(tc.args)
		if b != tc.binding || p != tc.pod || (err != nil) != tc.wantErr {
			t.Errorf("ParseTarget(%v) = %q, %q, %v; want %q, %q, error %v", tc.args, b, p, err, tc.binding, tc.pod, tc.wantErr)
		}
	}
}
