package install

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCopy checks both ways Copy installs a binary: a hard link where the
// source is executable on the same file system, a copy made executable
// otherwise; either way dst holds src's bytes, mode 0755.
func TestCopy(t *testing.T) {
	for _, tt := range []struct {
		name     string
		mode     os.FileMode
		wantLink bool
	}{
		{name: "executable source: linked", mode: 0o755, wantLink: true},
		{name: "non-executable source: copied", mode: 0o644, wantLink: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "zerodrop"), filepath.Join(dir, "bin", "zerodrop")
			if err := os.WriteFile(src, []byte("#!binary"), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(src, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			if err := Copy(src, dst); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil || string(got) != "#!binary" {
				t.Fatalf("dst holds %q, %v", got, err)
			}
			sfi, _ := os.Stat(src)
			dfi, err := os.Stat(dst)
			if err != nil {
				t.Fatal(err)
			}
			if dfi.Mode().Perm() != 0o755 {
				t.Errorf("dst mode %v, want 0755", dfi.Mode().Perm())
			}
			same := sfi.Sys().(*syscall.Stat_t).Ino == dfi.Sys().(*syscall.Stat_t).Ino
			if same != tt.wantLink {
				t.Errorf("dst is src's inode: %v, want %v", same, tt.wantLink)
			}
			left, _ := filepath.Glob(filepath.Join(dir, "bin", ".zerodrop-*"))
			if len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}
