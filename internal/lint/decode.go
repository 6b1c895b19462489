package lint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	zdv1alpha1 "github.com/zerodrop/zerodrop/api/v1alpha1"
)

// Object is one decoded Kubernetes object with where it came from.
type Object struct {
	Ref ObjectRef
	// Obj is the typed object for known kinds, *unstructured.Unstructured
	// otherwise.
	Obj runtime.Object
	// Loc is the line the object starts on.
	Loc Location
	// node is the object's YAML mapping node (nil for live objects), used
	// to find the line of a field.
	node *yaml.Node
	// Annotations and Labels of the object.
	Annotations map[string]string
	Labels      map[string]string
}

// FieldLoc returns the location of the field at path inside the object: the
// deepest line found along path, the object start if none. A path element
// "name=x" selects the sequence item whose name is x; a number selects an
// index.
func (o *Object) FieldLoc(path ...string) Location {
	loc := o.Loc
	if o.node == nil {
		return loc
	}
	n := o.node
	for _, p := range path {
		next := childNode(n, p)
		if next == nil {
			break
		}
		n = next
		loc.Line = n.Line
	}
	return loc
}

func childNode(n *yaml.Node, key string) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				// Point at the key's line: the value may start on the next.
				v := n.Content[i+1]
				if v.Kind == yaml.ScalarNode {
					return v
				}
				c := *v
				c.Line = n.Content[i].Line
				return &c
			}
		}
	case yaml.SequenceNode:
		if name, ok := strings.CutPrefix(key, "name="); ok {
			for _, item := range n.Content {
				if item.Kind == yaml.MappingNode {
					if v := childNode(item, "name"); v != nil && v.Value == name {
						return item
					}
				}
			}
			return nil
		}
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

// Decoder turns manifest bytes into Objects: multi-document YAML or JSON,
// List kinds expanded, known kinds typed through the client-go scheme plus
// zerodrop's own API, everything else kept as unstructured.
type Decoder struct {
	codecs serializer.CodecFactory
}

// NewDecoder returns a Decoder knowing apps/v1, core/v1, policy/v1 and
// v1beta1, networking/v1, autoscaling/v1 and v2 (all of client-go's
// scheme) and zerodrop.dev/v1alpha1.
func NewDecoder() (*Decoder, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("building the client-go scheme: %w", err)
	}
	if err := zdv1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("adding zerodrop.dev/v1alpha1 to the scheme: %w", err)
	}
	return &Decoder{codecs: serializer.NewCodecFactory(s)}, nil
}

var docSeparator = regexp.MustCompile(`^---(\s.*)?$`)

var yamlErrLine = regexp.MustCompile(`line (\d+)`)

// Decode decodes every document in data, read from file. It returns the
// objects it could decode and one InputError per document it could not;
// a bad document never stops the others.
func (d *Decoder) Decode(file string, data []byte) ([]*Object, []InputError) {
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, []InputError{{Location: Location{File: file}, Message: "binary file (NUL byte or invalid UTF-8): not a manifest"}}
	}
	var objs []*Object
	var errs []InputError
	for _, doc := range splitDocuments(data) {
		o, e := d.decodeDocument(file, doc)
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	return objs, errs
}

type document struct {
	text      []byte
	firstLine int // 1-based line of text's first line in the file
}

// splitDocuments splits a YAML stream on "---" lines, keeping each
// document's first line number, so that a malformed document does not hide
// the ones after it.
func splitDocuments(data []byte) []document {
	var docs []document
	lines := bytes.SplitAfter(data, []byte("\n"))
	start, startLine := 0, 1
	off := 0
	for i, l := range lines {
		if docSeparator.Match(bytes.TrimRight(l, "\r\n")) {
			docs = append(docs, document{text: data[start:off], firstLine: startLine})
			start = off + len(l)
			startLine = i + 2
		}
		off += len(l)
	}
	docs = append(docs, document{text: data[start:], firstLine: startLine})
	return docs
}

func (d *Decoder) decodeDocument(file string, doc document) ([]*Object, []InputError) {
	if len(bytes.TrimSpace(doc.text)) == 0 {
		return nil, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(doc.text, &root); err != nil {
		return nil, []InputError{yamlError(file, doc.firstLine, err)}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, nil
	}
	shiftLines(&root, doc.firstLine-1)
	n := root.Content[0]
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || strings.HasPrefix(strings.TrimSpace(n.Value), "#")) {
		return nil, nil
	}
	return d.decodeNode(file, n, "", "")
}

