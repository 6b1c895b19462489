package podapp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	at := time.Date(2026, 12, 2, 4, 0, 0, 123456789, time.UTC)
	line, err := json.Marshal(Record{Time: at, Step: StepExit, Pod: "web-1", Code: 143, Served: 7, Cut: 2})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		line   string
		ok     bool
		step   Step
		cutNum int64
	}{
		{name: "a record round-trips with its time", line: string(line), ok: true, step: StepExit, cutNum: 2},
		{name: "plain text is not a record", line: "listening on :8080", ok: false},
		{name: "JSON without a step is not a record", line: `{"time":"2026-12-02T04:00:00Z"}`, ok: false},
		{name: "JSON without a time is not a record", line: `{"step":"sigterm"}`, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := ParseRecord([]byte(tt.line))
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if ok && (r.Step != tt.step || r.Cut != tt.cutNum || !r.Time.Equal(at)) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestMain_Commands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{name: "sleep takes seconds", args: []string{CommandSleep, "0"}, code: 0},
		{name: "sleep takes a Go duration", args: []string{CommandSleep, "1ms"}, code: 0},
		{name: "sleep wants one argument", args: []string{CommandSleep}, code: 2, inStderr: "one argument"},
		{name: "an unknown command names itself", args: []string{"dance"}, code: 2, inStderr: `"dance"`},
		{name: "a malformed annotation fails serve", args: []string{CommandServe}, code: 1, inStderr: "app.zerodrop.dev/latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if tt.args[0] == CommandServe {
				t.Setenv(AnnotationEnv()["app.zerodrop.dev/latency"], "fast")
			}
			if code := Main(tt.args, &out, &errOut); code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.inStderr) {
				t.Fatalf("stderr %q does not contain %q", errOut.String(), tt.inStderr)
			}
		})
	}
}
