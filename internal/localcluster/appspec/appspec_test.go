package appspec

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		want    Spec
		wantErr string
	}{
		{name: "defaults", in: nil, want: Spec{HealthPath: DefaultHealthPath, Shutdown: ShutdownImmediate}},
		{name: "every annotation", in: map[string]string{
			AnnotationStartupDelay: "2s", AnnotationLatency: "15ms", AnnotationHealthPath: "/ready",
			AnnotationShutdown: "graceful", AnnotationShutdownDelay: "1m",
		}, want: Spec{StartupDelay: 2 * time.Second, Latency: 15 * time.Millisecond, HealthPath: "/ready", Shutdown: ShutdownGraceful, ShutdownDelay: time.Minute}},
		{name: "bad duration names the annotation", in: map[string]string{AnnotationLatency: "fast"}, wantErr: AnnotationLatency},
		{name: "negative duration", in: map[string]string{AnnotationStartupDelay: "-1s"}, wantErr: AnnotationStartupDelay},
		{name: "too long", in: map[string]string{AnnotationShutdownDelay: "2h"}, wantErr: AnnotationShutdownDelay},
		{name: "relative health path", in: map[string]string{AnnotationHealthPath: "healthz"}, wantErr: AnnotationHealthPath},
		{name: "unknown shutdown mode", in: map[string]string{AnnotationShutdown: "polite"}, wantErr: AnnotationShutdown},
		{name: "unrelated annotations are ignored", in: map[string]string{"other": "x"}, want: Spec{HealthPath: DefaultHealthPath, Shutdown: ShutdownImmediate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("2s", "1ms", "/healthz", "graceful", "0s")
	f.Add("", "x", "", "immediate", "-3s")
	f.Fuzz(func(t *testing.T, startup, latency, health, shutdown, delay string) {
		spec, err := Parse(map[string]string{
			AnnotationStartupDelay: startup, AnnotationLatency: latency, AnnotationHealthPath: health,
			AnnotationShutdown: shutdown, AnnotationShutdownDelay: delay,
		})
		if err != nil {
			return
		}
		for _, d := range []time.Duration{spec.StartupDelay, spec.Latency, spec.ShutdownDelay} {
			if d < 0 || d > maxAppDuration {
				t.Fatalf("accepted out-of-range duration %s", d)
			}
		}
		if !strings.HasPrefix(spec.HealthPath, "/") {
			t.Fatalf("accepted health path %q", spec.HealthPath)
		}
		if spec.Shutdown != ShutdownGraceful && spec.Shutdown != ShutdownImmediate {
			t.Fatalf("accepted shutdown mode %q", spec.Shutdown)
		}
	})
}
