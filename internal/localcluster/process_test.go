package localcluster

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartProcess_nice checks that a nonzero nice value is the process's
// own (every thread of it inherits it), and zero leaves the caller's.
func TestStartProcess_nice(t *testing.T) {
	self, err := procNice(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ nice, want int }{{7, min(self+7, 19)}, {0, self}} {
		p, err := startProcess("sleep", "sleep", filepath.Join(t.TempDir(), "sleep.log"), []string{"30"}, tc.nice)
		if err != nil {
			t.Fatal(err)
		}
		// nice(1) execs the binary in the same process: wait for the exec.
		var got int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
				break
			}
		}
		if got, err = procNice(p.pid()); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("nice %d: the process runs at %d, want %d", tc.nice, got, tc.want)
		}
		if err := p.stop(5 * time.Second); err != nil {
			t.Error(err)
		}
	}
}

// procNice reads a process's nice value from /proc/<pid>/stat (field 19).
func procNice(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return strconv.Atoi(fields[16])
}

func TestStart_rejectsAControlPlaneNiceOutOfRange(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, ComponentAPIServer), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, nice := range []int{-1, 20} {
		_, err := Start(context.Background(), Options{BinDir: bin, ControlPlaneNice: nice})
		if err == nil || !strings.Contains(err.Error(), "ControlPlaneNice "+strconv.Itoa(nice)) {
			t.Errorf("ControlPlaneNice %d: %v, want an error naming it", nice, err)
		}
	}
}
