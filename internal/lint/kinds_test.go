package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lintBytes(t *testing.T, cfg *Config, name string, data []byte) Result {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := dec.Decode(name, data)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", name, errs)
	}
	return Lint(objs, false, cfg)
}

// TestRules_eachWorkloadKind proves every rule stays silent on a correct
// manifest of each workload kind (testdata/kinds), and that the kind is
// really modelled: a Service selects it, and breaking the manifest makes
// the rules for probes, preStop, grace period and PDB fire on it.
func TestRules_eachWorkloadKind(t *testing.T) {
	kinds := []struct {
		file, kind string
		scalable   bool
	}{
		{"deployment.yaml", "Deployment", true},
		{"statefulset.yaml", "StatefulSet", true},
		{"daemonset.yaml", "DaemonSet", false},
		{"replicaset.yaml", "ReplicaSet", true},
		{"replicationcontroller.yaml", "ReplicationController", true},
		{"pod.yaml", "Pod", false},
	}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "kinds", k.file))
			if err != nil {
				t.Fatal(err)
			}
			res := lintBytes(t, nil, k.file, data)
			for _, r := range Rules() {
				id := r.Meta().ID
				t.Run(id, func(t *testing.T) {
					for _, f := range res.Findings {
						if f.RuleID == id {
							t.Errorf("correct %s: %s fired: %s", k.kind, id, f.Message)
						}
					}
				})
			}
			dec, _ := NewDecoder()
			objs, _ := dec.Decode(k.file, data)
			m := NewModel(objs, false)
			var lb []string
			for _, w := range m.loadBalanced() {
				lb = append(lb, w.Object.Ref.Kind)
			}
			if len(lb) != 1 || lb[0] != k.kind {
				t.Fatalf("load-balanced workloads %v, want the %s", lb, k.kind)
			}
			breakages := []struct {
				rule, old, new string
				applies        bool
			}{
				{"ZD101", "readinessProbe:", "startupProbe:", true},
				{"ZD201", "lifecycle:\n", "x-lifecycle:\n", true},
				{"ZD203", "terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds: 25", true},
				{"ZD401", "kind: PodDisruptionBudget", "kind: NotAPodDisruptionBudget", k.scalable},
				{"ZD406", "topologySpreadConstraints:", "x-topologySpreadConstraints:", k.scalable},
			}
			for _, b := range breakages {
				if !b.applies {
					continue
				}
				if !strings.Contains(string(data), b.old) {
					t.Fatalf("%s lacks %q", k.file, b.old)
				}
				broken := lintBytes(t, nil, k.file, []byte(strings.Replace(string(data), b.old, b.new, 1)))
				found := false
				for _, f := range broken.Findings {
					if f.RuleID == b.rule && f.Object.Kind == k.kind {
						found = true
					}
				}
				if !found {
					t.Errorf("%s with %q: no %s on the %s; got %v", k.kind, b.new, b.rule, k.kind, ruleIDs(broken))
				}
			}
		})
	}
}
