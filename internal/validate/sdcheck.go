package validate

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// structureDefinition checks a StructureDefinition given as the resource
// to validate when it has only a differential: its snapshot must be
// generated without problems, as the differential must fit its base.
func (r *run) structureDefinition(n *jnode, path string) {
	if n.prop("snapshot") != nil || n.prop("differential") == nil {
		return
	}
	var buf bytes.Buffer
	writeJSON(&buf, n)
	_, problems, err := r.v.generateSnapshot(buf.Bytes(), nil, 0)
	if err != nil {
		r.warnf(outcome.CodeNotFound, path, "no snapshot could be generated, so the differential was not checked: %v", err)
		return
	}
	for _, p := range problems {
		r.errorf(outcome.CodeInvalid, path, "snapshot generation: %s", p)
	}
}

// writeJSON writes a parsed document back as JSON.
func writeJSON(buf *bytes.Buffer, n *jnode) {
	switch n.kind {
	case kindObject:
		buf.WriteByte('{')
		for i, p := range n.props {
			if i > 0 {
				buf.WriteByte(',')
			}
			name, _ := json.Marshal(p.name)
			buf.Write(name)
			buf.WriteByte(':')
			writeJSON(buf, p.val)
		}
		buf.WriteByte('}')
	case kindArray:
		buf.WriteByte('[')
		for i, item := range n.items {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSON(buf, item)
		}
		buf.WriteByte(']')
	case kindString:
		text, _ := json.Marshal(n.text)
		buf.Write(text)
	case kindNumber:
		buf.WriteString(n.text)
	case kindTrue, kindFalse:
		buf.WriteString(strconv.FormatBool(n.kind == kindTrue))
	default:
		buf.WriteString("null")
	}
}
