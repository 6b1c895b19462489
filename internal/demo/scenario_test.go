package demo

import (
	"strings"
	"testing"
	"time"
)

func TestParseScenario_DefaultIsValidAndFitsTheBudget(t *testing.T) {
	s, err := DefaultScenario()
	if err != nil {
		t.Fatalf("default scenario: %v", err)
	}
	if got := int64(s.Load.Rate) * int64(s.Load.MinDuration.Seconds()); got < 10_000 {
		t.Errorf("default load is %d requests per kind and mode, want at least 10,000", got)
	}
	if len(s.Rollouts) != 3 {
		t.Errorf("default rollouts %v, want all three kinds", s.Rollouts)
	}
}

func TestParseScenario_RejectsBadInputNamingTheField(t *testing.T) {
	base := string(DefaultScenarioYAML())
	for _, tc := range []struct {
		name, from, to, wantErr string
	}{
		{"unknown field", "nodes: 3", "nodes: 3\nnodez: 4", `unknown field "nodez"`},
		{"too few nodes", "nodes: 3", "nodes: 1", "nodes: 1"},
		{"one replica", "replicas: 3", "replicas: 1", "replicas: 1"},
		{"zero rate", "rate: 500", "rate: 0", "load.rate: 0"},
		{"not a duration", "minDuration: 20s", "minDuration: twenty", "minDuration"},
		{"short load", "minDuration: 20s", "minDuration: 10ms", "load.minDuration"},
		{"bad shutdown", "shutdown: immediate", "shutdown: slowly", `app.shutdown: "slowly"`},
		{"rise out of range", "rise: 2", "rise: 11", "loadBalancer.rise: 11"},
		{"fractional sleep", "preStopSleep: 5s", "preStopSleep: 1500ms", "staticRecipe.preStopSleep: 1.5s"},
		{"unknown rollout", "  - scale-in", "  - scale-out", `rollouts[1]: "scale-out"`},
		{"duplicate rollout", "  - scale-in", "  - rolling-update", `rollouts[1]: "rolling-update" is listed twice`},
		{"unsupported method", "method: POST", "method: DELETE", `load.method: "DELETE"`},
		{"check interval too short", "checkInterval: 500ms", "checkInterval: 10ms", "loadBalancer.checkInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.from) {
				t.Fatalf("default scenario has no %q", tc.from)
			}
			_, err := ParseScenario([]byte(strings.Replace(base, tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestScenario_StaticRecipeSettings(t *testing.T) {
	s, err := DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	s.LoadBalancer.CheckInterval.Duration, s.LoadBalancer.Rise = 700*time.Millisecond, 3
	s.StaticRecipe.PreStopSleep.Duration, s.App.ShutdownBudget.Duration = 5*time.Second, 2*time.Second
	if got := s.MinReadySeconds(); got != 3 { // ceil(2.1s)
		t.Errorf("MinReadySeconds = %d, want 3", got)
	}
	if got := s.StaticGraceSeconds(); got != 12 { // 5 + 2 + 5
		t.Errorf("StaticGraceSeconds = %d, want 12", got)
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add(DefaultScenarioYAML())
	f.Add([]byte("nodes: 3\nreplicas: [1]"))
	f.Add([]byte("rollouts: [scale-in, scale-in]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScenario(data)
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Fatalf("ParseScenario accepted a scenario Validate rejects: %v", verr)
			}
		}
	})
}
