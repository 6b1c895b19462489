package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// WriteTar writes idx as an OCI image layout whose index.json holds one
// entry, idx itself, named ref (a full reference such as
// ghcr.io/zerodrop/zerodrop:v0.1.0; empty leaves it unnamed), and packs the
// layout into one tar file at path: entries sorted, owned by root, dated
// mtime. The file is written beside path and renamed into place.
func WriteTar(idx v1.ImageIndex, ref, path string, mtime time.Time) (err error) {
	dir, err := os.MkdirTemp("", "zerodrop-image-layout-")
	if err != nil {
		return fmt.Errorf("creating the layout directory: %w", err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	if err := WriteLayout(idx, ref, dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".zerodrop-image-*.tar")
	if err != nil {
		return fmt.Errorf("creating a file beside %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tarDir(tmp, dir, mtime); err != nil {
		return errors.Join(fmt.Errorf("packing the layout into %s: %w", path, err), tmp.Close())
	}
	if err := tmp.Chmod(0o644); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("moving the image into place: %w", err)
	}
	return nil
}

// WriteLayout writes idx as an OCI image layout in the empty or missing
// directory dir, with idx as index.json's one entry, named ref.
func WriteLayout(idx v1.ImageIndex, ref, dir string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating the OCI layout in %s: %w", dir, err)
	}
	var opts []layout.Option
	if ref != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{
			containerdNameAnnotation: ref,
			refNameAnnotation:        tagOf(ref),
		}))
	}
	if err := p.AppendIndex(idx, opts...); err != nil {
		return fmt.Errorf("writing the image index to %s: %w", dir, err)
	}
	return nil
}

// tagOf returns the tag of ref (what follows the last colon after the last
// slash), or ref itself when it has none.
func tagOf(ref string) string {
	name := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return name[i+1:]
	}
	return ref
}

// tarDir writes the files under dir to w as a tar stream with fixed
// owners, modes and times; filepath.WalkDir's lexical order fixes the order.
func tarDir(w io.Writer, dir string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	t := mtime.UTC().Truncate(time.Second)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: t, Format: tar.FormatUSTAR}
		switch {
		case d.IsDir():
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, info.Size()
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			return errors.Join(err, f.Close())
		}
		return fmt.Errorf("%s: not a regular file or directory", rel)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
