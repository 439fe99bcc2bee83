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
	if submits != 9 || inquiries != 9 {
		t.Errorf("%d submissions and %d inquiries, want 9 each", submits, inquiries)
	}
}

func TestDecisionsFromRejectsNonBundle(t *testing.T) {
	if _, _, err := decisionsFrom([]byte(`{"resourceType":"OperationOutcome"}`)); err == nil {
		t.Error("an OperationOutcome was read as a PAS response")
	}
}

// TestRunNonconformantBundles replays the two PAS examples that refer to
// resources they do not contain: strict mode must refuse both with 422 and
// the location of the dangling reference, and the demo must fail.
func TestRunNonconformantBundles(t *testing.T) {
	res, err := Run(context.Background(), Options{BundlesDir: "nonconformant"})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || res.Failed != 2 {
		t.Fatalf("failed = %d, want 2", res.Failed)
	}
	for _, row := range res.Rows[1:] {
		if row.Status != 422 || !strings.Contains(row.Error, "Bundle.entry[6].resource.practitioner") {
			t.Errorf("%s: status %d, error %q", row.File, row.Status, row.Error)
		}
	}
}
