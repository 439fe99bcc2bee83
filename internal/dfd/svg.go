package dfd

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Layout sizes, in SVG user units (pixels at 100% zoom).
const (
	margin      = 24
	titleHeight = 52
	colWidth    = 210
	colGap      = 280
	rowPitch    = 130
	zonePad     = 16
	zoneHeader  = 26
	titleSize   = 13 // node title font size
	detailSize  = 11 // node detail and edge label font size
	lineHeight  = 15
	// maxBoxHeight is the height of a node with three lines; smaller
	// nodes are centred on it.
	maxBoxHeight = 2*boxPadY + 3*lineHeight
	boxPadY      = 10
	// charWidth estimates the advance of one character at detailSize in a
	// generic sans-serif font; label backgrounds are sized with it.
	charWidth = 6.2
)

// zoneStyle is the colouring of one trust zone.
type zoneStyle struct{ fill, stroke string }

var zoneStyles = map[string]zoneStyle{
	ZoneInternet.ID: {"#fdecea", "#c62828"},
	ZoneDMZ.ID:      {"#fff8e1", "#ef8f00"},
	ZoneInternal.ID: {"#e8f5e9", "#2e7d32"},
	ZoneAdmin.ID:    {"#e3f2fd", "#1565c0"},
	ZoneWitness.ID:  {"#f3e5f5", "#6a1b9a"},
}

// rect is an axis-aligned rectangle.
type rect struct{ x, y, w, h float64 }

func (r rect) cx() float64 { return r.x + r.w/2 }
func (r rect) cy() float64 { return r.y + r.h/2 }

// layout contains the computed geometry of a graph.
type layout struct {
	boxes  map[string]rect
	zones  map[string]rect
	width  float64
	height float64
}

func boxHeight(n Node) float64 {
	return 2*boxPadY + lineHeight + float64(len(n.Lines)-1)*lineHeight
}

// computeLayout places each node in its grid cell, vertically centred on
// the row, and each zone around its nodes.
func computeLayout(g *Graph) *layout {
	l := &layout{boxes: map[string]rect{}, zones: map[string]rect{}}
	top := float64(margin + titleHeight + zonePad + zoneHeader)
	for _, n := range g.Nodes {
		h := boxHeight(n)
		x := float64(margin+zonePad) + float64(n.Col)*(colWidth+colGap)
		y := top + float64(n.Row)*rowPitch + (maxBoxHeight-h)/2
		l.boxes[n.ID] = rect{x, y, colWidth, h}
	}
	for _, z := range g.Zones {
		var bounds rect
		for i, n := range g.zoneNodes(z.ID) {
			b := l.boxes[n.ID]
			if i == 0 {
				bounds = b
				continue
			}
			bounds = union(bounds, b)
		}
		l.zones[z.ID] = rect{bounds.x - zonePad, bounds.y - zonePad - zoneHeader, bounds.w + 2*zonePad, bounds.h + 2*zonePad + zoneHeader}
	}
	for _, r := range l.zones {
		l.width = math.Max(l.width, r.x+r.w+margin)
		l.height = math.Max(l.height, r.y+r.h+margin+lineHeight)
	}
	return l
}

func union(a, b rect) rect {
	x0, y0 := math.Min(a.x, b.x), math.Min(a.y, b.y)
	x1, y1 := math.Max(a.x+a.w, b.x+b.w), math.Max(a.y+a.h, b.y+b.h)
	return rect{x0, y0, x1 - x0, y1 - y0}
}

// border returns where the ray from r's centre towards (tx, ty) leaves r.
func border(r rect, tx, ty float64) (float64, float64) {
	dx, dy := tx-r.cx(), ty-r.cy()
	if dx == 0 && dy == 0 {
		return r.cx(), r.cy()
	}
	scale := math.Inf(1)
	if dx != 0 {
		scale = math.Min(scale, (r.w/2)/math.Abs(dx))
	}
	if dy != 0 {
		scale = math.Min(scale, (r.h/2)/math.Abs(dy))
	}
	return r.cx() + dx*scale, r.cy() + dy*scale
}

