package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The tests build testdata/fixture, not zerodrop: the packer does not care
// which static binary it packs, and cross-compiling zerodrop twice for two
// platforms would cost minutes. `make image` packs the real one.
const fixture = "./testdata/fixture"

var testMetadata = Metadata{
	Source:   "https://github.com/zerodrop/zerodrop",
	Revision: "0123456789abcdef0123456789abcdef01234567",
	Version:  "v0.0.0-test",
	Created:  time.Unix(1700000000, 0).UTC(),
}

func buildFixture(t *testing.T) (Result, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "zerodrop-image.tar")
	res, err := Build(t.Context(), Options{
		Dir: ".", Package: fixture, Ref: "registry.example/zerodrop:v0.0.0-test", Output: out, Metadata: testMetadata,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, out
}

// TestBuild builds the fixture's image twice, from scratch each time (two
// compiles per platform, two output directories), and checks both builds
// and what every consumer of the tar relies on.
func TestBuild(t *testing.T) {
	first, tarA := buildFixture(t)
	second, tarB := buildFixture(t)

	t.Run("sameSourceGivesTheSameIndexDigestAndTarBytes", func(t *testing.T) {
		if first.Digest != second.Digest {
			t.Fatalf("index digests differ: %s, %s", first.Digest, second.Digest)
		}
		if a, b := fileSum(t, tarA), fileSum(t, tarB); a != b {
			t.Fatalf("tar files differ: sha256 %x, %x", a, b)
		}
	})

	dir := untar(t, tarA)
	root, err := layout.ImageIndexFromPath(dir) // what `crane push DIR` reads
	if err != nil {
		t.Fatal(err)
	}
	idx := onlyIndex(t, root)

	t.Run("layoutHoldsOneNamedIndexWithTheBuildsDigest", func(t *testing.T) {
		m, err := root.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		d := m.Manifests[0]
		if d.Digest != first.Digest || d.MediaType != types.OCIImageIndex {
			t.Errorf("index.json entry = %s %s, want %s %s", d.MediaType, d.Digest, types.OCIImageIndex, first.Digest)
		}
		if d.Annotations[containerdNameAnnotation] != "registry.example/zerodrop:v0.0.0-test" || d.Annotations[refNameAnnotation] != "v0.0.0-test" {
			t.Errorf("index.json annotations = %v", d.Annotations)
		}
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			t.Error(err)
		}
	})

	t.Run("indexHasOneImagePerPlatformWithItsPlatformAndLabels", func(t *testing.T) {
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range m.Manifests {
			if d.MediaType != types.OCIManifestSchema1 || d.Platform == nil || d.ArtifactType != "" {
				t.Fatalf("manifest %s: media type %s, platform %v, artifact type %q", d.Digest, d.MediaType, d.Platform, d.ArtifactType)
			}
			got = append(got, d.Platform.String())
		}
		if strings.Join(got, " ") != "linux/amd64 linux/arm64/v8" {
			t.Errorf("platforms = %v", got)
		}
		if m.Annotations[LabelRevision] != testMetadata.Revision || m.Annotations[LabelCreated] != "2023-11-14T22:13:20Z" {
			t.Errorf("index annotations = %v", m.Annotations)
		}
	})

	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, p := range DefaultPlatforms() {
		img := platformImageOf(t, idx, p)
		t.Run(p.Arch+"/configRunsTheBinaryAsNonrootWithLabels", func(t *testing.T) {
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if c.User != "65532:65532" || strings.HasPrefix(c.User, "0") || c.User == "" {
				t.Errorf("user = %q, want 65532:65532", c.User)
			}
			if strings.Join(c.Entrypoint, " ") != "/zerodrop" || len(c.Cmd) != 0 {
				t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
			}
			for k, v := range map[string]string{LabelSource: testMetadata.Source, LabelRevision: testMetadata.Revision, LabelVersion: testMetadata.Version} {
				if c.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
				}
			}
			if !cf.Created.Equal(testMetadata.Created) || cf.OS != p.OS || cf.Architecture != p.Arch || cf.Variant != p.Variant {
				t.Errorf("config created %v os %s arch %s variant %s", cf.Created, cf.OS, cf.Architecture, cf.Variant)
			}
		})
		t.Run(p.Arch+"/layerHoldsAStaticELFForItsPlatformOwnedByRootDatedTheEpoch", func(t *testing.T) {
			files := layerFiles(t, img)
			bin, ok := files["zerodrop"]
			if !ok {
				t.Fatalf("no zerodrop in the layer: %v", keys(files))
			}
			if bin.hdr.Mode != 0o755 || bin.hdr.Uid != 0 || bin.hdr.Gid != 0 {
				t.Errorf("zerodrop mode %o owner %d:%d, want 0755 0:0", bin.hdr.Mode, bin.hdr.Uid, bin.hdr.Gid)
			}
			f, err := elf.NewFile(bytes.NewReader(bin.body))
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != wantMachine[p.Arch] || f.Class != elf.ELFCLASS64 {
				t.Errorf("ELF machine %v class %v, want %v", f.Machine, f.Class, wantMachine[p.Arch])
			}
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					t.Error("binary has an interpreter: not static")
				}
			}
			if !strings.Contains(string(files["etc/passwd"].body), "nonroot:x:65532:65532:") || !strings.Contains(string(files["etc/group"].body), "nonroot:x:65532:") {
				t.Errorf("passwd %q group %q", files["etc/passwd"].body, files["etc/group"].body)
			}
			for n, e := range files {
				if !e.hdr.ModTime.Equal(testMetadata.Created) {
					t.Errorf("%s mtime %v, want %v", n, e.hdr.ModTime, testMetadata.Created)
				}
			}
		})
	}

	t.Run("pushingTheUnpackedLayoutAsCraneDoesStoresTheSameIndex", func(t *testing.T) {
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer srv.Close()
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(u.Host + "/zerodrop:v0.0.0-test")
		if err != nil {
			t.Fatal(err)
		}
		// crane push DIR, for a layout with one index entry, pushes that index.
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		pulled, err := remote.Index(ref)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := pulled.Digest(); err != nil || d != first.Digest {
			t.Fatalf("registry holds %s (%v), want %s", d, err, first.Digest)
		}
		arm, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := arm.Digest(); d != first.Images[1].Digest {
			t.Errorf("linux/arm64 resolves to %s, want %s", d, first.Images[1].Digest)
		}
	})
}

