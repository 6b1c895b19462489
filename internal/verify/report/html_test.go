package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zerodrop/zerodrop/internal/verify/classify"
)

// sampleReport builds the report of a made-up 30 s rollout at 100/s: 502s
// while an old pod terminates, refused connections right after, a caller
// event, three pod lanes and a binding lane.
func sampleReport() *Report {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := NewBuilder()
	for i := 0; i < 3000; i++ {
		off := time.Duration(i) * 10 * time.Millisecond
		c, lat := classify.OK, 2*time.Millisecond+time.Duration(i%7)*time.Millisecond
		switch sec := i / 100; {
		case sec >= 12 && sec < 15 && i%4 == 0:
			c = classify.HTTP502
		case sec == 15 && i%3 == 0:
			c = classify.Refused
		case sec == 16 && i%20 == 0:
			c, lat = classify.Timeout, time.Second
		}
		b.Add(Sample{Offset: off, Latency: lat, Class: c})
	}
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	ev := func(s float64, src, kind, subj, msg string) Event {
		return Event{Time: at(s), Source: src, Kind: kind, Subject: subj, Message: msg}
	}
	events := []Event{
		ev(0, SourceVerify, KindLoadStarted, "", "100 requests/s"),
		ev(0, SourceKubernetes, KindPodObserved, "pod/web-a", ""),
		ev(0, SourceKubernetes, KindPodReady, "pod/web-a", "Ready"),
		ev(0, SourceKubernetes, KindBindingObserved, "targetbinding/web", ""),
		ev(0, SourceKubernetes, KindBindingReady, "targetbinding/web", "Ready True"),
		ev(5, SourceVerify, KindDuringStarted, "", "kubectl rollout restart deploy/web"),
		ev(5.2, SourceCaller, "rollout.started", "", "rolling update started"),
		ev(5.5, SourceKubernetes, KindPodCreated, "pod/web-b", ""),
		ev(6, SourceKubernetes, KindPodScheduled, "pod/web-b", "scheduled to node-1"),
		ev(9, SourceKubernetes, KindPodReady, "pod/web-b", "Ready"),
		ev(11.8, SourceCaller, "agent.sigterm", "pod/web-a", "SIGTERM sent to pod web-a"),
		ev(12, SourceKubernetes, KindPodTerminating, "pod/web-a", "grace 30s"),
		ev(12.5, SourceKubernetes, KindBindingNotReady, "targetbinding/web", "Ready False"),
		ev(12.5, SourceKubernetes, KindBindingTargets, "targetbinding/web", "desired 2 healthy 1"),
		ev(13, SourceKubernetes, KindPodCreated, "pod/web-c", ""),
		ev(14, SourceKubernetes, KindPodGateTrue, "pod/web-c", "target-health.zerodrop.dev/web True"),
		ev(14.2, SourceKubernetes, KindPodReady, "pod/web-c", "Ready"),
		ev(16, SourceKubernetes, KindPodDeleted, "pod/web-a", ""),
		ev(18, SourceKubernetes, KindBindingReady, "targetbinding/web", "Ready True"),
		ev(20, SourceVerify, KindDuringFinished, "", ""),
		ev(30, SourceVerify, KindLoadFinished, "", ""),
	}
	r := b.Build(BuildInput{
		Config: Config{Targets: []string{"http://127.43.0.9:8080/"}, Method: "GET", Rate: 100, DurationSeconds: 30, TimeoutSeconds: 1, KeepAlive: true,
			During: "kubectl rollout restart deploy/web", WarmupSeconds: 5, Watch: "shop/web", MaxErrors: 0, MaxErrorRate: -1},
		Start: start, End: at(30), Events: events,
	})
	r.Verdict = Judge(r, JudgeInput{MinRateRatio: 0.9})
	return r
}

// chromium returns the browser's path, skipping the test when it is missing
// outside CI and failing it under CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed but CI is set: install it with hack/install-debs.sh chromium")
	}
	t.Skip("chromium is not installed: run hack/install-debs.sh chromium to test the HTML report in a browser")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func TestWriteHTML_rendersChartAndLanesOfflineInChromium(t *testing.T) {
	r := sampleReport()
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	// Self-contained: no script, no external reference of any kind.
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`), regexp.MustCompile(`(?i)\s(src|href)\s*=`),
		regexp.MustCompile(`(?i)@import`), regexp.MustCompile(`(?i)url\(`), regexp.MustCompile(`(?i)<link`),
	} {
		if loc := bad.FindStringIndex(html); loc != nil {
			t.Errorf("report references something external (%s): %q", bad, html[max(loc[0]-40, 0):min(loc[1]+40, len(html))])
		}
	}

	bin := chromium(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(runChromium(t, bin, "--dump-dom", "file://"+file))
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllStringIndex(dom, -1)) }
	checks := []struct {
		what      string
		re        string
		min, max_ int
	}{
		{"the timeline svg", `<svg id="timeline"`, 1, 1},
		{"502 bars in seconds 12-14", `<rect class="bar http_502"`, 3, 3},
		{"refused bar in second 15", `<rect class="bar refused"`, 1, 1},
		{"timeout bar in second 16", `<rect class="bar timeout"`, 1, 1},
		{"ok bars in every second", `<rect class="bar ok"`, 30, 30},
		{"latency lines", `<polyline class="latency p\d\d"`, 3, 3},
		{"one lane per pod and binding", `<g class="lane" data-subject="`, 4, 4},
		{"terminating segment of web-a", `class="segment terminating"`, 1, 1},
		{"ready segments", `class="segment ready"`, 4, 5},
		{"marks (gate, targets, caller SIGTERM, deleted)", `<circle class="mark"`, 4, 10},
		{"numbered run events", `<text [^>]*class="evnum"`, 5, 5},
		{"error seconds table rows", `<tr><td>1[2-6]</td>`, 5, 5},
	}
	for _, c := range checks {
		if n := count(c.re); n < c.min || n > c.max_ {
			t.Errorf("%s: %d matches of %s in the rendered DOM, want %d..%d", c.what, n, c.re, c.min, c.max_)
		}
	}
	if !strings.Contains(dom, "SIGTERM sent to pod web-a") {
		t.Error("the caller's SIGTERM event is not in the page")
	}

	shot := filepath.Join(dir, "report.png")
	if d := os.Getenv("VERIFY_SCREENSHOT_DIR"); d != "" {
		shot = filepath.Join(d, "verify-report.png")
	}
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1400,1000", "file://"+file)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s missing or too small (%v, %v)", shot, st, err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, st.Size())
}

func TestWriteHTML_escapesUntrustedText(t *testing.T) {
	r := sampleReport()
	r.Events = append(r.Events, Event{Kind: "x", Message: `<img src=x onerror=alert(1)>`, Source: SourceCaller})
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<img") {
		t.Error("event text was not escaped")
	}
}
