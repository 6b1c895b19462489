package lint

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func lintPaths(t *testing.T, cfg *Config, paths ...string) Result {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := (&FileReader{Decoder: dec}).Read(paths)
	res := Lint(objs, false, cfg)
	res.Errors = errs
	return res
}

// lintEach lints every manifest file under paths on its own, as one
// scenario, and merges the results: the corpus files reuse names (shop/web)
// that would be duplicates of each other in one run.
func lintEach(t *testing.T, cfg *Config, paths ...string) Result {
	t.Helper()
	var files []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isManifestName(path) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	var all Result
	for _, f := range files {
		res := lintPaths(t, cfg, f)
		all.Findings = append(all.Findings, res.Findings...)
		all.Errors = append(all.Errors, res.Errors...)
		all.Rules = res.Rules
		all.Objects += res.Objects
		all.Suppressed += res.Suppressed
	}
	SortFindings(all.Findings)
	return all
}

func ruleIDs(res Result) map[string]int {
	out := map[string]int{}
	for _, f := range res.Findings {
		out[f.RuleID]++
	}
	return out
}

// TestRules_corpus proves every rule fires on its failing manifest and
// stays quiet on its passing one.
func TestRules_corpus(t *testing.T) {
	for _, r := range Rules() {
		id := r.Meta().ID
		t.Run(id, func(t *testing.T) {
			dir := filepath.Join("testdata", "rules", id)
			if id == "ZD503" {
				if _, err := os.Stat(dir); err == nil {
					t.Fatalf("%s is live-only, its corpus is in live_test.go", id)
				}
				t.Skip("live-only rule: covered by TestClusterSource_envtest")
			}
			fail := lintPaths(t, nil, filepath.Join(dir, "fail.yaml"))
			pass := lintPaths(t, nil, filepath.Join(dir, "pass.yaml"))
			if len(fail.Errors)+len(pass.Errors) > 0 {
				t.Fatalf("input errors: %v %v", fail.Errors, pass.Errors)
			}
			if ruleIDs(fail)[id] == 0 {
				t.Errorf("fail.yaml: no %s finding; got %v", id, ruleIDs(fail))
			}
			if n := ruleIDs(pass)[id]; n != 0 {
				t.Errorf("pass.yaml: %d %s finding(s): %+v", n, id, pass.Findings)
			}
			for _, f := range fail.Findings {
				if f.RuleID == id && (f.Location.Line == 0 || f.Fix == "" && id != "ZD601" || f.HelpURI == "") {
					t.Errorf("finding lacks line, fix or link: %+v", f)
				}
			}
		})
	}
}

// TestRules_seeds checks the seeds' own examples come out as the seeds
// label them.
func TestRules_seeds(t *testing.T) {
	tests := []struct {
		file    string
		want    []string
		notWant []string
	}{
		{"seed001-prestop-180-grace-200.yaml", nil, []string{"ZD202", "ZD203", "ZD101"}},
		{"seed001-probes-liveness-failurethreshold-1.yaml", []string{"ZD102"}, nil},
		{"seed001-pdb-v1beta1.yaml", []string{"ZD403"}, []string{"ZD402"}},
		{"seed001-nlb-both-health-annotations.yaml", []string{"ZD504", "ZD601"}, nil},
		{"seed001-ingress-ip-dereg-30.yaml", []string{"ZD301"}, []string{"ZD204", "ZD501", "ZD203"}},
		{"seed003-mistake1-prestop-too-long.yaml", []string{"ZD203"}, []string{"ZD202"}},
		{"seed003-mistake2-slow-shutdown.yaml", []string{"ZD203"}, nil},
		{"seed003-correct-configuration.yaml", nil, []string{"ZD202", "ZD203"}},
		{"seed003-correct-sleep-18-grace-45.yaml", nil, []string{"ZD202", "ZD203"}},
		{"seed003-incorrect-sleep-35-grace-45.yaml", []string{"ZD203"}, nil},
		{"seed003-option2-practical.yaml", nil, []string{"ZD203", "ZD303", "ZD302", "ZD101"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res := lintPaths(t, nil, filepath.Join("testdata", "seeds", tt.file))
			if len(res.Errors) > 0 {
				t.Fatal(res.Errors)
			}
			got := ruleIDs(res)
			for _, id := range tt.want {
				if got[id] == 0 {
					t.Errorf("want %s, got %v", id, got)
				}
			}
			for _, id := range tt.notWant {
				if got[id] != 0 {
					t.Errorf("do not want %s, got %v", id, got)
				}
			}
		})
	}
	// The same sleep 180 / grace 200 fails once the application needs 30 s.
	shutdown := int32(30)
	res := lintPaths(t, &Config{ShutdownSeconds: &shutdown}, filepath.Join("testdata", "seeds", "seed001-prestop-180-grace-200.yaml"))
	if ruleIDs(res)["ZD203"] == 0 {
		t.Errorf("shutdownSeconds 30: want ZD203, got %v", ruleIDs(res))
	}
}