// TestIndex_digestChangesWithTheEpochAndLabels proves the fixed inputs are
// really inputs: another epoch or revision is another image.
func TestIndex_digestChangesWithTheEpochAndLabels(t *testing.T) {
	p := DefaultPlatforms()[0]
	bin, err := Compile(t.Context(), ".", fixture, t.TempDir(), p)
	if err != nil {
		t.Fatal(err)
	}
	digest := func(md Metadata) v1.Hash {
		idx, err := Index([]Binary{{Platform: p, Path: bin}}, md)
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := digest(testMetadata)
	if again := digest(testMetadata); again != base {
		t.Fatalf("same inputs, digests %s and %s", base, again)
	}
	later, otherRev := testMetadata, testMetadata
	later.Created = later.Created.Add(time.Second)
	otherRev.Revision = "fedcba"
	if digest(later) == base || digest(otherRev) == base {
		t.Error("digest did not change with the epoch or the revision")
	}
}

func TestParsePlatform(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Platform
		wantErr bool
	}{
		{in: "linux/amd64", want: Platform{OS: "linux", Arch: "amd64"}},
		{in: "linux/arm64/v8", want: Platform{OS: "linux", Arch: "arm64", Variant: "v8"}},
		{in: "linux", wantErr: true},
		{in: "linux//v8", wantErr: true},
		{in: "linux/arm64/v8/x", wantErr: true},
	} {
		got, err := ParsePlatform(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParsePlatform(%q) = %v, %v", tc.in, got, err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestTagOf(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/zerodrop/zerodrop:v0.1.0":      "v0.1.0",
		"localhost:5000/zerodrop:d6b99ac-dirty": "d6b99ac-dirty",
		"localhost:5000/zerodrop":               "localhost:5000/zerodrop",
		"zerodrop:latest":                       "latest",
	} {
		if got := tagOf(in); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// untar unpacks the tar at path into a new directory, as a user would
// before `crane push DIR`.
func untar(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(testMetadata.Created) {
			t.Errorf("tar entry %s: owner %d:%d mtime %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(target, b, 0o644)
			}
		default:
			t.Fatalf("tar entry %s: type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func onlyIndex(t *testing.T, root v1.ImageIndex) v1.ImageIndex {
	t.Helper()
	m, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index.json has %d entries, want 1", len(m.Manifests))
	}
	idx, err := root.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func platformImageOf(t *testing.T, idx v1.ImageIndex, p Platform) v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Architecture == p.Arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no %s image in the index", p)
	return nil
}

type entry struct {
	hdr  *tar.Header
	body []byte
}

func layerFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = entry{hdr: h, body: b}
	}
}

func keys(m map[string]entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
