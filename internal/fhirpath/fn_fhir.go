package fhirpath

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Functions FHIR adds to FHIRPath.
func init() {
	register("extension", 1, 1, fnExtension)
	register("hasValue", 0, 0, fnHasValue)
	register("getValue", 0, 0, fnGetValue)
	register("resolve", 0, 0, fnResolve)
	register("htmlChecks", 0, 0, fnHTMLChecks)
	register("htmlchecks", 0, 0, fnHTMLChecks) // spelling used by some R4 invariants
	register("memberOf", 1, 1, fnMemberOf)
	register("conformsTo", 1, 1, fnConformsTo)
}

func fnExtension(c *call) (Collection, error) {
	url, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	var out Collection
	for _, v := range c.input {
		n, ok := v.(*Node)
		if !ok {
			continue
		}
		for _, ext := range n.children {
			if ext.name != "extension" {
				continue
			}
			if u, _ := stringOf(childValue(ext, "url")); u == url {
				out = append(out, ext)
			}
		}
	}
	return out, nil
}

func fnHasValue(c *call) (Collection, error) {
	if len(c.input) != 1 {
		return boolResult(false)
	}
	n, ok := c.input[0].(*Node)
	return boolResult(ok && n.hasValue())
}

func fnGetValue(c *call) (Collection, error) {
	if len(c.input) != 1 {
		return nil, nil
	}
	if n, ok := c.input[0].(*Node); ok && n.hasValue() {
		return c.ev.single(n.Value()), nil
	}
	return nil, nil
}

// fnResolve finds the resources that references point to: "#id" among the
// contained resources, other references among the entries of the Bundle
// that contains the reference (by fullUrl, or by type and id), and then
// through the Resolver hook. References that cannot be found are left
// out.
func fnResolve(c *call) (Collection, error) {
	var out Collection
	for _, v := range c.input {
		ref, from := referenceOf(v)
		if ref == "" {
			continue
		}
		target := resolveLocal(from, ref)
		if target == nil && c.ev.cfg.Resolver != nil {
			var err error
			target, err = c.ev.cfg.Resolver.Resolve(c.ev.context(), from, ref)
			if err != nil {
				return nil, &EvalError{Offset: c.node.at, Msg: "function \"resolve\": " + err.Error(), Err: err}
			}
		}
		if target != nil {
			out = append(out, target)
		}
	}
	return out, nil
}

// referenceOf returns the reference text of a Reference node, or of a
// string (canonical, uri).
func referenceOf(v Value) (string, *Node) {
	n, isNode := v.(*Node)
	if isNode && !n.hasValue() {
		s, _ := stringOf(childValue(n, "reference"))
		return s, n
	}
	s, _ := stringOf(v)
	return s, n
}

func resolveLocal(from *Node, ref string) *Node {
	if from == nil {
		return nil
	}
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		return resolveContained(from, id)
	}
	ref = stripHistory(ref)
	for b := from; b != nil; b = b.parent {
		if b.typeNameOf() != "Bundle" {
			continue
		}
		if r := resolveInBundle(b, from, ref); r != nil {
			return r
		}
	}
	return nil
}

func resolveContained(from *Node, id string) *Node {
	res := from.resource()
	// A reference inside a contained resource points to its siblings.
	if res != nil && res.name == "contained" && res.parent != nil {
		res = res.parent.resource()
	}
	if res == nil {
		return nil
	}
	if id == "" {
		return res
	}
	for _, ch := range res.children {
		if ch.name == "contained" {
			if rid, _ := stringOf(childValue(ch, "id")); rid == id {
				return ch
			}
		}
	}
	return nil
}

// stripHistory drops a version suffix (Patient/1/_history/2).
func stripHistory(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		return ref[:i]
	}
	return ref
}

