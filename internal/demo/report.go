package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the rows and a summary for a terminal.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tDIRECTION\tCLAIM\tRESULT\tSTATUS\tLATENCY\tRECORD\tFILE")
	for _, row := range r.Rows {
		rec := "-"
		if row.Record > 0 {
			rec = fmt.Sprint(row.Record)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f ms\t%s\t%s\n",
			row.Step, directionNames[row.Direction], dash(row.Claim), resultText(row), row.Status, row.LatencyMS, rec, row.File)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d steps: %d succeeded, %d failed; %d inbound and %d outbound exchanges found in the record\n",
		r.Exchanges, r.Succeeded, r.Failed, r.RecordedInbound, r.RecordedOutbound)
	return err
}

// directionNames are the DIRECTION column's words.
var directionNames = map[string]string{"inbound": "EHR->payer", "outbound": "payer->EHR", "admin": "admin"}

// resultText is the RESULT column: the item decisions, then what else
// the step reports, or why it failed.
func resultText(row Row) string {
	if !row.OK {
		return "FAILED: " + row.Error
	}
	parts := []string{}
	if len(row.Items) > 0 {
		parts = append(parts, formatDecisions(row.Items))
	}
	if row.Detail != "" {
		parts = append(parts, row.Detail)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

// recordedRows counts the rows found in the exchange record, per
// direction.
func (r *Result) recordedRows() (inbound, outbound int) {
	for _, row := range r.Rows {
		switch {
		case row.Record == 0 || !row.OK:
		case row.Direction == "inbound":
			inbound++
		case row.Direction == "outbound":
			outbound++
		}
	}
	return inbound, outbound
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
