package image

import (
	"context"
	"errors"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Options says what Build builds and where it writes it.
type Options struct {
	// Dir is the Go module's directory and Package the main package in it
	// (./cmd/zerodrop).
	Dir, Package string
	// Platforms are built in this order (DefaultPlatforms when empty).
	Platforms []Platform
	// InImage is the binary's path in the image (empty: BinaryPath).
	InImage string
	// Ref names the image in the layout's index.json (see WriteTar).
	Ref string
	// Output is the tar file written.
	Output string
	Metadata
}

// Result describes what Build wrote.
type Result struct {
	// Digest is the image index's digest: what a registry stores and what
	// --injector-image pins.
	Digest v1.Hash
	// TarBytes is the size of the written tar file.
	TarBytes int64
	// Images lists each platform's manifest digest and compressed layer size.
	Images []PlatformImage
}

// PlatformImage is one platform's entry in the index.
type PlatformImage struct {
	Platform   Platform
	Digest     v1.Hash
	LayerBytes int64
}

// Build compiles o.Package for every platform, builds the image index and
// writes it to o.Output as an OCI image-layout tar.
func Build(ctx context.Context, o Options) (res Result, err error) {
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = DefaultPlatforms()
	}
	tmp, err := os.MkdirTemp("", "zerodrop-image-bin-")
	if err != nil {
		return Result{}, fmt.Errorf("creating the build directory: %w", err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	var bins []Binary
	for _, p := range platforms {
		path, err := Compile(ctx, o.Dir, o.Package, tmp, p)
		if err != nil {
			return Result{}, err
		}
		bins = append(bins, Binary{Platform: p, Path: path, InImage: o.InImage})
	}
	idx, err := Index(bins, o.Metadata)
	if err != nil {
		return Result{}, err
	}
	if err := WriteTar(idx, o.Ref, o.Output, o.Created); err != nil {
		return Result{}, err
	}
	return Describe(idx, o.Output)
}

// Describe returns idx's digest, its images' digests and layer sizes, and
// the size of the tar file at path.
func Describe(idx v1.ImageIndex, path string) (Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Result{}, fmt.Errorf("reading the image's size: %w", err)
	}
	res := Result{TarBytes: fi.Size()}
	if res.Digest, err = idx.Digest(); err != nil {
		return Result{}, fmt.Errorf("computing the index digest: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return Result{}, fmt.Errorf("reading the index: %w", err)
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return Result{}, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		im, err := img.Manifest()
		if err != nil {
			return Result{}, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
		}
		pi := PlatformImage{Digest: d.Digest}
		if d.Platform != nil {
			pi.Platform = Platform{OS: d.Platform.OS, Arch: d.Platform.Architecture, Variant: d.Platform.Variant}
		}
		for _, l := range im.Layers {
			pi.LayerBytes += l.Size
		}
		res.Images = append(res.Images, pi)
	}
	return res, nil
}
