package cli

import (
	"context"
	"strings"
	"testing"
)

func TestNewCommand_asKubectlPluginReadsKubectlZerodrop(t *testing.T) {
	for argv0, want := range map[string]string{
		"/usr/local/bin/kubectl-zerodrop": "kubectl zerodrop status",
		"bin/zerodrop":                    "zerodrop status",
	} {
		root := NewCommand(context.Background(), argv0)
		st, _, err := root.Find([]string{"status"})
		if err != nil {
			t.Fatalf("%s: no status subcommand: %v", argv0, err)
		}
		if got := st.UseLine(); !strings.HasPrefix(got, want) {
			t.Errorf("invoked as %s: usage %q; want it to start with %q", argv0, got, want)
		}
	}
}
