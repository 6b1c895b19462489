package lint

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Format is an output format.
type Format string

// Output formats.
const (
	FormatHuman Format = "human"
	FormatJSON  Format = "json"
	FormatSARIF Format = "sarif"
	FormatJUnit Format = "junit"
)

// ParseFormat parses an output format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatHuman, FormatJSON, FormatSARIF, FormatJUnit:
		return f, nil
	case "text":
		return FormatHuman, nil
	}
	return "", fmt.Errorf("unknown output format %q: want human, json, sarif or junit", s)
}

// ReportOptions tune report writing.
type ReportOptions struct {
	// Color adds ANSI colours to the human format.
	Color bool
	// ToolVersion is written into SARIF.
	ToolVersion string
}

// WriteReport writes res to w in format f.
func WriteReport(w io.Writer, f Format, res Result, opts ReportOptions) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, res)
	case FormatSARIF:
		return writeSARIF(w, res, opts)
	case FormatJUnit:
		return writeJUnit(w, res)
	default:
		return writeHuman(w, res, opts)
	}
}

// JSONReportVersion is the apiVersion of the JSON report. Fields are only
// added within a version; a change of meaning bumps it.
const JSONReportVersion = "lint.zerodrop.dev/v1"

// JSONReport is the JSON output format (documented in docs/lint.md).
type JSONReport struct {
	APIVersion  string       `json:"apiVersion"`
	Kind        string       `json:"kind"`
	Summary     Summary      `json:"summary"`
	Findings    []Finding    `json:"findings"`
	InputErrors []InputError `json:"inputErrors"`
}

// Summary counts a result.
type Summary struct {
	Objects     int `json:"objects"`
	Findings    int `json:"findings"`
	Errors      int `json:"errors"`
	Warnings    int `json:"warnings"`
	Infos       int `json:"infos"`
	Suppressed  int `json:"suppressed"`
	InputErrors int `json:"inputErrors"`
}

// Summarize counts res.
func Summarize(res Result) Summary {
	s := Summary{Objects: res.Objects, Findings: len(res.Findings), Suppressed: res.Suppressed, InputErrors: len(res.Errors)}
	for _, f := range res.Findings {
		switch f.Severity {
		case SeverityError:
			s.Errors++
		case SeverityWarning:
			s.Warnings++
		default:
			s.Infos++
		}
	}
	return s
}

