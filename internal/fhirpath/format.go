package fhirpath

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// FormatJSON renders a result collection as a JSON array with one object
// per item: {"type": "System.Integer", "value": 4}. The type is qualified
// by its namespace. Primitive values are JSON strings, numbers (decimals
// keep their digits) or booleans. Quantities are {"value", "unit"}, and
// complex FHIR elements and resources are written back as FHIR JSON.
func FormatJSON(c Collection) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		ns, name := v.TypeName()
		b.WriteString(`{"type":`)
		writeJSONString(&b, ns+"."+name)
		b.WriteString(`,"value":`)
		writeValueJSON(&b, v)
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes()
}

// FormatText renders a result collection one item per line as the type, a
// tab and the value: strings and dates as text, complex elements as
// compact JSON.
func FormatText(c Collection) string {
	var b strings.Builder
	for _, v := range c {
		ns, name := v.TypeName()
		b.WriteString(ns + "." + name + "\t")
		if s, ok := toString(primitiveValue(v)); ok && primitiveValue(v) != nil {
			b.WriteString(s)
		} else {
			var j bytes.Buffer
			writeValueJSON(&j, v)
			b.Write(j.Bytes())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func writeJSONString(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s)
	b.Write(out)
}

func writeValueJSON(b *bytes.Buffer, v Value) {
	switch x := v.(type) {
	case *Node:
		writeNodeJSON(b, x)
	case TypeInfo:
		b.WriteString(`{"namespace":`)
		writeJSONString(b, x.Namespace)
		b.WriteString(`,"name":`)
		writeJSONString(b, x.Name)
		b.WriteByte('}')
	case Quantity:
		b.WriteString(`{"value":` + x.Value.String() + `,"unit":`)
		writeJSONString(b, x.Unit)
		b.WriteByte('}')
	default:
		writePrimitiveJSON(b, v)
	}
}

func writePrimitiveJSON(b *bytes.Buffer, v Value) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case Boolean:
		b.WriteString(strconv.FormatBool(bool(x)))
	case Integer:
		b.WriteString(x.String())
	case Decimal:
		b.WriteString(x.String())
	default:
		s, _ := toString(x)
		writeJSONString(b, s)
	}
}

// writeNodeJSON writes a node back as FHIR JSON: primitives as their
// value, complex nodes as objects whose repeating elements are arrays and
// whose primitive ids and extensions go to "_name" properties.
func writeNodeJSON(b *bytes.Buffer, n *Node) {
	if n.typ != nil && n.typ.Kind == fhirmodel.KindPrimitive || (n.typ == nil && len(n.children) == 0) {
		writePrimitiveJSON(b, n.Value())
		return
	}
	b.WriteByte('{')
	first := true
	if n.isResource() {
		b.WriteString(`"resourceType":`)
		writeJSONString(b, n.typ.Name)
		first = false
	}
	for _, group := range groupChildren(n) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeGroupJSON(b, n, group)
	}
	b.WriteByte('}')
}

// groupChildren groups children by JSON property name in order of first
// appearance.
func groupChildren(n *Node) [][]*Node {
	var groups [][]*Node
	index := map[string]int{}
	for _, c := range n.children {
		key := c.jsonName
		if key == "" {
			key = c.name
		}
		i, ok := index[key]
		if !ok {
			i = len(groups)
			index[key] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], c)
	}
	return groups
}

func writeGroupJSON(b *bytes.Buffer, parent *Node, group []*Node) {
	name := group[0].jsonName
	if name == "" {
		name = group[0].name
	}
	repeats := len(group) > 1
	if parent.typ != nil {
		if e := parent.typ.Element(group[0].name); e != nil {
			repeats = e.Repeats()
		}
	}
	writeJSONString(b, name)
	b.WriteByte(':')
	writeList(b, group, repeats, func(c *Node) { writeNodeJSON(b, c) })

	if !group[0].isPrimitive() {
		return
	}
	hasExtra := false
	for _, c := range group {
		hasExtra = hasExtra || len(c.children) > 0
	}
	if !hasExtra {
		return
	}
	b.WriteByte(',')
	writeJSONString(b, "_"+name)
	b.WriteByte(':')
	writeList(b, group, repeats, func(c *Node) {
		if len(c.children) == 0 {
			b.WriteString("null")
			return
		}
		shadow := &Node{typ: c.typ, children: c.children}
		shadow.typ = nil
		b.WriteByte('{')
		for i, g := range groupChildren(shadow) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeGroupJSON(b, &Node{typ: c.typ}, g)
		}
		b.WriteByte('}')
	})
}

func writeList(b *bytes.Buffer, group []*Node, repeats bool, write func(*Node)) {
	if !repeats {
		write(group[0])
		return
	}
	b.WriteByte('[')
	for i, c := range group {
		if i > 0 {
			b.WriteByte(',')
		}
		write(c)
	}
	b.WriteByte(']')
}
