package lint

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

func TestDecoder_Decode(t *testing.T) {
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	in := `# leading comment
apiVersion: v1
kind: Service
metadata:
  name: a
spec:
  selector:
    app: a
---
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: d
  spec:
    template:
      spec:
        containers:
        - name: c
          image: x
- apiVersion: zerodrop.dev/v1alpha1
  kind: TargetBinding
  metadata:
    name: tb
  spec:
    serviceRef: {name: a, port: 80}
    loadBalancerRef: lb
    backend: be
--- # a comment after the separator
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: crd-object
`
	objs, errs := dec.Decode("in.yaml", []byte(in))
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []struct {
		kind string
		line int
	}{{"Service", 2}, {"Deployment", 14}, {"TargetBinding", 24}, {"Certificate", 33}}
	if len(objs) != len(want) {
		t.Fatalf("got %d objects, want %d", len(objs), len(want))
	}
	for i, w := range want {
		if objs[i].Ref.Kind != w.kind || objs[i].Loc.Line != w.line {
			t.Errorf("object %d: %s at line %d, want %s at line %d", i, objs[i].Ref.Kind, objs[i].Loc.Line, w.kind, w.line)
		}
	}
	if _, ok := objs[2].Obj.(*zdv1alpha1.TargetBinding); !ok {
		t.Errorf("TargetBinding decoded as %T", objs[2].Obj)
	}
	if _, ok := objs[3].Obj.(*unstructured.Unstructured); !ok {
		t.Errorf("CRD object decoded as %T, want unstructured", objs[3].Obj)
	}
	if got := objs[1].FieldLoc("spec", "template", "spec", "containers", "name=c", "image").Line; got != 23 {
		t.Errorf("FieldLoc(image) line %d, want 23", got)
	}
}

func TestDecoder_DecodeBadInput(t *testing.T) {
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: good\n"
	tests := []struct {
		name    string
		in      string
		wantErr string
		line    int
	}{
		{"malformed yaml keeps later documents", "a: [1\n---\n" + good, "malformed YAML", 1},
		{"tab indentation", good + "---\nkind: Service\n\tapiVersion: v1\n", "malformed YAML", 7},
		{"no kind", good + "---\nmetadata: {name: x}\n", "no apiVersion or kind", 6},
		{"scalar document", good + "---\njust a string\n", "not a Kubernetes object", 6},
		{"wrong field type", good + "---\napiVersion: apps/v1\nkind: Deployment\nspec: {replicas: many}\n", "replicas", 6},
		{"binary", "\x00\x01\x02" + good, "binary file", 0},
		{"list items not a list", good + "---\napiVersion: v1\nkind: List\nitems: 3\n", "items is not a list", 6},
		{"alias bomb names the alias's line", good + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" +
			"  a: &a [x,x,x,x,x,x,x,x,x]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
			"  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n  f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
			"excessive aliasing (alias *e at line 15", 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := dec.Decode("f.yaml", []byte(tt.in))
			if len(errs) != 1 || !strings.Contains(errs[0].Message, tt.wantErr) || errs[0].Location.Line != tt.line || errs[0].Location.File != "f.yaml" {
				t.Fatalf("errors %+v, want one containing %q at f.yaml:%d", errs, tt.wantErr, tt.line)
			}
			if tt.name != "binary" && (len(objs) != 1 || objs[0].Ref.Name != "good") {
				t.Errorf("the good document was lost: %d objects", len(objs))
			}
		})
	}
}

func TestFileReader_Read(t *testing.T) {
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	r := &FileReader{Decoder: dec, MaxBytes: 200, Stdin: strings.NewReader(strings.Repeat("# padding\n", 30))}
	objs, errs := r.Read([]string{"-", "testdata/does-not-exist.yaml", "testdata/rules/ZD101"})
	if len(objs) != 0 {
		t.Errorf("%d objects from inputs that are all too large or missing", len(objs))
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"<stdin>: larger than the 200-byte limit", "does-not-exist.yaml: cannot read", "fail.yaml: larger than"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors %q lack %q", joined, want)
		}
	}
	r.MaxBytes = 0
	r.Stdin = bytes.NewReader([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"))
	objs, errs = r.Read([]string{"-"})
	if len(errs) != 0 || len(objs) != 1 || objs[0].Loc.File != "<stdin>" {
		t.Errorf("stdin: %d objects, errors %v", len(objs), errs)
	}
}