// decodeNode decodes one object node; defaultAPIVersion and defaultKind fill
// in List items that omit them.
func (d *Decoder) decodeNode(file string, n *yaml.Node, defaultAPIVersion, defaultKind string) ([]*Object, []InputError) {
	loc := Location{File: file, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return nil, []InputError{{Location: loc, Message: fmt.Sprintf("document is a YAML %s, not a Kubernetes object (a mapping with apiVersion and kind)", nodeKindName(n.Kind))}}
	}
	var raw map[string]any
	if err := n.Decode(&raw); err != nil {
		e := yamlError(file, 0, err)
		if e.Location.Line == 0 {
			e.Location.Line = n.Line
		}
		if strings.Contains(err.Error(), "excessive aliasing") {
			if a, size := largestAlias(n); a != nil {
				e.Location.Line = a.Line
				e.Message += fmt.Sprintf(" (alias *%s at line %d expands to %d nodes)", a.Value, a.Line, size)
			}
		}
		return nil, []InputError{e}
	}
	if _, ok := raw["apiVersion"]; !ok && defaultAPIVersion != "" {
		raw["apiVersion"] = defaultAPIVersion
	}
	if _, ok := raw["kind"]; !ok && defaultKind != "" {
		raw["kind"] = defaultKind
	}
	apiVersion, _ := raw["apiVersion"].(string)
	kind, _ := raw["kind"].(string)
	if apiVersion == "" || kind == "" {
		return nil, []InputError{{Location: loc, Message: "object has no apiVersion or kind: not a Kubernetes object"}}
	}
	if items, ok := raw["items"]; ok && strings.HasSuffix(kind, "List") {
		if _, isList := items.([]any); !isList && items != nil {
			return nil, []InputError{{Location: loc, Message: fmt.Sprintf("%s: items is not a list", kind)}}
		}
		itemsNode := childNode(n, "items")
		if itemsNode == nil || itemsNode.Kind != yaml.SequenceNode {
			return nil, nil
		}
		itemKind := ""
		if kind != "List" {
			itemKind = strings.TrimSuffix(kind, "List")
		}
		itemAPIVersion := ""
		if kind != "List" {
			itemAPIVersion = apiVersion
		}
		var objs []*Object
		var errs []InputError
		for _, item := range itemsNode.Content {
			o, e := d.decodeNode(file, item, itemAPIVersion, itemKind)
			objs = append(objs, o...)
			errs = append(errs, e...)
		}
		return objs, errs
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, []InputError{{Location: loc, Message: fmt.Sprintf("%s: cannot convert to JSON: %v", kind, err)}}
	}
	obj, err := d.decodeJSON(js)
	if err != nil {
		return nil, []InputError{{Location: loc, Message: fmt.Sprintf("%s %s: %v", apiVersion, kind, err)}}
	}
	o := newObject(obj, loc)
	o.node = n
	return []*Object{o}, nil
}

// decodeJSON decodes one object: typed when the scheme knows its kind,
// unstructured otherwise.
func (d *Decoder) decodeJSON(js []byte) (runtime.Object, error) {
	obj, _, err := d.codecs.UniversalDeserializer().Decode(js, nil, nil)
	if err == nil {
		return obj, nil
	}
	if !runtime.IsNotRegisteredError(err) {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	return u, nil
}

// newObject wraps obj, filling in its reference, labels and annotations.
func newObject(obj runtime.Object, loc Location) *Object {
	o := &Object{Obj: obj, Loc: loc}
	gvk := obj.GetObjectKind().GroupVersionKind()
	o.Ref.APIVersion, o.Ref.Kind = gvk.ToAPIVersionAndKind()
	if m, ok := obj.(interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
		GetAnnotations() map[string]string
	}); ok {
		o.Ref.Name = m.GetName()
		o.Ref.Namespace = m.GetNamespace()
		o.Labels = m.GetLabels()
		o.Annotations = m.GetAnnotations()
	}
	return o
}

// setGVK sets the kind of a typed object read from the API (which leaves it
// empty).
func setGVK(obj runtime.Object, gvk schema.GroupVersionKind) runtime.Object {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj
}

func shiftLines(n *yaml.Node, by int) {
	if by == 0 {
		return
	}
	var walk func(*yaml.Node)
	seen := map[*yaml.Node]bool{}
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		n.Line += by
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}

func yamlError(file string, firstLine int, err error) InputError {
	msg := err.Error()
	line := firstLine
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil && firstLine > 0 {
		if l, convErr := strconv.Atoi(m[1]); convErr == nil {
			line = firstLine + l - 1
			msg = strings.Replace(msg, m[0], "line "+strconv.Itoa(line), 1)
		}
	}
	return InputError{Location: Location{File: file, Line: line}, Message: "malformed YAML: " + msg}
}

func nodeKindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

// largestAlias returns the alias node of n whose expansion is largest (the
// first such in document order) and that expansion's size in nodes,
// saturating at maxAliasExpansion, so that an alias bomb is reported at the
// alias that sets it off. Sizes are memoised per node: linear in n.
func largestAlias(n *yaml.Node) (*yaml.Node, int) {
	sizes := map[*yaml.Node]int{}
	var best *yaml.Node
	bestSize := 0
	var size func(*yaml.Node, int) int
	size = func(x *yaml.Node, depth int) int {
		if x == nil {
			return 0
		}
		if s, ok := sizes[x]; ok {
			return s
		}
		if depth > 1000 {
			return maxAliasExpansion
		}
		sizes[x] = maxAliasExpansion // a cycle expands without end
		total := 1
		if x.Kind == yaml.AliasNode {
			total = size(x.Alias, depth+1)
		} else {
			for _, c := range x.Content {
				total += size(c, depth+1)
				if total > maxAliasExpansion {
					total = maxAliasExpansion
				}
			}
		}
		sizes[x] = total
		if x.Kind == yaml.AliasNode && total > bestSize {
			best, bestSize = x, total
		}
		return total
	}
	size(n, 0)
	return best, bestSize
}

// maxAliasExpansion caps the sizes largestAlias computes.
const maxAliasExpansion = 1 << 30
