// Package image builds zerodrop's container image without a container
// engine: the static binary cross-compiled per platform, one layer per
// platform (the binary at /zerodrop plus passwd and group entries for the
// nonroot user), an OCI image index over the platforms, written as an OCI
// image layout packed into one tar file. Every input that could vary between
// builds of the same source (file times, owners, the config's creation time,
// the Go build ID, tar and gzip headers) is fixed, so the same source and Go
// toolchain give the same digests. It uses go-containerregistry's v1,
// mutate, tarball and layout packages; `make image` runs it through
// hack/image.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// BinaryPath is where the zerodrop binary lives in the image: the
	// entrypoint, and the controller's default --injector-binary.
	BinaryPath = "/zerodrop"
	// User is the image's user (uid:gid), distroless's "nonroot".
	User = "65532:65532"

	// LabelSource, LabelRevision and LabelVersion are the OCI annotation keys
	// set as config labels and as annotations of the index.
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	// LabelCreated is the OCI annotation of the creation time, set on the index.
	LabelCreated = "org.opencontainers.image.created"

	// refNameAnnotation names the image in index.json for consumers that
	// use OCI's own key (the tag part only, per the image-layout spec).
	refNameAnnotation = "org.opencontainers.image.ref.name"
	// containerdNameAnnotation gives `ctr images import` and `docker load`
	// (25+) the full name to store the image under.
	containerdNameAnnotation = "io.containerd.image.name"

	nonrootUID = 65532
)

// Platform is one OS/architecture the image is built for.
type Platform struct {
	OS, Arch, Variant string
}

// String returns os/arch[/variant], as docker and crane spell it.
func (p Platform) String() string {
	if p.Variant == "" {
		return p.OS + "/" + p.Arch
	}
	return p.OS + "/" + p.Arch + "/" + p.Variant
}

// DefaultPlatforms returns the platforms `make image` builds:
// linux/amd64 and linux/arm64/v8.
func DefaultPlatforms() []Platform {
	return []Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64", Variant: "v8"}}
}

// ParsePlatform parses os/arch[/variant].
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return Platform{OS: parts[0], Arch: parts[1]}, nil
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "":
		return Platform{OS: parts[0], Arch: parts[1], Variant: parts[2]}, nil
	}
	return Platform{}, fmt.Errorf("platform %q: want os/arch or os/arch/variant", s)
}

// Metadata is what the image says about itself.
type Metadata struct {
	// Source, Revision and Version become the OCI source, revision and
	// version labels (empty ones are left out).
	Source, Revision, Version string
	// Created is the config's creation time and every file's mtime;
	// `make image` passes SOURCE_DATE_EPOCH, by default the commit time.
	Created time.Time
}

// Binary is a zerodrop binary built for Platform.
type Binary struct {
	Platform Platform
	Path     string
	// InImage is the binary's path in the image and the entrypoint; empty
	// means BinaryPath. (The local cluster's real nodes build their app
	// image, podapp, with it.)
	InImage string
}

// pathInImage returns where b lives in the image.
func (b Binary) pathInImage() string {
	if b.InImage != "" {
		return b.InImage
	}
	return BinaryPath
}

// Compile cross-compiles the Go package pkg (relative to the module
// directory dir) for p into outDir and returns the binary's path. The build
// is static (CGO_ENABLED=0) and reproducible: -trimpath, no VCS stamp, no
// build ID, no symbol table, and the architecture levels pinned so that the
// caller's environment cannot change the output.
func Compile(ctx context.Context, dir, pkg, outDir string, p Platform) (string, error) {
	out := filepath.Join(outDir, strings.ReplaceAll(p.String(), "/", "-"), "zerodrop")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch,
		"GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0", "GOEXPERIMENT=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s for %s: %w: %s", pkg, p, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Index builds the OCI image index over one image per binary, in the order
// given. Each image has one layer, runs as User and has the binary's path
// (BinaryPath unless Binary.InImage says otherwise) as its entrypoint.
func Index(bins []Binary, md Metadata) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, errors.New("building the image index: no binaries")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range bins {
		img, err := platformImage(b, md)
		if err != nil {
			return nil, fmt.Errorf("building the %s image: %w", b.Platform, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: plainImage{img},
			Descriptor: v1.Descriptor{Platform: &v1.Platform{
				OS: b.Platform.OS, Architecture: b.Platform.Arch, Variant: b.Platform.Variant,
			}},
		})
	}
	annotated, ok := mutate.Annotations(idx, withCreated(labels(md), md.Created)).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotating the image index: not an index") // mutate.Annotations keeps an index an index
	}
	return annotated, nil
}

// plainImage keeps go-containerregistry from setting artifactType (the
// config's media type) on the image's descriptor in the index: OCI reserves
// it for artifacts, docker and buildx leave it out of image indexes, and
// tools that predate image-spec 1.1 (Debian 12's skopeo 1.9) drop the field
// and so push the index under another digest than the one we printed.
type plainImage struct{ v1.Image }

// ArtifactType returns "": this is an image, not an artifact.
func (plainImage) ArtifactType() (string, error) { return "", nil }

func labels(md Metadata) map[string]string {
	l := map[string]string{}
	for k, v := range map[string]string{LabelSource: md.Source, LabelRevision: md.Revision, LabelVersion: md.Version} {
		if v != "" {
			l[k] = v
		}
	}
	return l
}

func withCreated(m map[string]string, t time.Time) map[string]string {
	m[LabelCreated] = t.UTC().Format(time.RFC3339)
	return m
}

func platformImage(b Binary, md Metadata) (v1.Image, error) {
	content, err := layerTar(b.Path, b.pathInImage(), md.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return nil, fmt.Errorf("making the layer: %w", err)
	}
	created := v1.Time{Time: md.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "hack/image: " + b.pathInImage() + ", /etc/passwd, /etc/group", Comment: "zerodrop"},
	})
	if err != nil {
		return nil, fmt.Errorf("appending the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = b.Platform.OS, b.Platform.Arch, b.Platform.Variant
	cf.Created = created
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{b.pathInImage()},
		WorkingDir: "/",
		Labels:     labels(md),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting the config: %w", err)
	}
	return img, nil
}

// layerTar returns the uncompressed layer: the binary at inImage, the
// nonroot user's passwd and group entries, its home, and a /tmp. Files
// belong to root (the binary is not writable by the user it runs as),
// every time is mtime.
// layerEntry is one file or directory of the layer.
type layerEntry struct {
	name string
	mode int64
	uid  int
	body []byte
	dir  bool
}

func layerTar(binary, inImage string, mtime time.Time) ([]byte, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	entries := []layerEntry{ // sorted by name below, directories before their contents
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: strings.TrimPrefix(inImage, "/"), mode: 0o755, body: bin},
	}
	slices.SortStableFunc(entries, func(a, b layerEntry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	t := mtime.UTC().Truncate(time.Second)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: t, Format: tar.FormatUSTAR}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing the layer's %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("writing the layer's %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}
