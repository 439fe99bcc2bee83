package console

import (
	"fmt"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartWidth  = 720
	chartHeight = 190
	plotLeft    = 44
	plotRight   = 12
	plotTop     = 12
	plotBottom  = 34
)

// chart is one partner's bar chart, laid out for the template: every
// number is a coordinate, so the template only draws.
type chart struct {
	Partner       string
	Width, Height int
	PlotLeft      int
	PlotRight     int // x of the plot's right edge
	PlotTop       int
	PlotBottom    int // y of the x axis
	Bars          []chartBar
	Grid          []chartTick
	XTicks        []chartTick
	Requests      int
	Denials       int
	PeakPerMinute int
}

type chartBar struct {
	X, Width           float64
	Y, Height          float64 // all requests
	DenialY, DenialH   float64 // the denied part, drawn over the bottom of the bar
	Title              string
	HasDenials, HasAny bool
}

type chartTick struct {
	X, Y  float64
	Label string
}

// buildChart lays out a partner's last hour: one bar per minute, its
// denied part in another colour, with the scale rounded up to a readable
// maximum.
func buildChart(s PartnerSeries, now time.Time) chart {
	c := chart{Partner: s.Partner, Width: chartWidth, Height: chartHeight, PlotLeft: plotLeft,
		PlotRight: chartWidth - plotRight, PlotTop: plotTop, PlotBottom: chartHeight - plotBottom}
	for i := range chartMinutes {
		c.Requests += s.Requests[i]
		c.Denials += s.Denials[i]
		c.PeakPerMinute = max(c.PeakPerMinute, s.Requests[i])
	}
	scale := niceMax(c.PeakPerMinute)
	plotW := float64(c.PlotRight - c.PlotLeft)
	plotH := float64(c.PlotBottom - c.PlotTop)
	slot := plotW / chartMinutes
	start := now.Truncate(time.Minute).Add(-(chartMinutes - 1) * time.Minute)

	for i := range chartMinutes {
		h := plotH * float64(s.Requests[i]) / float64(scale)
		dh := plotH * float64(s.Denials[i]) / float64(scale)
		x := float64(c.PlotLeft) + float64(i)*slot
		at := start.Add(time.Duration(i) * time.Minute).UTC().Format("15:04")
		c.Bars = append(c.Bars, chartBar{
			X: x + 1, Width: slot - 2,
			Y: float64(c.PlotBottom) - h, Height: h,
			DenialY: float64(c.PlotBottom) - dh, DenialH: dh,
			Title:      fmt.Sprintf("%s UTC: %d requests, %d denied", at, s.Requests[i], s.Denials[i]),
			HasDenials: s.Denials[i] > 0, HasAny: s.Requests[i] > 0,
		})
	}
	for _, frac := range []int{0, 1, 2} {
		v := float64(scale) * float64(frac) / 2
		c.Grid = append(c.Grid, chartTick{X: float64(c.PlotLeft) - 6, Y: float64(c.PlotBottom) - plotH*float64(frac)/2, Label: fmt.Sprintf("%g", v)})
	}
	for _, ago := range []int{59, 45, 30, 15, 0} {
		i := chartMinutes - 1 - ago
		label := "now"
		if ago > 0 {
			label = fmt.Sprintf("−%d min", ago)
		}
		c.XTicks = append(c.XTicks, chartTick{X: float64(c.PlotLeft) + (float64(i)+0.5)*slot, Y: float64(c.PlotBottom) + 18, Label: label})
	}
	return c
}

// niceMax rounds a peak up to 1, 2 or 5 times a power of ten, at least 2,
// so the scale has round numbers.
func niceMax(peak int) int {
	if peak < 2 {
		return 2
	}
	for base := 1; ; base *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*base >= peak {
				return m * base
			}
		}
	}
}
