package lint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLint lints n copies of the ZD204 failing application (Namespace,
// Deployment, Service, PDB, Ingress), each in its own namespace, and
// reports objects per second.
func BenchmarkLint(b *testing.B) {
	tmpl, err := os.ReadFile(filepath.Join("testdata", "rules", "ZD204", "fail.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			var sb strings.Builder
			for i := 0; i < n; i++ {
				sb.WriteString(strings.ReplaceAll(string(tmpl), "shop", fmt.Sprintf("shop%d", i)))
				sb.WriteString("\n---\n")
			}
			data := []byte(sb.String())
			dec, err := NewDecoder()
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var objs int
			for i := 0; i < b.N; i++ {
				o, errs := dec.Decode("bench.yaml", data)
				if len(errs) > 0 {
					b.Fatal(errs)
				}
				res := Lint(o, false, nil)
				objs = res.Objects
			}
			b.ReportMetric(float64(objs)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
