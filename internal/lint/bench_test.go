package lint

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchApp is one application of a generated input: a Deployment and its
// Service, with a PDB and (every fifth) an ALB Ingress. NAME and LABEL are
// replaced per copy.
const benchApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
  namespace: shop
  labels:
    app: LABEL
    tier: web
spec:
  replicas: 3
  minReadySeconds: 30
  selector:
    matchLabels:
      app: LABEL
  template:
    metadata:
      labels:
        app: LABEL
        tier: web
    spec:
      terminationGracePeriodSeconds: 60
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels:
            app: LABEL
      containers:
      - name: app
        image: example/app:1.0.0
        ports:
        - name: http
          containerPort: 8080
        readinessProbe:
          httpGet:
            path: /ready
            port: http
          periodSeconds: 5
        livenessProbe:
          httpGet:
            path: /live
            port: http
          periodSeconds: 10
        lifecycle:
          preStop:
            sleep:
              seconds: 20
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: NAME
  namespace: shop
spec:
  selector:
    SELECTOR
  ports:
  - name: http
    port: 80
    targetPort: http
---
`

const benchPDB = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: NAME
  namespace: shop
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app: LABEL
---
`

const benchIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: NAME
  namespace: shop
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/target-group-attributes: deregistration_delay.timeout_seconds=20
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: NAME
            port:
              number: 80
---
`

// genManifests returns about size bytes of manifests of one shape:
// "unique" (every application named and labelled apart, one namespace),
// "repeated" (the same Deployment and Service over and over), "shared"
// (distinct applications whose Services all select one shared label, so
// that every Service selects every Deployment) or "namespaced" (every
// application in a namespace of its own).
func genManifests(shape string, size int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		name, label, sel := fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d", i), "app: "+fmt.Sprintf("app-%d", i)
		switch shape {
		case "repeated":
			name, label, sel = "app", "app", "app: app"
		case "shared":
			sel = "tier: web"
		}
		r := strings.NewReplacer("NAME", name, "LABEL", label, "SELECTOR", sel)
		if shape == "namespaced" {
			ns := fmt.Sprintf("shop-%d", i)
			fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    elbv2.k8s.aws/pod-readiness-gate-inject: enabled\n---\n", ns)
			r = strings.NewReplacer("NAME", name, "LABEL", label, "SELECTOR", sel, "namespace: shop", "namespace: "+ns)
		}
		b.WriteString(r.Replace(benchApp))
		if shape != "repeated" {
			b.WriteString(r.Replace(benchPDB))
			if i%5 == 0 {
				b.WriteString(r.Replace(benchIngress))
			}
		}
	}
	return []byte(b.String())
}

// BenchmarkLint decodes, lints and reports generated inputs of 100 KB, 1 MB
// and 5 MB of each shape, and reports MB/s and objects/s: the rates stay
// flat across sizes when lint is linear in its input.
func BenchmarkLint(b *testing.B) {
	dec, err := NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	for _, shape := range []string{"unique", "repeated", "shared", "namespaced"} {
		for _, size := range []struct {
			name  string
			bytes int
		}{{"100KB", 100_000}, {"1MB", 1_000_000}, {"5MB", 5_000_000}} {
			b.Run(shape+"/"+size.name, func(b *testing.B) {
				data := genManifests(shape, size.bytes)
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				var objs int
				for i := 0; i < b.N; i++ {
					o, errs := dec.Decode("bench.yaml", data)
					if len(errs) > 0 {
						b.Fatal(errs)
					}
					res := Lint(o, false, nil)
					if err := WriteReport(io.Discard, FormatHuman, res, ReportOptions{}); err != nil {
						b.Fatal(err)
					}
					objs = res.Objects
				}
				b.ReportMetric(float64(objs)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
			})
		}
	}
}

// TestGenManifests_shapes checks the generated inputs decode cleanly and
// lint as their shape says: repeated copies are reported as duplicates,
// unique and namespaced applications are correct.
func TestGenManifests_shapes(t *testing.T) {
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range []string{"unique", "repeated", "shared", "namespaced"} {
		t.Run(shape, func(t *testing.T) {
			objs, errs := dec.Decode("gen.yaml", genManifests(shape, 20_000))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			res := Lint(objs, false, nil)
			got := ruleIDs(res)
			switch shape {
			case "repeated":
				one, _ := dec.Decode("one.yaml", genManifests(shape, 1))
				want := ruleIDs(Lint(one, false, nil))
				want["ZD602"] = len(objs) - len(one)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%d copies of %d objects: findings %v, want those of one copy and %d ZD602: %v", len(objs), len(one), got, want["ZD602"], want)
				}
			case "unique", "namespaced":
				if len(res.Findings) != 0 {
					t.Errorf("findings %v, want none", got)
				}
			}
		})
	}
}
