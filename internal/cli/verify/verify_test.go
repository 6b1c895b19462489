package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerodrop/zerodrop/internal/verify/faultserver"
)

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		wantErr bool
		want    map[string]string
	}{
		{in: []string{"X-A: 1", "Host: shop.example"}, want: map[string]string{"X-A": "1", "Host": "shop.example"}},
		{in: []string{"X-Empty:"}, want: map[string]string{"X-Empty": ""}},
		{in: []string{"no colon"}, wantErr: true},
		{in: []string{": value"}, wantErr: true},
		{in: []string{"Bad Name: v"}, wantErr: true},
		{in: []string{"X: a\r\nInjected: b"}, wantErr: true},
	} {
		h, err := parseHeaders(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseHeaders(%q) error %v, want error %t", tc.in, err, tc.wantErr)
			continue
		}
		for k, v := range tc.want {
			if h.Get(k) != v {
				t.Errorf("parseHeaders(%q)[%s] = %q, want %q", tc.in, k, h.Get(k), v)
			}
		}
	}
}

func TestWatchTarget(t *testing.T) {
	for _, tc := range []struct {
		watch, ns, dep  string
		wantNS, wantDep string
		wantErr         bool
	}{
		{watch: "shop/web", wantNS: "shop", wantDep: "web"},
		{dep: "web", wantNS: "default", wantDep: "web"},
		{ns: "shop", dep: "web", wantNS: "shop", wantDep: "web"},
		{},
		{watch: "web", wantErr: true},
		{watch: "shop/", wantErr: true},
		{watch: "Shop/web", wantErr: true},
		{watch: "a/b/c", wantErr: true},
		{watch: "shop/web", dep: "x", wantErr: true},
		{ns: "shop", wantErr: true},
	} {
		ns, dep, err := watchTarget(tc.watch, tc.ns, tc.dep)
		if (err != nil) != tc.wantErr || ns != tc.wantNS || dep != tc.wantDep {
			t.Errorf("watchTarget(%q, %q, %q) = %q, %q, %v", tc.watch, tc.ns, tc.dep, ns, dep, err)
		}
	}
}

func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"X-A: 1", "Host:x", ":", "a:b:c", " : "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHeaders([]string{s})
		if err != nil {
			return
		}
		for k, vs := range h {
			if k == "" || strings.ContainsAny(k, " \t\r\n") {
				t.Fatalf("accepted header name %q from %q", k, s)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n") {
					t.Fatalf("accepted header value %q from %q", v, s)
				}
			}
		}
	})
}

func FuzzWatchTarget(f *testing.F) {
	for _, s := range []string{"shop/web", "a/b/c", "/", "x/", "-a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, dep, err := watchTarget(s, "", "")
		if err != nil || (s == "" && ns == "" && dep == "") {
			return // "" means nothing is watched
		}
		if !validName(ns) || !validName(dep) || ns+"/"+dep != s {
			t.Fatalf("watchTarget(%q) = %q, %q", s, ns, dep)
		}
	})
}

// execute runs the verify command with args and returns stdout, stderr and
// the process exit code main would use.
func execute(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := NewCommand(context.Background())
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	code := 0
	if err != nil {
		code = 1 // what cli.ExitCode gives an error without a code
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

func TestCommand_exitCodes(t *testing.T) {
	const host = "127.43.3.1"
	ok := faultserver.Start(t, host, faultserver.Behavior{})
	bad := faultserver.Start(t, host, faultserver.Behavior{Status: 502})
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantText string
	}{
		{"clean run passes", []string{"--rate", "50", "--duration", "1s", ok.URL}, 0, "verdict: pass"},
		{"502s exceed the zero budget", []string{"--rate", "50", "--duration", "1s", ok.URL, bad.URL}, 2, "25 failed requests exceed --max-errors 0"},
		{"error rate budget met", []string{"--rate", "50", "--duration", "1s", "--max-error-rate", "0.5", ok.URL, bad.URL}, 0, "verdict: pass"},
		{"refused before the start", []string{"--duration", "1s", faultserver.RefusedURL(t, host)}, 3, "unreachable before the load started"},
		{"unsustainable rate", []string{"--rate", "1000000", "--duration", "1s", "--max-schedule-lag", "200ms", ok.URL}, 4, "could not sustain 1000000 requests/s"},
		{"during command fails", []string{"--rate", "50", "--duration", "1s", "--warmup", "200ms", "--cooldown", "0s", "--during", "echo nope; exit 7", ok.URL}, 5, "exit status 7: nope"},
		{"malformed URL", []string{"http://[::1"}, 1, "malformed target URL"},
		{"bad header", []string{"-H", "nocolon", ok.URL}, 1, "malformed --header"},
		{"bad watch", []string{"--watch", "only-one", ok.URL}, 1, "malformed --watch"},
		{"bad error rate", []string{"--max-error-rate", "2", ok.URL}, 1, "--max-error-rate 2"},
		{"no URL", nil, 1, "requires at least 1 arg"},
		{"body and body-file", []string{"--body", "x", "--body-file", filepath.Join(dir, "b"), ok.URL}, 1, "mutually exclusive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.wantCode != 4 && len(args) > 0 {
				// Only the "unsustainable" case is about the rate check; in
				// the others a stall of a busy machine must not turn the
				// verdict into exit 4.
				args = append(args, "--min-rate-ratio", "0.5")
			}
			out, errOut, code := execute(t, args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			if !strings.Contains(out+errOut, tc.wantText) {
				t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", tc.wantText, out, errOut)
			}
		})
	}
}

func TestCommand_writesJSONAndHTML(t *testing.T) {
	srv := faultserver.Start(t, "127.43.3.2", faultserver.Behavior{})
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	_, errOut, code := execute(t, "--rate", "20", "--duration", "1s", "--min-rate-ratio", "0.5", "--keep-alive=false", "--json", jsonPath, "--html", htmlPath, srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		SchemaVersion string `json:"schemaVersion"`
		Totals        struct {
			Requests int64 `json:"requests"`
		} `json:"totals"`
		Config struct {
			KeepAlive bool `json:"keepAlive"`
		} `json:"config"`
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != "zerodrop.dev/verify/v1" || doc.Totals.Requests != 20 || doc.Config.KeepAlive {
		t.Errorf("JSON report %+v", doc)
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil || !bytes.Contains(page, []byte(`<svg id="timeline"`)) {
		t.Errorf("HTML report missing or without chart: %v", err)
	}

	// --json - puts the JSON alone on stdout and the summary on stderr.
	out, errOut, code := execute(t, "--rate", "10", "--duration", "1s", "--min-rate-ratio", "0.5", "--json", "-", srv.URL)
	if code != 0 || !json.Valid([]byte(out)) || !strings.Contains(errOut, "verdict: pass") {
		t.Errorf("--json -: exit %d, stdout valid JSON %t, stderr %q", code, json.Valid([]byte(out)), errOut)
	}
}
