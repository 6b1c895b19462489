// Package install is the `zerodrop install` subcommand: the injected init
// container runs it to copy the static zerodrop binary into a shared
// emptyDir, so the preStop wait works in images without a shell (distroless,
// scratch).
package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// NewCommand returns the install subcommand.
func NewCommand(_ context.Context) *cobra.Command {
	return &cobra.Command{
		Use:   "install DEST",
		Short: "Copy this binary to DEST (the injected init container)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding this binary: %w", err)
			}
			return Copy(self, args[0])
		},
	}
}

// Copy copies the executable src to dst (mode 0755) through a temporary
// file renamed into place, so a reader never sees half a binary. Where src
// and dst share a file system and src is already mode 0755 it hard-links
// instead: in a pod the image's file system and the emptyDir never do (the
// link fails and the copy runs), but on a virtual node, which runs the
// "image" from a host directory, a thousand pods would otherwise hold a
// thousand copies of a 100 MB binary.
func Copy(src, dst string) (err error) {
	if linked(src, dst) {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".zerodrop-*")
	if err != nil {
		return fmt.Errorf("creating a file beside %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return errors.Join(fmt.Errorf("copying to %s: %w", dst, err), tmp.Close())
	}
	if err := tmp.Chmod(0o755); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// linked hard-links src to dst through a temporary name renamed into
// place, and reports whether it did.
func linked(src, dst string) bool {
	fi, err := os.Stat(src)
	if err != nil || fi.Mode().Perm() != 0o755 || os.MkdirAll(filepath.Dir(dst), 0o755) != nil {
		return false
	}
	tmp := filepath.Join(filepath.Dir(dst), fmt.Sprintf(".zerodrop-link-%d", os.Getpid()))
	_ = os.Remove(tmp)
	if os.Link(src, tmp) != nil {
		return false
	}
	if os.Rename(tmp, dst) != nil {
		_ = os.Remove(tmp)
		return false
	}
	return true
}
