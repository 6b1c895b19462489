package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readRuleFile(t *testing.T, id, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rules", id, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

const nsShopUnlabelled = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n"

// TestRules_splitsAndFolds covers the rules that hand a case to each
// other: ZD401 and ZD405 by replica count, ZD301 and ZD501/ZD502 by target
// type and gate label, ZD601 and the workload kinds.
func TestRules_splitsAndFolds(t *testing.T) {
	hpa := "\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: shop\n" +
		"spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 3\n  maxReplicas: 6\n"
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: legacy\nspec:\n  selector:\n    app: legacy\n  ports:\n  - port: 80\n---\n"
	tmpl := "    metadata:\n      labels:\n        app: legacy\n    spec:\n      containers:\n      - name: c\n        image: x\n"
	rc := svc + "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: legacy\nspec:\n  replicas: 2\n  selector:\n    app: legacy\n  template:\n" + tmpl
	job := svc + "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: legacy\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n" +
		indent(tmpl, "    ")
	disable502, err := ParseConfig([]byte("disabledRules: [ZD502]"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		in        string
		cfg       *Config
		want, not []string
	}{
		{"one replica is a single point of failure, not a missing PDB", readRuleFile(t, "ZD405", "fail.yaml"), nil, []string{"ZD405"}, []string{"ZD401"}},
		{"three replicas without a PDB ask for one", readRuleFile(t, "ZD401", "fail.yaml"), nil, []string{"ZD401"}, []string{"ZD405"}},
		{"an HPA's minReplicas overrides replicas: 1", strings.Replace(readRuleFile(t, "ZD405", "fail.yaml"), "kind: PodDisruptionBudget", "kind: NotAPDB", 1) + hpa,
			nil, []string{"ZD401"}, []string{"ZD405"}},
		{"instance targets: ZD501, no ZD301", readRuleFile(t, "ZD501", "fail.yaml"), nil, []string{"ZD501"}, []string{"ZD301"}},
		{"ip targets, namespace without the gate label: ZD502 only", nsShopUnlabelled + readRuleFile(t, "ZD301", "fail.yaml"), nil, []string{"ZD502"}, []string{"ZD301"}},
		{"ZD502 disabled: ZD301 reports it", nsShopUnlabelled + readRuleFile(t, "ZD301", "fail.yaml"), disable502, []string{"ZD301"}, []string{"ZD502"}},
		{"a ReplicationController is selected", rc, nil, nil, []string{"ZD601", "ZD603"}},
		{"a policy/v1 PDB with selector {} covers every pod of its namespace", replaceLast(t, readRuleFile(t, "ZD401", "pass.yaml"),
			"  selector:\n    matchLabels:\n      app: web", "  selector: {}"), nil, nil, []string{"ZD401"}},
		{"a policy/v1 PDB without a selector covers none", replaceLast(t, readRuleFile(t, "ZD401", "pass.yaml"),
			"  selector:\n    matchLabels:\n      app: web", ""), nil, []string{"ZD401"}, nil},
		{"a StatefulSet scaled to 0 has no capacity gap", "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\nspec:\n  selector:\n    app: legacy\n---\n" +
			"apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  replicas: 0\n  template:\n" + tmpl, nil, nil, []string{"ZD303", "ZD405"}},
		{"a CronJob's pods are selected but not checked", job, nil, []string{"ZD603"}, []string{"ZD601", "ZD101"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ruleIDs(lintBytes(t, tt.cfg, "in.yaml", []byte(tt.in)))
			for _, id := range tt.want {
				if got[id] == 0 {
					t.Errorf("want %s, got %v", id, got)
				}
			}
			for _, id := range tt.not {
				if got[id] != 0 {
					t.Errorf("do not want %s, got %v", id, got)
				}
			}
		})
	}
}

func replaceLast(t *testing.T, s, old, new string) string {
	t.Helper()
	i := strings.LastIndex(s, old)
	if i < 0 {
		t.Fatalf("%q not found", old)
	}
	return s[:i] + new + s[i+len(old):]
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestGraceFormulaMessage(t *testing.T) {
	s := DefaultSettings()
	tests := []struct {
		name        string
		grace, need int64
		p           PreStop
		want, not   string
	}{
		{"no preStop: time after SIGTERM, no preStop term", 15, 20, PreStop{}, "20 = 10s shutdown + 10s buffer: the application has only 15s after SIGTERM before SIGKILL", "preStop"},
		{"grace 0: immediate kill", 0, 20, PreStop{}, "terminationGracePeriodSeconds 0 < 20 = 10s shutdown + 10s buffer: 0 asks for an immediate SIGKILL", "after"},
		{"exact sleep", 45, 60, PreStop{Present: true, Seconds: 40, Exact: true, Source: "sleep action"}, `container "web"'s preStop 40s (sleep action) + 10s shutdown + 10s buffer: the application has only 5s after preStop`, "at most"},
		{"sleep and a command: an upper bound", 45, 60, PreStop{Present: true, Seconds: 40, Source: "exec sh -c sleep 40 && drain"}, "at most 5s after preStop", "only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := graceFormulaMessage(tt.grace, tt.need, tt.p, "web", s)
			if !strings.Contains(got, tt.want) || strings.Contains(got, tt.not) {
				t.Errorf("got %q\nwant it to contain %q and not %q", got, tt.want, tt.not)
			}
		})
	}
}
