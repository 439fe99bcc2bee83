// Package dfd builds the data-flow diagram and network topology of a
// Gatehouse configuration, and renders it as Mermaid, Graphviz DOT or SVG.
//
// The diagram shows who connects to whom: partners' EHRs, the inbound
// listener, the token endpoint, the gateway, the upstream, the database,
// and the admin and outbound listeners. Rectangles mark the trust zones
// (partner networks, the DMZ gateway host, the payer's internal network,
// the admin network). Each flow is labelled with the data classes it may
// carry, derived from the partners' allowed interactions, and with the
// controls applied on it.
//
// Output is deterministic: the same configuration gives the same bytes,
// so diagrams can be kept in version control and reviewed as diffs. The SVG
// is laid out by this package (columns per trust zone, straight labelled
// edges) and needs no external tool or font beyond a generic sans-serif.
package dfd

import (
	"strings"
)

// Zone is a trust zone; its rectangle is the trust boundary.
type Zone struct {
	ID    string
	Label string
}

// The trust zones, in drawing order.
var (
	ZoneInternet = Zone{"internet", "Internet / partner networks"}
	ZoneDMZ      = Zone{"dmz", "DMZ: Gatehouse host"}
	ZoneInternal = Zone{"internal", "Payer internal network"}
	ZoneAdmin    = Zone{"admin", "Admin network"}
	ZoneWitness  = Zone{"witness", "Log witnesses (other organisations)"}
)

// Node is a process, data store or external party.
type Node struct {
	ID   string
	Zone string // Zone.ID
	// Lines are the label: a title, then details.
	Lines []string
	// Store marks a data store, drawn with a different shape.
	Store bool
	// Col and Row place the node in the SVG layout grid.
	Col, Row int
}

// Edge is one data flow, from the side that opens the connection.
type Edge struct {
	From, To string // node ids
	// Data names what crosses: data classes or a description.
	Data []string
	// Controls are the controls applied on this flow.
	Controls []string
	// LabelAt is the position of the SVG label along the edge, from 0 at
	// the source to 1 at the target. Zero means the middle.
	LabelAt float64
}

// Graph is a complete diagram.
type Graph struct {
	Title    string
	Subtitle string
	Zones    []Zone
	Nodes    []Node
	Edges    []Edge
}

// zoneNodes returns the nodes of zone z in graph order.
func (g *Graph) zoneNodes(z string) []Node {
	var out []Node
	for _, n := range g.Nodes {
		if n.Zone == z {
			out = append(out, n)
		}
	}
	return out
}

// edgeLabel returns the label lines of e: the data, then the controls,
// each wrapped at width characters.
func edgeLabel(e Edge, width int) []string {
	lines := wrap(e.Data, width)
	return append(lines, wrap(e.Controls, width)...)
}

// wrap joins items with ", " into lines of at most width characters where
// possible; an item longer than width gets a line of its own.
func wrap(items []string, width int) []string {
	var lines []string
	var cur strings.Builder
	for i, it := range items {
		sep := ""
		if i < len(items)-1 {
			sep = ","
		}
		word := it + sep
		if cur.Len() > 0 && cur.Len()+1+len(word) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
