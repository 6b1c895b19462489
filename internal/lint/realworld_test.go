package lint

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestRealWorld_findings pins the findings per rule on the re-created
// public shapes of testdata/realworld (README there). The comments name the
// false alarms these shapes used to raise.
func TestRealWorld_findings(t *testing.T) {
	tests := []struct {
		file string
		want map[string]int
	}{
		// Was ZD401 "may evict all 1 at once".
		{"argocd-guestbook.yaml", map[string]int{"ZD101": 1, "ZD201": 1, "ZD405": 1}},
		// Was ZD301 on instance targets, whose health checks do not follow pods.
		{"aws-alb-instance-echo.yaml", map[string]int{"ZD201": 1, "ZD401": 1, "ZD406": 1, "ZD501": 1}},
		// Was ZD301 beside ZD502 for the same missing gate label.
		{"aws-alb-ip-game.yaml", map[string]int{"ZD101": 1, "ZD201": 1, "ZD401": 1, "ZD406": 1, "ZD502": 1}},
		{"emojivoto.yaml", map[string]int{"ZD101": 3, "ZD201": 3, "ZD405": 3}},
		{"istio-bookinfo.yaml", map[string]int{"ZD101": 6, "ZD201": 6, "ZD405": 6}},
		// Was ZD601 "selects nothing" on the ReplicationControllers' Services.
		{"k8s-examples-legacy.yaml", map[string]int{"ZD101": 3, "ZD201": 3, "ZD401": 3, "ZD405": 1, "ZD406": 3}},
		{"microservices-shop.yaml", map[string]int{"ZD103": 4, "ZD201": 4, "ZD203": 2, "ZD405": 4}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res := lintPaths(t, nil, filepath.Join("testdata", "realworld", tt.file))
			if len(res.Errors) > 0 {
				t.Fatal(res.Errors)
			}
			if got := ruleIDs(res); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("findings per rule %v, want %v", got, tt.want)
			}
		})
	}
}
