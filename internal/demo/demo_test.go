package demo

import (
	"context"
	"strings"
	"testing"
)

// TestRunShippedBundles runs the whole demo on the shipped PAS bundles: every
// submission and inquiry must succeed and be found in the record.
func TestRunShippedBundles(t *testing.T) {
	res, err := Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		var b strings.Builder
		res.WriteTable(&b)
		t.Fatalf("demo failed:\n%s", b.String())
	}
	submits, inquiries := 0, 0
	for _, row := range res.Rows {
		switch row.Step {
		case "submit":
			submits++
		case "inquire":
			inquiries++
		}
		if row.Step != "token" && (row.Record == 0 || len(row.Items) == 0) {
			t.Errorf("%s %s: record %d, %d item decisions", row.File, row.Step, row.Record, len(row.Items))
		}
	}
	if submits != 11 || inquiries != 11 {
		t.Errorf("%d submissions and %d inquiries, want 11 each", submits, inquiries)
	}
}

func TestDecisionsFromRejectsNonBundle(t *testing.T) {
	if _, _, err := decisionsFrom([]byte(`{"resourceType":"OperationOutcome"}`)); err == nil {
		t.Error("an OperationOutcome was read as a PAS response")
	}
}
