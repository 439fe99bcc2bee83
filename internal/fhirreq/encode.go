package fhirreq

import (
	"strconv"
	"strings"
)

// Encode returns q as a canonical query string that ParseQuery reads back
// into an equal Query. Parameters in Params come first in their order, then
// _include and _revinclude, _has and the other result parameters. A
// gateway that forwards Encode's output rather than the client's query
// string makes the upstream see exactly the parameters the policy decided
// on.
func (q *Query) Encode() string {
	var parts []string
	for _, p := range q.Params {
		parts = append(parts, encodeLinks(p.Links)+"="+escapeValue(p.Value))
	}
	for _, inc := range q.Includes {
		parts = append(parts, inc.key()+"="+inc.value())
	}
	for i := range q.Has {
		parts = append(parts, q.Has[i].encode())
	}
	if q.Count >= 0 {
		parts = append(parts, "_count="+strconv.Itoa(q.Count))
	}
	if q.Summary != "" {
		parts = append(parts, "_summary="+q.Summary)
	}
	if q.Format != "" {
		parts = append(parts, "_format="+escapeValue(q.Format))
	}
	if q.Elements != nil {
		parts = append(parts, "_elements="+strings.Join(q.Elements, ","))
	}
	if q.Types != nil {
		parts = append(parts, "_type="+strings.Join(q.Types, ","))
	}
	return strings.Join(parts, "&")
}

func encodeLinks(links []Link) string {
	var b strings.Builder
	for i, l := range links {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(l.Name)
		if l.Modifier != "" {
			b.WriteByte(':')
			b.WriteString(l.Modifier)
		}
	}
	return b.String()
}

func (inc Include) key() string {
	k := "_include"
	if inc.Reverse {
		k = "_revinclude"
	}
	if inc.Iterate {
		k += ":iterate"
	}
	return k
}

func (inc Include) value() string {
	if inc.Source == "*" {
		return "*"
	}
	v := inc.Source + ":" + inc.Param
	if inc.Target != "" {
		v += ":" + inc.Target
	}
	return v
}

func (h *Has) encode() string {
	var b strings.Builder
	last := h
	for ; h != nil; h = h.Next {
		b.WriteString("_has:" + h.Type + ":" + h.Ref + ":")
		last = h
	}
	b.WriteString(encodeLinks([]Link{last.Param}))
	b.WriteByte('=')
	b.WriteString(escapeValue(last.Value))
	return b.String()
}

// escapeValue percent-encodes every byte except letters, digits and the
// punctuation FHIR values commonly carry unencoded.
func escapeValue(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isAlnum(c) || strings.IndexByte("-._~:/|,$@!*'()=", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
