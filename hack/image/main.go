// Command image builds zerodrop's multi-platform OCI image into one
// image-layout tar without a container engine (`make image`); the work is
// done by internal/image.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/zerodrop/zerodrop/internal/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run() error {
	var o image.Options
	var platforms, epoch string
	flag.StringVar(&o.Output, "o", "bin/zerodrop-image.tar", "tar file to write")
	flag.StringVar(&o.Package, "pkg", "./cmd/zerodrop", "main package to build")
	flag.StringVar(&o.InImage, "binary-path", image.BinaryPath, "the binary's path in the image (the entrypoint)")
	flag.StringVar(&o.Ref, "ref", "", "image name stored in index.json (name:tag)")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64/v8", "comma-separated os/arch[/variant]")
	flag.StringVar(&epoch, "epoch", "", "Unix time of every file and of the config (SOURCE_DATE_EPOCH)")
	flag.StringVar(&o.Source, "source", "", "org.opencontainers.image.source")
	flag.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision")
	flag.StringVar(&o.Version, "version", "", "org.opencontainers.image.version")
	flag.Parse()
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("-epoch %q: want Unix seconds: %w", epoch, err)
	}
	o.Created = time.Unix(secs, 0).UTC()
	for _, s := range strings.Split(platforms, ",") {
		p, err := image.ParsePlatform(s)
		if err != nil {
			return err
		}
		o.Platforms = append(o.Platforms, p)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := image.Build(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%d bytes)\n", o.Output, res.Digest, res.TarBytes)
	for _, im := range res.Images {
		fmt.Printf("  %-16s %s  layer %d bytes\n", im.Platform, im.Digest, im.LayerBytes)
	}
	return nil
}
