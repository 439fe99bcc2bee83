package demo

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

func tokenRow(ctx context.Context, ehr *ehrclient.Client) Row {
	row := Row{File: "-", Step: "token", Direction: "inbound"}
	start := time.Now()
	resp, err := ehr.Token(ctx)
	row.LatencyMS = millis(time.Since(start))
	if err != nil {
		var re *token.ResponseError
		if errors.As(err, &re) {
			row.Status = re.Status
			row.Record = recordNumber(re.Header)
		}
		row.Error = sanitize(err.Error())
		return row
	}
	row.Status, row.OK = http.StatusOK, true
	row.Record = recordNumber(resp.Header)
	return row
}

// recordNumber reads the gateway's X-Gatehouse-Record header, 0 when it is
// absent or invalid.
func recordNumber(h http.Header) int64 {
	n, _ := strconv.ParseInt(h.Get("X-Gatehouse-Record"), 10, 64)
	return n
}

// submitRow posts one bundle to Claim/$submit. accepted reports whether
// the payer returned a ClaimResponse, so that an inquiry can follow.
func submitRow(ctx context.Context, ehr *ehrclient.Client, b *bundle) (row Row, accepted bool) {
	row = Row{File: b.name, Step: "submit", Direction: "inbound", bundle: b}
	resp, err := ehr.Do(ctx, http.MethodPost, "Claim/$submit", b.data)
	if err != nil {
		row.Error = sanitize(err.Error())
		return row, false
	}
	fillFromResponse(&row, resp)
	if resp.Status != http.StatusOK {
		row.Error = sanitize(outcomeText(resp.Body))
		return row, false
	}
	claim, items, err := decisionsFrom(resp.Body)
	if err != nil {
		row.Error = sanitize(err.Error())
		return row, false
	}
	row.Claim, row.Items, row.OK = claim, items, true
	if parsed, err := pas.ParseResponse(resp.Body); err == nil {
		row.preAuthRef = parsed.PreAuthRef
	}
	return row, true
}

// inquireRow builds the PAS inquiry for a submitted bundle and posts it to
// Claim/$inquire.
func inquireRow(ctx context.Context, ehr *ehrclient.Client, b *bundle) Row {
	row := Row{File: b.name, Step: "inquire", Direction: "inbound"}
	inquiry, err := pas.InquiryFor(b.data, time.Now())
	if err != nil {
		row.Error = sanitize(err.Error())
		return row
	}
	resp, err := ehr.Do(ctx, http.MethodPost, "Claim/$inquire", inquiry)
	if err != nil {
		row.Error = sanitize(err.Error())
		return row
	}
	fillFromResponse(&row, resp)
	if resp.Status != http.StatusOK {
		row.Error = sanitize(outcomeText(resp.Body))
		return row
	}
	claim, items, err := decisionsFrom(resp.Body)
	if err != nil {
		row.Error = sanitize(err.Error())
		return row
	}
	row.Claim, row.Items, row.OK = claim, items, true
	return row
}

func fillFromResponse(row *Row, resp *ehrclient.Response) {
	row.Status = resp.Status
	row.LatencyMS = millis(resp.Duration)
	row.exchangeID = resp.Header.Get("X-Request-Id")
	row.Record = recordNumber(resp.Header)
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