func writeJSON(w io.Writer, res Result) error {
	rep := JSONReport{APIVersion: JSONReportVersion, Kind: "LintReport", Summary: Summarize(res),
		Findings: res.Findings, InputErrors: res.Errors}
	if rep.Findings == nil {
		rep.Findings = []Finding{}
	}
	if rep.InputErrors == nil {
		rep.InputErrors = []InputError{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

func writeHuman(w io.Writer, res Result, opts ReportOptions) error {
	c := func(code, s string) string {
		if !opts.Color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	if len(res.Errors) > 0 {
		b.WriteString(c(ansiBold, "input errors") + "\n")
		for _, e := range res.Errors {
			fmt.Fprintf(&b, "  %s %s\n", c(ansiRed, "error"), e.Error())
		}
		b.WriteString("\n")
	}
	type groupKey struct {
		ref  ObjectRef
		file string
	}
	var order []groupKey
	groups := map[groupKey][]Finding{}
	for _, f := range res.Findings {
		k := groupKey{f.Object, f.Location.File}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	for _, k := range order {
		ref, fs := k.ref, groups[k]
		fmt.Fprintf(&b, "%s  %s\n", c(ansiBold, ref.String()), c(ansiDim, fs[0].Location.File))
		for _, f := range fs {
			sev := f.Severity.String()
			switch f.Severity {
			case SeverityError:
				sev = c(ansiRed, sev)
			case SeverityWarning:
				sev = c(ansiYellow, sev)
			default:
				sev = c(ansiCyan, sev)
			}
			line := ""
			if f.Location.Line > 0 {
				line = fmt.Sprintf(" line %d", f.Location.Line)
			}
			fmt.Fprintf(&b, "  %s %s%s: %s\n", sev, c(ansiBold, f.RuleID), line, f.Message)
			if f.Fix != "" {
				b.WriteString("      fix:\n")
				for _, l := range strings.Split(strings.TrimRight(f.Fix, "\n"), "\n") {
					fmt.Fprintf(&b, "        %s\n", l)
				}
			}
			fmt.Fprintf(&b, "      see: %s\n", f.HelpURI)
		}
		b.WriteString("\n")
	}
	s := Summarize(res)
	fmt.Fprintf(&b, "%d object(s) checked: %d error(s), %d warning(s), %d info(s), %d suppressed, %d input error(s)\n",
		s.Objects, s.Errors, s.Warnings, s.Infos, s.Suppressed, s.InputErrors)
	_, err := io.WriteString(w, b.String())
	return err
}

// SARIF 2.1.0, the subset lint writes. Written by hand: the schema subset
// is small and stable, and no SARIF library is among our dependencies.
type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	FullDescription      sarifText       `json:"fullDescription"`
	HelpURI              string          `json:"helpUri"`
	Help                 sarifText       `json:"help"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// SARIFSchema is the $schema URI written into SARIF output.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

func sarifLoc(l Location) sarifLocation {
	uri := l.File
	if !strings.Contains(uri, "://") {
		uri = strings.ReplaceAll(uri, "\\", "/")
	}
	sl := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}}}
	if l.Line > 0 {
		sl.PhysicalLocation.Region = &sarifRegion{StartLine: l.Line}
	}
	return sl
}

func writeSARIF(w io.Writer, res Result, opts ReportOptions) error {
	drv := sarifDriver{Name: "zerodrop-lint", InformationURI: "https://github.com/zerodrop/zerodrop/blob/main/docs/lint.md", Version: opts.ToolVersion}
	index := map[string]int{}
	for i, m := range res.Rules {
		index[m.ID] = i
		help := m.Why
		if m.Formula != "" {
			help += "\nFormula: " + m.Formula
		}
		drv.Rules = append(drv.Rules, sarifRule{ID: m.ID, Name: ruleName(m), ShortDescription: sarifText{m.Title},
			FullDescription: sarifText{m.Why}, HelpURI: m.HelpURI, Help: sarifText{help},
			DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(m.Severity)}})
	}
	run := sarifRun{Tool: sarifTool{Driver: drv}, Results: []sarifResult{}}
	inv := sarifInvocation{ExecutionSuccessful: len(res.Errors) == 0}
	for _, e := range res.Errors {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications,
			sarifNotification{Level: "error", Message: sarifText{e.Message}, Locations: []sarifLocation{sarifLoc(e.Location)}})
	}
	run.Invocations = []sarifInvocation{inv}
	for _, f := range res.Findings {
		loc := sarifLoc(f.Location)
		loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: f.Object.String(), Kind: "object"}}
		r := sarifResult{RuleID: f.RuleID, RuleIndex: index[f.RuleID], Level: sarifLevel(f.Severity),
			Message: sarifText{f.Message}, Locations: []sarifLocation{loc}}
		if f.Fix != "" {
			r.Properties = map[string]any{"fix": f.Fix}
		}
		run.Results = append(run.Results, r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Version: "2.1.0", Schema: SARIFSchema, Runs: []sarifRun{run}})
}

// ruleName turns a title into a SARIF rule name (PascalCase words).
func ruleName(m RuleMeta) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(m.Title, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(word[:1]) + word[1:])
	}
	return b.String()
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// writeJUnit writes one test suite per rule: a failing test case per
// finding, one passing case when the rule found nothing; input errors form
// a suite of their own.
func writeJUnit(w io.Writer, res Result) error {
	out := junitSuites{Name: "zerodrop-lint"}
	if len(res.Errors) > 0 {
		s := junitSuite{Name: "input"}
		for _, e := range res.Errors {
			s.Cases = append(s.Cases, junitCase{Name: e.Location.String(), ClassName: "input", File: e.Location.File, Line: e.Location.Line,
				Error: &junitMessage{Message: e.Message, Type: "InputError", Body: e.Error()}})
			s.Tests++
			s.Errors++
		}
		out.Suites = append(out.Suites, s)
	}
	for _, m := range res.Rules {
		s := junitSuite{Name: m.ID + " " + m.Title}
		for _, f := range res.Findings {
			if f.RuleID != m.ID {
				continue
			}
			body := f.Message + "\n" + f.Location.String() + "\nfix:\n" + f.Fix + "see: " + f.HelpURI
			s.Cases = append(s.Cases, junitCase{Name: f.Object.String(), ClassName: m.ID, File: f.Location.File, Line: f.Location.Line,
				Failure: &junitMessage{Message: f.Message, Type: f.Severity.String(), Body: body}})
			s.Failures++
		}
		if len(s.Cases) == 0 {
			s.Cases = append(s.Cases, junitCase{Name: "no findings", ClassName: m.ID})
		}
		s.Tests = len(s.Cases)
		out.Suites = append(out.Suites, s)
		out.Tests += s.Tests
		out.Failures += s.Failures
	}
	for _, s := range out.Suites {
		out.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Explain renders a rule for --explain.
func Explain(m RuleMeta) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  (%s)\n\n", m.ID, m.Title, m.Severity)
	fmt.Fprintf(&b, "Why:\n  %s\n\n", m.Why)
	if m.Formula != "" {
		fmt.Fprintf(&b, "Formula:\n  %s\n\n", m.Formula)
	}
	b.WriteString("Fix (example; findings carry one with your names and numbers):\n")
	for _, l := range strings.Split(m.Fix, "\n") {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "\nSee: %s\n", m.HelpURI)
	return b.String()
}