// TestWriteReport_golden compares every format over the whole corpus with
// testdata/golden; -update rewrites them.
func TestWriteReport_golden(t *testing.T) {
	res := lintEach(t, nil, filepath.Join("testdata", "seeds"), filepath.Join("testdata", "rules"), filepath.Join("testdata", "bad"),
		filepath.Join("testdata", "kinds"), filepath.Join("testdata", "realworld"))
	if len(res.Findings) == 0 || len(res.Errors) == 0 {
		t.Fatalf("corpus gave %d findings and %d input errors: want some of each", len(res.Findings), len(res.Errors))
	}
	for _, tt := range []struct {
		format Format
		file   string
	}{{FormatHuman, "corpus.txt"}, {FormatJSON, "corpus.json"}, {FormatSARIF, "corpus.sarif"}, {FormatJUnit, "corpus.xml"}} {
		t.Run(string(tt.format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReport(&buf, tt.format, res, ReportOptions{ToolVersion: "test"}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestWriteReport_golden -update)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from the golden file; rerun with -update and review the diff", path)
			}
		})
	}
}

// TestWriteReport_sarifStructure validates the SARIF 2.1.0 shape code
// scanners need.
func TestWriteReport_sarifStructure(t *testing.T) {
	res := lintEach(t, nil, filepath.Join("testdata", "rules"))
	var buf bytes.Buffer
	if err := WriteReport(&buf, FormatSARIF, res, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Schema  string `json:"$schema"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID      string `json:"id"`
						HelpURI string `json:"helpUri"`
						Short   struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					Physical struct {
						Artifact struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("version %q schema %q runs %d", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(Rules()) {
		t.Errorf("driver lists %d rules, want %d", len(run.Tool.Driver.Rules), len(Rules()))
	}
	for _, r := range run.Tool.Driver.Rules {
		if r.ID == "" || !strings.HasPrefix(r.HelpURI, "https://") || r.Short.Text == "" {
			t.Errorf("rule lacks id, helpUri or description: %+v", r)
		}
	}
	if len(run.Results) == 0 {
		t.Fatal("no results")
	}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("ruleIndex %d is not %s", r.RuleIndex, r.RuleID)
		}
		switch r.Level {
		case "error", "warning", "note":
		default:
			t.Errorf("level %q", r.Level)
		}
		if len(r.Locations) != 1 || r.Locations[0].Physical.Artifact.URI == "" || r.Locations[0].Physical.Region == nil || r.Locations[0].Physical.Region.StartLine < 1 {
			t.Errorf("result %s lacks a file URI and line: %+v", r.RuleID, r.Locations)
		}
	}
}

func TestWriteReport_junitParses(t *testing.T) {
	res := lintEach(t, nil, filepath.Join("testdata", "rules", "ZD101"))
	var buf bytes.Buffer
	if err := WriteReport(&buf, FormatJUnit, res, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	if suites.Failures != len(res.Findings) || suites.Failures == 0 {
		t.Errorf("failures %d, findings %d", suites.Failures, len(res.Findings))
	}
}

func TestLint_suppression(t *testing.T) {
	path := filepath.Join("testdata", "rules", "ZD101", "fail.yaml")
	base := lintPaths(t, nil, path)
	if ruleIDs(base)["ZD101"] == 0 {
		t.Fatal("no ZD101 to suppress")
	}
	t.Run("annotation", func(t *testing.T) {
		res := lintPaths(t, nil, filepath.Join("testdata", "suppress", "annotation.yaml"))
		if ruleIDs(res)["ZD101"] != 0 || ruleIDs(res)["ZD401"] != 0 || res.Suppressed < 2 {
			t.Errorf("annotation did not suppress ZD101,ZD401: %v suppressed %d", ruleIDs(res), res.Suppressed)
		}
	})
	t.Run("config", func(t *testing.T) {
		cfg, err := ParseConfig([]byte("disabledRules: [ZD401]\nignores:\n- rules: [ZD101]\n  kind: Deployment\n  name: web\nseverityOverrides:\n  ZD601: error\n"))
		if err != nil {
			t.Fatal(err)
		}
		res := lintPaths(t, cfg, path)
		if ruleIDs(res)["ZD101"] != 0 || ruleIDs(res)["ZD401"] != 0 {
			t.Errorf("config did not suppress: %v", ruleIDs(res))
		}
		for _, m := range res.Rules {
			if m.ID == "ZD401" {
				t.Error("disabled rule still listed")
			}
		}
		over := lintPaths(t, cfg, filepath.Join("testdata", "rules", "ZD601", "fail.yaml"))
		for _, f := range over.Findings {
			if f.RuleID == "ZD601" && f.Severity != SeverityError {
				t.Errorf("severity override not applied: %v", f.Severity)
			}
		}
	})
	t.Run("bad config", func(t *testing.T) {
		for _, bad := range []string{"disabledRules: [ZD999]", "unknownField: 1", "bufferSeconds: -1", "severityOverrides: {ZD101: fatal}"} {
			if _, err := ParseConfig([]byte(bad)); err == nil {
				t.Errorf("%q: want an error", bad)
			}
		}
	})
}

func TestRules_listIsSortedAndUnique(t *testing.T) {
	var ids []string
	seen := map[string]bool{}
	for _, r := range Rules() {
		m := r.Meta()
		if seen[m.ID] {
			t.Errorf("duplicate %s", m.ID)
		}
		seen[m.ID] = true
		ids = append(ids, m.ID)
		if m.Title == "" || m.Why == "" || !strings.HasPrefix(m.HelpURI, "https://") || m.Fix == "" || m.Severity == 0 {
			t.Errorf("%s: incomplete metadata", m.ID)
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("rules not in ID order: %v", ids)
	}
}
