package dfd

import (
	"fmt"
	"io"
	"strings"
)

// labelWidth is the wrap width, in characters, of edge labels.
const labelWidth = 40

// WriteMermaid writes g as a Mermaid flowchart, one subgraph per trust
// zone.
func WriteMermaid(w io.Writer, g *Graph) error {
	var b strings.Builder
	fmt.Fprintf(&b, "---\ntitle: %s\n---\n", g.Title)
	b.WriteString("flowchart LR\n")
	for _, z := range g.Zones {
		fmt.Fprintf(&b, "  subgraph %s[\"%s\"]\n", mermaidID("zone-"+z.ID), mermaidText(z.Label))
		for _, n := range g.zoneNodes(z.ID) {
			open, closing := "[\"", "\"]"
			if n.Store {
				open, closing = "[(\"", "\")]"
			}
			fmt.Fprintf(&b, "    %s%s%s%s\n", mermaidID(n.ID), open, mermaidLines(n.Lines), closing)
		}
		b.WriteString("  end\n")
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -->|\"%s\"| %s\n", mermaidID(e.From), mermaidLines(edgeLabel(e, labelWidth)), mermaidID(e.To))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidID maps an id to the characters Mermaid accepts in node ids.
func mermaidID(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, id)
}

func mermaidLines(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = mermaidText(l)
	}
	return strings.Join(out, "<br/>")
}

// mermaidText escapes text inside a quoted Mermaid label with HTML entity
// codes, which Mermaid writes as #code;.
func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "|", "#124;", "#", "#35;")
	return r.Replace(s)
}

// WriteDOT writes g as a Graphviz digraph, one cluster per trust zone.
func WriteDOT(w io.Writer, g *Graph) error {
	var b strings.Builder
	b.WriteString("digraph gatehouse {\n")
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n  rankdir=LR;\n  fontname=\"sans-serif\";\n", dotString(g.Title+"\n"+g.Subtitle))
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"sans-serif\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"sans-serif\", fontsize=9];\n")
	for _, z := range g.Zones {
		fmt.Fprintf(&b, "  subgraph cluster_%s {\n    label=%s;\n    style=\"dashed,filled\";\n    fillcolor=%s;\n",
			mermaidID(z.ID), dotString(z.Label), dotString(zoneStyles[z.ID].fill))
		for _, n := range g.zoneNodes(z.ID) {
			shape := ""
			if n.Store {
				shape = ", shape=cylinder"
			}
			fmt.Fprintf(&b, "    %s [label=%s%s];\n", dotString(n.ID), dotString(strings.Join(n.Lines, "\n")), shape)
		}
		b.WriteString("  }\n")
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", dotString(e.From), dotString(e.To), dotString(strings.Join(edgeLabel(e, labelWidth), "\n")))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotString quotes s as a DOT string, with newlines as centred line breaks.
func dotString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
