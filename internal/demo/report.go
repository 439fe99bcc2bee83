package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the rows and a summary for a terminal.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tSTEP\tCLAIM\tDECISIONS (item:decision)\tSTATUS\tLATENCY\tRECORD")
	for _, row := range r.Rows {
		decisions := formatDecisions(row.Items)
		if !row.OK {
			decisions = "FAILED: " + row.Error
		}
		rec := "-"
		if row.Record > 0 {
			rec = fmt.Sprint(row.Record)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f ms\t%s\n",
			row.File, row.Step, dash(row.Claim), decisions, row.Status, row.LatencyMS, rec)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d exchanges: %d succeeded, %d failed\n", r.Exchanges, r.Succeeded, r.Failed)
	return err
}

// WriteJSON prints the result as one JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
