package validate

import (
	"strings"
)

// typedNode is a JSON value with the FHIR type it has in the instance.
type typedNode struct {
	node *jnode
	typ  string
}

// splitPath splits a discriminator path, the restricted FHIRPath of
// ElementDefinition.slicing.discriminator.path, into steps. Dots inside
// function arguments do not split. "x as T" is rewritten as "x.ofType(T)".
func splitPath(path string) []string {
	path = strings.TrimSpace(path)
	if before, after, ok := strings.Cut(path, " as "); ok {
		path = before + ".ofType(" + strings.TrimSpace(after) + ")"
	}
	var steps []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '.' && depth == 0:
			steps = append(steps, path[start:i])
			start = i + 1
		}
	}
	steps = append(steps, path[start:])
	out := steps[:0]
	for _, s := range steps {
		if s != "$this" && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// stepArgument returns the argument of a function step such as
// "extension('http://...')" or "ofType(Quantity)", without quotes.
func stepArgument(step, fn string) (string, bool) {
	arg, ok := strings.CutPrefix(step, fn+"(")
	if !ok || !strings.HasSuffix(arg, ")") {
		return "", false
	}
	return strings.Trim(strings.TrimSuffix(arg, ")"), "'"), true
}

// defAt follows discriminator steps through the definitions of a slice,
// into type definitions and profiles where the slice itself has no
// children. It returns nil when a step cannot be followed.
func (r *run) defAt(s *elemDef, typ string, steps []string) *elemDef {
	cur := s
	for _, step := range steps {
		if cur == nil {
			return nil
		}
		switch {
		case step == "resolve()":
			cur = r.targetRoot(cur)
		case strings.HasPrefix(step, "ofType("):
			typ, _ = stepArgument(step, "ofType")
		case strings.HasPrefix(step, "extension("):
			url, _ := stepArgument(step, "extension")
			cur = r.extensionSlice(cur, typ, url)
			typ = "Extension"
		default:
			cur, typ = r.childDef(cur, typ, step)
		}
	}
	return cur
}

// childDef returns the child definition called name of e, looking into
// e's type (or its profile) when e has no children of its own.
func (r *run) childDef(e *elemDef, typ, name string) (*elemDef, string) {
	container := e
	if len(e.children) == 0 {
		container = r.typeRoot(e, typ)
		if container == nil {
			return nil, ""
		}
	}
	for _, c := range container.children {
		if c.name == name {
			return c, singleType(c)
		}
	}
	return nil, ""
}

// typeRoot returns the root element of e's type: its profile if it names
// one, else the core definition of the type.
func (r *run) typeRoot(e *elemDef, typ string) *elemDef {
	if e.contentRef != "" {
		return r.contentReference(e)
	}
	if typ == "" {
		typ = singleType(e)
	}
	for _, p := range e.typeProfiles(typ) {
		if s, err := r.v.structureAt(p, e.owner.pkg); err == nil && s != nil {
			return s.root
		}
	}
	if typ == "" {
		return nil
	}
	s, err := r.v.typeStructure(typ)
	if err != nil || s == nil {
		return nil
	}
	return s.root
}

// targetRoot returns the root of the first target profile of a Reference
// definition, for discriminators that go through resolve().
func (r *run) targetRoot(e *elemDef) *elemDef {
	for _, t := range e.types {
		for _, p := range t.targetProfiles {
			if s, err := r.v.structureAt(p, e.owner.pkg); err == nil && s != nil {
				return s.root
			}
		}
	}
	return nil
}

// extensionSlice finds, under e, the extension slice for url: by its type
// profile or by a fixed url.
func (r *run) extensionSlice(e *elemDef, typ, url string) *elemDef {
	ext, _ := r.childDef(e, typ, "extension")
	if ext == nil {
		return nil
	}
	for _, s := range ext.slices {
		for _, p := range s.typeProfiles("Extension") {
			if strings.TrimSuffix(p, "|"+versionOf(p)) == url {
				return s
			}
		}
		if u := s.child("url"); u != nil && u.fixed != nil && u.fixed.text == url {
			return s
		}
	}
	return nil
}

func versionOf(canonical string) string {
	_, v, _ := strings.Cut(canonical, "|")
	return v
}

// nodesAt evaluates discriminator steps on an instance value and returns
// the values reached, in dst's memory when they fit. Each step appends its
// results after the values it reads and then moves them to the front, so
// a slice check on a single value allocates nothing for short paths.
func (r *run) nodesAt(dst []typedNode, start typedNode, steps []string) []typedNode {
	cur := append(dst[:0], start)
	for _, step := range steps {
		n := len(cur)
		for i := range n {
			if cur[i].node != nil {
				cur = r.appendStep(cur, cur[i], step)
			}
		}
		copy(cur, cur[n:])
		cur = cur[:len(cur)-n]
	}
	return cur
}

// appendStep appends the values one discriminator step reaches from tn.
func (r *run) appendStep(dst []typedNode, tn typedNode, step string) []typedNode {
	switch {
	case step == "resolve()":
		if target := r.resolveForDiscriminator(tn.node); target != nil {
			return append(dst, typedNode{node: target, typ: target.str("resourceType")})
		}
		return dst
	case strings.HasPrefix(step, "ofType("):
		typ, _ := stepArgument(step, "ofType")
		if tn.typ == typ || strings.EqualFold(tn.typ, typ) {
			return append(dst, tn)
		}
		return dst
	case strings.HasPrefix(step, "extension("):
		url, _ := stepArgument(step, "extension")
		for _, x := range itemsOf(tn.node.prop("extension")) {
			if x.str("url") == url {
				dst = append(dst, typedNode{node: x, typ: "Extension"})
			}
		}
		return dst
	}
	return appendChildNodes(dst, tn.node, step)
}

// appendChildNodes appends the values of the member name, including
// choice members ("value" finds "valueQuantity", typed Quantity).
func appendChildNodes(dst []typedNode, n *jnode, name string) []typedNode {
	if n.kind != kindObject {
		return dst
	}
	for _, p := range n.props {
		typ := ""
		switch {
		case p.name == name:
		case strings.HasPrefix(p.name, name) && len(p.name) > len(name) && p.name[len(name)] >= 'A' && p.name[len(name)] <= 'Z':
			typ = choiceType(p.name[len(name):])
		default:
			continue
		}
		for _, it := range itemsOf(p.val) {
			if it.kind != kindNull {
				dst = append(dst, typedNode{node: it, typ: typ})
			}
		}
	}
	return dst
}

// choiceType turns the suffix of a choice member name into a type code:
// "Quantity" stays, "String" becomes "string", "DateTime" "dateTime".
func choiceType(suffix string) string {
	lower := strings.ToLower(suffix[:1]) + suffix[1:]
	if isPrimitiveName[lower] {
		return lower
	}
	return suffix
}

var isPrimitiveName = map[string]bool{
	"base64Binary": true, "boolean": true, "canonical": true, "code": true, "date": true,
	"dateTime": true, "decimal": true, "id": true, "instant": true, "integer": true,
	"markdown": true, "oid": true, "positiveInt": true, "string": true, "time": true,
	"unsignedInt": true, "uri": true, "url": true, "uuid": true, "xhtml": true,
}
