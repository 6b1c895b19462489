package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Op is one RFC 6902 JSON patch operation. The webhook only ever adds
// (add) or, for the few scalars and lists it takes over, replaces
// (replace); it never removes anything.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// patch builds the JSON patch of exactly what zerodrop adds to an admitted
// object, against the object's raw JSON as the API server sent it. Nothing
// is decoded into the compiled Kubernetes types and encoded again, so every
// field those types do not know (a newer API server's) survives untouched.
//
// The patch keeps its own copy of the document up to date with every op, so
// that each op is written against the object as the ops before it left it:
// the first readiness gate creates /spec/readinessGates, the second appends
// to it with /spec/readinessGates/-.
type patch struct {
	doc any
	ops []Op
}

// newPatch starts a patch against the raw JSON object.
func newPatch(raw []byte) (*patch, error) {
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding the admitted object as JSON: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, fmt.Errorf("the admitted object is a JSON %T, not an object", doc)
	}
	return &patch{doc: doc}, nil
}

// set makes the value at path v: replace when it is there with another
// value, nothing when it is already v, else add at the first missing
// object member on the way (with the rest of the path as nested objects),
// so a missing parent is created in the same op. A JSON null counts as
// missing.
func (p *patch) set(path []string, v any) error {
	g, err := generic(v)
	if err != nil {
		return err
	}
	if cur, ok := lookup(p.doc, path); ok {
		if reflect.DeepEqual(cur, g) {
			return nil
		}
		return p.apply(Op{Op: "replace", Path: pointer(path), Value: g})
	}
	for i := 1; i <= len(path); i++ {
		if _, ok := lookup(p.doc, path[:i]); ok {
			continue
		}
		for j := len(path) - 1; j >= i; j-- {
			g = map[string]any{path[j]: g}
		}
		return p.apply(Op{Op: "add", Path: pointer(path[:i]), Value: g})
	}
	return fmt.Errorf("%s: no missing element on the way and no value there", pointer(path))
}

// appendTo appends v to the list at path, creating the list if it is
// missing.
func (p *patch) appendTo(path []string, v any) error {
	return p.addToList(path, "-", v)
}

// insertFirst inserts v at the front of the list at path, creating the
// list if it is missing.
func (p *patch) insertFirst(path []string, v any) error {
	return p.addToList(path, "0", v)
}

func (p *patch) addToList(path []string, at string, v any) error {
	if cur, ok := lookup(p.doc, path); ok {
		if _, isList := cur.([]any); !isList {
			return fmt.Errorf("%s is a JSON %T, not a list", pointer(path), cur)
		}
		g, err := generic(v)
		if err != nil {
			return err
		}
		return p.apply(Op{Op: "add", Path: pointer(append(append([]string{}, path...), at)), Value: g})
	}
	return p.set(path, []any{v})
}

// apply records op and applies it to the document copy. Only what set and
// addToList emit is supported: add of an object member or a list element,
// replace of an existing value.
func (p *patch) apply(op Op) error {
	path, err := parsePointer(op.Path)
	if err != nil {
		return err
	}
	// The document gets its own copy of the value: later ops change the
	// document, never an op already recorded.
	v, err := generic(op.Value)
	if err != nil {
		return err
	}
	doc, err := applyAt(p.doc, path, Op{Op: op.Op, Path: op.Path, Value: v})
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", op.Op, op.Path, err)
	}
	p.doc = doc
	p.ops = append(p.ops, op)
	return nil
}

// applyAt returns node with op applied at path (relative to node).
func applyAt(node any, path []string, op Op) (any, error) {
	key := path[0]
	last := len(path) == 1
	switch n := node.(type) {
	case map[string]any:
		if last {
			if _, ok := n[key]; !ok && op.Op == "replace" {
				return nil, fmt.Errorf("member %q missing", key)
			}
			n[key] = op.Value
			return n, nil
		}
		child, ok := n[key]
		if !ok {
			return nil, fmt.Errorf("member %q missing", key)
		}
		c, err := applyAt(child, path[1:], op)
		if err != nil {
			return nil, err
		}
		n[key] = c
		return n, nil
	case []any:
		if last && op.Op == "add" && key == "-" {
			return append(n, op.Value), nil
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i > len(n) || (i == len(n) && !(last && op.Op == "add")) {
			return nil, fmt.Errorf("index %q out of a list of %d", key, len(n))
		}
		if last && op.Op == "add" {
			return append(n[:i], append([]any{op.Value}, n[i:]...)...), nil
		}
		if last {
			n[i] = op.Value
			return n, nil
		}
		c, err := applyAt(n[i], path[1:], op)
		if err != nil {
			return nil, err
		}
		n[i] = c
		return n, nil
	}
	return nil, fmt.Errorf("%q is inside a JSON %T", key, node)
}

// lookup returns the value at path; a missing element or a JSON null is
// not found.
func lookup(doc any, path []string) (any, bool) {
	cur := doc
	for _, key := range path {
		switch n := cur.(type) {
		case map[string]any:
			cur = n[key]
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			cur = n[i]
		default:
			return nil, false
		}
		if cur == nil {
			return nil, false
		}
	}
	return cur, true
}

// pointer returns the RFC 6901 JSON pointer of path: "~" is written "~0"
// and "/" "~1", so the annotation zerodrop.dev/drain-wait is
// /metadata/annotations/zerodrop.dev~1drain-wait.
func pointer(path []string) string {
	var b strings.Builder
	for _, s := range path {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

func parsePointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// generic returns v as encoding/json's generic form (maps, lists, strings,
// json.Number, bools), so that it compares with and nests into the
// document. v is always something zerodrop builds itself, never part of the
// admitted object.
func generic(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", v, err)
	}
	return decodeJSON(raw)
}

func decodeJSON(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