// WriteSVG renders g as a standalone SVG document.
func WriteSVG(w io.Writer, g *Graph) error {
	l := computeLayout(g)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif">`+"\n",
		num(l.width), num(l.height), num(l.width), num(l.height))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#37474f"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", num(l.width), num(l.height))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="18" font-weight="bold" fill="#212121">%s</text>`+"\n", margin, margin+16, xmlText(g.Title))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#546e7a">%s</text>`+"\n", margin, margin+36, xmlText(g.Subtitle))

	for _, z := range g.Zones {
		writeZone(&b, z, l.zones[z.ID])
	}
	for _, e := range g.Edges {
		writeEdgeLine(&b, l, e)
	}
	for _, n := range g.Nodes {
		writeNode(&b, n, l.boxes[n.ID])
	}
	// Labels last, so no line or box covers them.
	for _, e := range g.Edges {
		writeEdgeLabel(&b, l, e)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%s" font-size="%d" fill="#546e7a">Dashed rectangles are trust boundaries. Arrows point from the side that opens the connection; labels give the data carried, then the controls.</text>`+"\n",
		margin, num(l.height-margin/2), detailSize)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeZone(b *strings.Builder, z Zone, r rect) {
	st := zoneStyles[z.ID]
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="10" fill="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="8 5"/>`+"\n",
		num(r.x), num(r.y), num(r.w), num(r.h), st.fill, st.stroke)
	fmt.Fprintf(b, `<text x="%s" y="%s" font-size="12" font-weight="bold" fill="%s">%s</text>`+"\n",
		num(r.x+10), num(r.y+18), st.stroke, xmlText(z.Label))
}

func writeNode(b *strings.Builder, n Node, r rect) {
	stroke, rx := "#37474f", "6"
	if n.Store {
		stroke, rx = "#4e342e", "16"
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="%s" fill="#ffffff" stroke="%s" stroke-width="1.5"/>`+"\n",
		num(r.x), num(r.y), num(r.w), num(r.h), rx, stroke)
	y := r.y + boxPadY + titleSize
	for i, line := range n.Lines {
		size, weight := detailSize, ""
		if i == 0 {
			size, weight = titleSize, ` font-weight="bold"`
		}
		fmt.Fprintf(b, `<text x="%s" y="%s" font-size="%d"%s text-anchor="middle" fill="#212121">%s</text>`+"\n",
			num(r.cx()), num(y), size, weight, xmlText(line))
		y += lineHeight
	}
}

// edgeEnds returns the endpoints of e, on the borders of its boxes.
func edgeEnds(l *layout, e Edge) (x0, y0, x1, y1 float64) {
	from, to := l.boxes[e.From], l.boxes[e.To]
	x0, y0 = border(from, to.cx(), to.cy())
	x1, y1 = border(to, from.cx(), from.cy())
	return x0, y0, x1, y1
}

func writeEdgeLine(b *strings.Builder, l *layout, e Edge) {
	x0, y0, x1, y1 := edgeEnds(l, e)
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#37474f" stroke-width="1.4" marker-end="url(#arrow)"/>`+"\n",
		num(x0), num(y0), num(x1), num(y1))
}

// writeEdgeLabel draws e's label on a white background along the edge, at
// e.LabelAt.
func writeEdgeLabel(b *strings.Builder, l *layout, e Edge) {
	lines := edgeLabel(e, labelWidth)
	if len(lines) == 0 {
		return
	}
	x0, y0, x1, y1 := edgeEnds(l, e)
	at := e.LabelAt
	if at == 0 {
		at = 0.5
	}
	cx, cy := x0+(x1-x0)*at, y0+(y1-y0)*at
	longest := 0
	for _, s := range lines {
		longest = max(longest, len([]rune(s)))
	}
	w := float64(longest)*charWidth + 10
	h := float64(len(lines))*lineHeight + 6
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="#b0bec5" stroke-width="0.8"/>`+"\n",
		num(cx-w/2), num(cy-h/2), num(w), num(h))
	y := cy - h/2 + 3 + detailSize
	dataLines := len(wrap(e.Data, labelWidth))
	for i, s := range lines {
		fill := "#263238"
		if i >= dataLines {
			fill = "#6a1b9a"
		}
		fmt.Fprintf(b, `<text x="%s" y="%s" font-size="%d" text-anchor="middle" fill="%s">%s</text>`+"\n",
			num(cx), num(y), detailSize, fill, xmlText(s))
		y += lineHeight
	}
}

// num formats a coordinate with at most one decimal, so output is stable.
func num(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

// xmlText escapes text content and attribute values.
func xmlText(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	return r.Replace(s)
}
