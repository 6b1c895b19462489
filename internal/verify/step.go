package verify

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ShellStep returns a Step that runs command with /bin/sh -c. The tail of
// its combined output is kept in the error when it fails.
func ShellStep(command string) Step {
	return Step{Name: command, Run: func(ctx context.Context) error {
		return runShell(ctx, command)
	}}
}

// tailBuffer keeps the last n bytes written to it.
type tailBuffer struct {
	n   int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = t.buf[len(t.buf)-t.n:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.buf)) }

// runShell runs command with /bin/sh -c in its own process group, so that
// cancelling ctx ends the command and its children.
func runShell(ctx context.Context, command string) error {
	out := &tailBuffer{n: 2048}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if tail := out.String(); tail != "" {
			return fmt.Errorf("%q: %w: %s", command, err, tail)
		}
		return fmt.Errorf("%q: %w", command, err)
	}
	return nil
}
