package validate

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"unicode"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

const xhtmlNamespace = "http://www.w3.org/1999/xhtml"

// isXHTMLElement and isXHTMLAttribute hold the HTML 4.0 formatting
// elements and attributes invariant txt-1 of Narrative.div allows. They
// are switches rather than maps because they run for every tag of every
// narrative, and a switch on a short string needs no hashing.
func isXHTMLElement(name string) bool {
	switch name {
	case "a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code",
		"col", "colgroup", "dd", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
		"i", "img", "li", "ol", "p", "pre", "q", "samp", "small", "span", "strong", "sub", "sup", "table",
		"tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var":
		return true
	}
	return false
}

func isXHTMLAttribute(name string) bool {
	switch name {
	case "abbr", "accesskey", "align", "alt", "axis", "bgcolor", "border", "cellhalign",
		"cellpadding", "cellspacing", "cellvalign", "char", "charoff", "charset", "cite", "class", "colspan",
		"compact", "coords", "dir", "frame", "headers", "height", "href", "hreflang", "hspace", "id", "lang",
		"longdesc", "name", "nowrap", "rel", "rev", "rowspan", "rules", "scope", "shape", "span", "src",
		"start", "style", "summary", "tabindex", "title", "type", "valign", "value", "vspace", "width":
		return true
	}
	return false
}

// hasJavaScriptScheme reports whether a link starts with "javascript:"
// as a browser reads it. The URL parser a browser uses removes leading
// C0 controls and spaces, and removes every tab, line feed and carriage
// return anywhere, so "java\tscript:" and "java&#10;script:" both run
// script. The comparison ignores case, rune by rune, without building a
// lowered string: unicode.ToLower maps each rune to one rune, and U+0130
// (capital I with dot above) lower-cases to 'i'. Leading Unicode white
// space is skipped too, as the check always did.
func hasJavaScriptScheme(v string) bool {
	const scheme = "javascript:"
	v = strings.TrimLeftFunc(v, func(r rune) bool { return r <= ' ' || unicode.IsSpace(r) })
	i := 0
	for _, r := range v {
		if i == len(scheme) {
			break
		}
		if r == '\t' || r == '\n' || r == '\r' {
			continue
		}
		if unicode.ToLower(r) != rune(scheme[i]) {
			return false
		}
		i++
	}
	return i == len(scheme)
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// xhtml checks narrative natively, for invariants txt-1 and txt-2:
// well-formed XHTML whose root is a div in the XHTML namespace, only the
// allowed elements and attributes, no javascript: links, and some text or
// an image. HTML named entities (&nbsp;, &reg;) are accepted.
func (r *run) xhtml(o *occurrence) {
	if !r.v.noShortcuts && quickXHTML(o.val.text) {
		r.narrativeChecked(o.val)
		return
	}
	if err := checkXHTML(o.val.text); err != nil {
		r.errorf(outcome.CodeValue, o.path(), "invalid narrative: %v", err)
		return
	}
	r.narrativeChecked(o.val)
}

// narrativeChecked records that the narrative n passed the checks that
// read only its text: not empty, no control characters, well-formed
// XHTML of the allowed elements. A profile check validates a resource
// again, and its narratives need not be scanned again.
func (r *run) narrativeChecked(n *jnode) {
	if r.cleanNarratives == nil {
		r.cleanNarratives = map[*jnode]struct{}{}
	}
	r.cleanNarratives[n] = struct{}{}
}

// checkedNarrative reports whether n passed the narrative checks earlier
// in this run. The nodes belong to this run's trees or to trees the
// validator caches, so a pointer means the same text for the whole run.
// The set is emptied when the run is released, before its arena is reused.
func (r *run) checkedNarrative(n *jnode) bool {
	if r.v.noShortcuts {
		return false
	}
	_, ok := r.cleanNarratives[n]
	return ok
}

func checkXHTML(text string) error {
	if cdataEndsEarlyInHTML(text) {
		return errors.New("txt-1: a CDATA section may not contain '>'")
	}
	dec := xml.NewDecoder(strings.NewReader(text))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	depth, content := 0, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errors.New("not well-formed XHTML")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (t.Name.Local != "div" || t.Name.Space != xhtmlNamespace) {
				return errors.New("txt-1: the root must be a div in the XHTML namespace")
			}
			if err := checkXHTMLElement(t); err != nil {
				return err
			}
			content = content || t.Name.Local == "img" && hasAttr(t, "src")
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			content = content || strings.TrimSpace(string(t)) != ""
		case xml.ProcInst, xml.Directive:
			return errors.New("txt-1: processing instructions and DTDs are not allowed")
		case xml.Comment:
			if commentEndsEarlyInHTML(t) {
				return errors.New("txt-1: a comment may not start with '>' or '->'")
			}
		}
	}
	if !content {
		return errors.New("txt-2: the narrative has no text")
	}
	return nil
}

// Viewers often insert a narrative into an HTML page, whose parser reads
// some XML constructs differently: it ends "<![CDATA[" at the first '>',
// and ends a comment that starts with ">" or "->" right there. Markup that
// XML keeps inside the section or comment would then become elements, so
// such narratives are rejected.

// cdataEndsEarlyInHTML reports whether a CDATA section of text contains
// '>'. Markup cannot hide "<![CDATA[": outside a CDATA section or comment
// '<' must be escaped, so at worst a comment holding the string is rejected.
func cdataEndsEarlyInHTML(text string) bool {
	const open, end = "<![CDATA[", "]]>"
	for {
		i := strings.Index(text, open)
		if i < 0 {
			return false
		}
		text = text[i+len(open):]
		j := strings.Index(text, end)
		if j < 0 {
			return false // not well-formed; the decoder reports it
		}
		if strings.IndexByte(text[:j], '>') >= 0 {
			return true
		}
		text = text[j+len(end):]
	}
}

// commentEndsEarlyInHTML reports whether an HTML parser would end the
// comment at its first characters. XML forbids "--" inside a comment, so
// the other early end of HTML, "--!>", cannot occur.
func commentEndsEarlyInHTML(c xml.Comment) bool {
	return bytes.HasPrefix(c, []byte(">")) || bytes.HasPrefix(c, []byte("->"))
}

func checkXHTMLElement(t xml.StartElement) error {
	if t.Name.Space != xhtmlNamespace || !isXHTMLElement(t.Name.Local) {
		return errors.New("txt-1: element <" + t.Name.Local + "> is not allowed")
	}
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" || a.Name.Space == "xml" || a.Name.Space == "http://www.w3.org/XML/1998/namespace" {
			continue
		}
		if a.Name.Space != "" || !isXHTMLAttribute(a.Name.Local) {
			return errors.New("txt-1: attribute " + a.Name.Local + " is not allowed")
		}
		if (a.Name.Local == "href" || a.Name.Local == "src") && hasJavaScriptScheme(a.Value) {
			return errors.New("txt-1: javascript: links are not allowed")
		}
	}
	return nil
}

func hasAttr(t xml.StartElement, name string) bool {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return true
		}
	}
	return false
}