func resolveInBundle(bundle, from *Node, ref string) *Node {
	// A relative reference is relative to the base of the referring
	// entry's fullUrl.
	absolute := ref
	if !strings.Contains(ref, "://") && !strings.HasPrefix(ref, "urn:") {
		if base := entryBase(from); base != "" {
			absolute = base + ref
		}
	}
	for _, entry := range bundle.children {
		if entry.name != "entry" {
			continue
		}
		res := entry.firstChild("resource")
		if res == nil {
			continue
		}
		full, _ := stringOf(childValue(entry, "fullUrl"))
		if full != "" && (full == ref || full == absolute) {
			return res
		}
		id, _ := stringOf(childValue(res, "id"))
		if full == "" && id != "" && res.typeNameOf()+"/"+id == ref {
			return res
		}
	}
	return nil
}

// entryBase returns the server base of the fullUrl of the Bundle entry
// that contains n, for example "http://example.org/fhir/" for
// "http://example.org/fhir/Patient/1".
func entryBase(n *Node) string {
	for x := n; x != nil; x = x.parent {
		if x.name != "entry" {
			continue
		}
		full, _ := stringOf(childValue(x, "fullUrl"))
		parts := strings.Split(full, "/")
		if len(parts) < 3 || !strings.Contains(full, "://") {
			return ""
		}
		return strings.Join(parts[:len(parts)-2], "/") + "/"
	}
	return ""
}

// Narrative XHTML rules of FHIR R4: the elements and attributes allowed in
// Narrative.div. Anything else (script, form, iframe, event handler
// attributes, javascript: links) fails htmlChecks().
var (
	allowedHTMLElements = toSet("a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em h1 h2 h3 h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td tfoot th thead tr tt ul var")
	allowedHTMLAttrs    = toSet("title style class id lang dir accesskey tabindex href name src height width alt colspan rowspan align valign border cellpadding cellspacing summary span char charoff abbr axis headers scope rules frame start type compact value xmlns")
)

func toSet(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

func fnHTMLChecks(c *call) (Collection, error) {
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	s, ok := stringOf(v)
	if !ok {
		return boolResult(false)
	}
	return boolResult(checkNarrative(s) == nil)
}

// checkNarrative reports the first rule the XHTML fragment breaks.
func checkNarrative(s string) error {
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if depth != 0 {
				return errors.New("unclosed element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name.Local != "div" {
				return errors.New("narrative must be a div")
			}
			depth++
			if !allowedHTMLElements[t.Name.Local] {
				return errors.New("element not allowed: " + t.Name.Local)
			}
			for _, a := range t.Attr {
				if !allowedHTMLAttrs[a.Name.Local] && a.Name.Space != "xmlns" && a.Name.Space != "xml" {
					return errors.New("attribute not allowed: " + a.Name.Local)
				}
				if (a.Name.Local == "href" || a.Name.Local == "src") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Value)), "javascript:") {
					return errors.New("script link not allowed")
				}
			}
		case xml.EndElement:
			depth--
		case xml.ProcInst, xml.Directive:
			return errors.New("processing instructions and directives not allowed")
		}
	}
}

func fnMemberOf(c *call) (Collection, error) {
	url, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	if c.ev.cfg.Terminology == nil {
		return nil, c.errorf("no terminology service configured")
	}
	n, _ := v.(*Node)
	if n == nil {
		s, isString := stringOf(v)
		if !isString {
			return nil, c.errorf("expects a code, Coding or CodeableConcept, got %s", describe(v))
		}
		n = &Node{typ: c.ev.model.Type("code"), value: String(s)}
	}
	member, known, err := c.ev.cfg.Terminology.MemberOf(c.ev.context(), n, url)
	if err != nil {
		return nil, &EvalError{Offset: c.node.at, Msg: "function \"memberOf\": " + err.Error(), Err: err}
	}
	if !known {
		return nil, nil
	}
	return boolResult(member)
}

func fnConformsTo(c *call) (Collection, error) {
	url, ok, err := c.stringArg(0)
	if err != nil || !ok {
		return nil, err
	}
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	n, isNode := v.(*Node)
	if !isNode {
		return boolResult(false)
	}
	if c.ev.cfg.Conformance == nil {
		return nil, c.errorf("no conformance checker configured")
	}
	conforms, err := c.ev.cfg.Conformance.ConformsTo(c.ev.context(), n, url)
	if err != nil {
		return nil, &EvalError{Offset: c.node.at, Msg: "function \"conformsTo\": " + err.Error(), Err: err}
	}
	return boolResult(conforms)
}
