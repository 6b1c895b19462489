package lint

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder and the rules: neither
// may panic, and every error must name the file.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/seeds", "testdata/bad", "testdata/rules/ZD204", "testdata/rules/ZD303"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- kind: Service\n  apiVersion: v1\n  metadata: {name: a}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	dec, err := NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, errs := dec.Decode("fuzz.yaml", data)
		for _, e := range errs {
			if e.Location.File != "fuzz.yaml" || e.Message == "" {
				t.Fatalf("error without file or message: %+v", e)
			}
		}
		_ = Lint(objs, false, nil)
		_ = Lint(objs, true, nil)
	})
}
