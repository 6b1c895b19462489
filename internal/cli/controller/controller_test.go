package controller

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestNewCommand_refusesAnUnpinnedInjectorImage proves the controller does
// not start with an injector image that could change under running
// workloads, nor with resources it cannot parse.
func TestNewCommand_refusesAnUnpinnedInjectorImage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--injector-image=ghcr.io/zerodrop/zerodrop:latest"}, "latest"},
		{[]string{"--injector-image=ghcr.io/zerodrop/zerodrop"}, "no tag or digest"},
		{[]string{"--injector-image=zerodrop:v1", "--injector-cpu-request=lots"}, "injector resources"},
	} {
		cmd := NewCommand(context.Background())
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one saying %q", tt.args, err, tt.want)
		}
	}
}

func TestNewCommand_refusesBadScaleSettings(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-concurrent-reconciles=0"}, "--max-concurrent-reconciles 0 must be at least 1"},
		{[]string{"--lb-observation=both"}, `--lb-observation: observation "both"`},
	} {
		cmd := NewCommand(context.Background())
		cmd.SetArgs(append(tt.args, "--kubeconfig=/nonexistent"))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one saying %q", tt.args, err, tt.want)
		}
	}
}
