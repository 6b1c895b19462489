package webhook

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestPatch_ops(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		build func(p *patch) error
		want  []Op
		// wantDoc is the document after the ops, as the API server's JSON
		// patch library leaves it.
		wantDoc string
	}{
		{name: "append to a missing list creates it; a second append uses -",
			doc: `{"spec":{}}`,
			build: func(p *patch) error {
				if err := p.appendTo([]string{"spec", "readinessGates"}, map[string]string{"conditionType": "a"}); err != nil {
					return err
				}
				return p.appendTo([]string{"spec", "readinessGates"}, map[string]string{"conditionType": "b"})
			},
			want: []Op{
				{Op: "add", Path: "/spec/readinessGates", Value: []any{map[string]any{"conditionType": "a"}}},
				{Op: "add", Path: "/spec/readinessGates/-", Value: map[string]any{"conditionType": "b"}},
			},
			wantDoc: `{"spec":{"readinessGates":[{"conditionType":"a"},{"conditionType":"b"}]}}`},
		{name: "a JSON null counts as missing",
			doc:     `{"spec":{"readinessGates":null}}`,
			build:   func(p *patch) error { return p.appendTo([]string{"spec", "readinessGates"}, "a") },
			want:    []Op{{Op: "add", Path: "/spec/readinessGates", Value: []any{"a"}}},
			wantDoc: `{"spec":{"readinessGates":["a"]}}`},
		{name: "insert first into an existing list",
			doc: `{"spec":{"initContainers":[{"name":"theirs"}]}}`,
			build: func(p *patch) error {
				return p.insertFirst([]string{"spec", "initContainers"}, map[string]string{"name": "ours"})
			},
			want:    []Op{{Op: "add", Path: "/spec/initContainers/0", Value: map[string]any{"name": "ours"}}},
			wantDoc: `{"spec":{"initContainers":[{"name":"ours"},{"name":"theirs"}]}}`},
		{name: "annotation keys are escaped; missing annotations are created with the first one",
			doc: `{"metadata":{"name":"a"}}`,
			build: func(p *patch) error {
				if err := p.set([]string{"metadata", "annotations", "zerodrop.dev/drain-wait"}, "injected"); err != nil {
					return err
				}
				return p.set([]string{"metadata", "annotations", "a~b/c"}, "x")
			},
			want: []Op{
				{Op: "add", Path: "/metadata/annotations", Value: map[string]any{"zerodrop.dev/drain-wait": "injected"}},
				{Op: "add", Path: "/metadata/annotations/a~0b~1c", Value: "x"},
			},
			wantDoc: `{"metadata":{"name":"a","annotations":{"zerodrop.dev/drain-wait":"injected","a~b/c":"x"}}}`},
		{name: "set creates the first missing parent with the rest nested",
			doc: `{"spec":{"containers":[{"name":"app","lifecycle":{"postStart":{"exec":{"command":["x"]}}}}]}}`,
			build: func(p *patch) error {
				return p.set([]string{"spec", "containers", "0", "lifecycle", "preStop", "exec", "command"}, []string{"w"})
			},
			want:    []Op{{Op: "add", Path: "/spec/containers/0/lifecycle/preStop", Value: map[string]any{"exec": map[string]any{"command": []any{"w"}}}}},
			wantDoc: `{"spec":{"containers":[{"name":"app","lifecycle":{"postStart":{"exec":{"command":["x"]}},"preStop":{"exec":{"command":["w"]}}}}]}}`},
		{name: "set replaces only the value it takes over, and nothing when it is already there",
			doc: `{"spec":{"terminationGracePeriodSeconds":30,"x":1}}`,
			build: func(p *patch) error {
				if err := p.set([]string{"spec", "x"}, 1); err != nil {
					return err
				}
				return p.set([]string{"spec", "terminationGracePeriodSeconds"}, 44)
			},
			want:    []Op{{Op: "replace", Path: "/spec/terminationGracePeriodSeconds", Value: json.Number("44")}},
			wantDoc: `{"spec":{"terminationGracePeriodSeconds":44,"x":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPatch([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.build(p); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.ops, tt.want) {
				t.Errorf("ops = %#v\nwant %#v", p.ops, tt.want)
			}
			got := applyOps(t, []byte(tt.doc), p.ops)
			var g, w, mirror any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tt.wantDoc), &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("patched = %s, want %s", got, tt.wantDoc)
			}
			m, _ := json.Marshal(p.doc)
			_ = json.Unmarshal(m, &mirror)
			if !reflect.DeepEqual(mirror, w) {
				t.Errorf("the patch's own copy = %s, want %s", m, tt.wantDoc)
			}
		})
	}
}
