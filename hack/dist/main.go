// Command dist builds the release archives of the kubectl plugin (`make
// dist`): for each platform, kubectl-zerodrop_<version>_<os>_<arch>.tar.gz
// holding the static binary as kubectl-zerodrop, and beside them the krew
// manifest rendered from plugins/zerodrop.yaml with their checksums
// (internal/krew checks it with krew's rules).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zerodrop/zerodrop/internal/image"
	"github.com/zerodrop/zerodrop/internal/krew"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run() error {
	var out, version, platforms, epoch, manifest string
	flag.StringVar(&out, "o", "bin/dist", "directory to write the archives and the krew manifest into")
	flag.StringVar(&version, "version", "", "release tag (v0.1.0)")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64", "comma-separated os/arch")
	flag.StringVar(&epoch, "epoch", "0", "Unix time of the archived file (SOURCE_DATE_EPOCH)")
	flag.StringVar(&manifest, "manifest", "plugins/zerodrop.yaml", "the krew manifest template")
	flag.Parse()
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("-epoch %q: %w", epoch, err)
	}
	tmpl, err := os.ReadFile(manifest)
	if err != nil {
		return fmt.Errorf("reading the krew manifest template: %w", err)
	}
	build, err := os.MkdirTemp("", "zerodrop-dist-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	rel := krew.Release{Version: version}
	for _, s := range strings.Split(platforms, ",") {
		osName, arch, ok := strings.Cut(s, "/")
		if !ok {
			return fmt.Errorf("platform %q: want os/arch", s)
		}
		bin, err := image.Compile(context.Background(), ".", "./cmd/zerodrop", build, image.Platform{OS: osName, Arch: arch})
		if err != nil {
			return err
		}
		a := krew.Archive{OS: osName, Arch: arch, Name: krew.ArchiveName(version, osName, arch)}
		data, err := archive(bin, time.Unix(secs, 0))
		if err != nil {
			return fmt.Errorf("archiving %s: %w", a.Name, err)
		}
		sum := sha256.Sum256(data)
		a.Sha256 = hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(out, a.Name), data, 0o644); err != nil {
			return err
		}
		rel.Archives = append(rel.Archives, a)
		fmt.Printf("%s  %s\n", a.Sha256, a.Name)
	}
	m, err := krew.Render(tmpl, rel)
	if err != nil {
		return err
	}
	path := filepath.Join(out, filepath.Base(manifest))
	if err := os.WriteFile(path, m, 0o644); err != nil {
		return err
	}
	fmt.Println("krew manifest:", path)
	return nil
}

// archive packs the binary as krew.Binary into a tar.gz with one fixed
// file time.
func archive(bin string, mtime time.Time) ([]byte, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	hdr := &tar.Header{Name: krew.Binary, Mode: 0o755, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
