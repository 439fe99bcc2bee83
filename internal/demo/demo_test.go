package demo

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunShippedBundles runs the whole demo on the shipped PAS bundles: every
// submission and inquiry must succeed and be found in the record.
func TestRunShippedBundles(t *testing.T) {
	res := runDemo(t)
	submits, inquiries := 0, 0
	for _, row := range res.Rows {
		switch row.Step {
		case "submit":
			submits++
		case "inquire":
			inquiries++
		default:
			continue
		}
		if row.Record == 0 || len(row.Items) == 0 {
			t.Errorf("%s %s: record %d, %d item decisions", row.File, row.Step, row.Record, len(row.Items))
		}
	}
	if submits != 9 || inquiries != 9 {
		t.Errorf("%d submissions and %d inquiries, want 9 each", submits, inquiries)
	}
}

// TestRunRoundTrip checks the steps that go both ways: the Subscription,
// its handshake, the pended item, the administrator's decision, the
// notification through the outbound path, the counter check and the final
// inquiry.
func TestRunRoundTrip(t *testing.T) {
	res := runDemo(t)
	var steps []string
	for _, row := range res.Rows {
		steps = append(steps, row.Step)
	}
	want := []string{"token", "subscribe", "handshake", "submit", "inquire", "pended", "decide", "notification", "status", "inquire-final", "submit"}
	if len(steps) < len(want) || !slices.Equal(steps[:len(want)], want) {
		t.Fatalf("steps %v, want them to start with %v", steps, want)
	}
	byStep := map[string]Row{}
	for _, row := range res.Rows {
		if _, seen := byStep[row.Step]; !seen {
			byStep[row.Step] = row
		}
	}

	tok := byStep["token"]
	if tok.Status != 200 {
		t.Errorf("token row status %d, want 200", tok.Status)
	}
	if tok.Record == 0 {
		t.Errorf("token row %+v has no record entry", tok)
	}

	sub := byStep["subscribe"]
	if sub.Subscription == "" {
		t.Errorf("subscribe row %+v has no Subscription id", sub)
	}
	if sub.Status != 201 {
		t.Errorf("subscribe row status %d, want 201", sub.Status)
	}
	if sub.Record == 0 {
		t.Errorf("subscribe row %+v has no record entry", sub)
	}

	for _, step := range []string{"handshake", "notification"} {
		row := byStep[step]
		if row.Direction != "outbound" {
			t.Errorf("%s row direction %q, want outbound", step, row.Direction)
		}
		if !row.Strict {
			t.Errorf("%s row %+v did not pass strict mode", step, row)
		}
		if row.Status != 200 {
			t.Errorf("%s row status %d, want 200", step, row.Status)
		}
		if row.Subscription != sub.Subscription {
			t.Errorf("%s row Subscription %q, want %q", step, row.Subscription, sub.Subscription)
		}
		// The demo sets an outbound row's record only once it has found
		// the gateway's outbound entry with the same exchange id.
		if row.Record == 0 {
			t.Errorf("%s row has no outbound record entry", step)
		}
	}
	notification := byStep["notification"]
	if notification.Event != 1 {
		t.Errorf("notification event %d, want 1", notification.Event)
	}
	if !strings.Contains(notification.Detail, "no gap") {
		t.Errorf("notification detail %q, want no gap", notification.Detail)
	}
	if res.RecordedOutbound != 2 {
		t.Errorf("%d outbound exchanges found in the record, want 2 (handshake and notification)", res.RecordedOutbound)
	}

	pended := byStep["pended"]
	if len(pended.Items) != 1 || pended.Items[0].Code != "A4" || pended.File != byStep["submit"].File {
		t.Fatalf("pended row %+v, want the first submission's pended item", pended)
	}
	item := pended.Items[0].Sequence
	if d := byStep["decide"]; len(d.Items) != 1 || d.Items[0].Sequence != item || d.Items[0].Code != "A1" {
		t.Errorf("decide row items %+v, want item %d approved (A1)", d.Items, item)
	}
	// The operator's decision is a control entry of the exchange record,
	// appended after the submission's entries.
	if d := byStep["decide"]; d.Record <= pended.Record {
		t.Errorf("decide row record %d, want an entry after the pended row's %d", d.Record, pended.Record)
	}
	status := byStep["status"]
	if status.Event != 1 {
		t.Errorf("status row counter %d, want 1", status.Event)
	}
	if status.Record == 0 {
		t.Errorf("status row %+v has no record entry", status)
	}

	final := byStep["inquire-final"]
	if final.Record == 0 {
		t.Errorf("inquire-final row %+v has no record entry", final)
	}
	if final.File != pended.File {
		t.Errorf("inquire-final row file %q, want %q", final.File, pended.File)
	}
	if i := slices.IndexFunc(final.Items, func(d ItemDecision) bool { return d.Sequence == item }); i < 0 || final.Items[i].Code != "A1" {
		t.Errorf("final inquiry items %+v, want item %d approved (A1)", final.Items, item)
	}
	if before := byStep["inquire"]; slices.Equal(before.Items, final.Items) {
		t.Errorf("the final inquiry returned the same decisions as the first: %+v", final.Items)
	}
}

// runDemo runs the demo on the shipped bundles and fails unless every step
// succeeded.
func runDemo(t *testing.T) *Result {
	t.Helper()
	res, err := Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		var b strings.Builder
		res.WriteTable(&b)
		t.Fatalf("demo failed:\n%s", b.String())
	}
	return res
}

func TestDecisionsFromRejectsNonBundle(t *testing.T) {
	if _, _, err := decisionsFrom([]byte(`{"resourceType":"OperationOutcome"}`)); err == nil {
		t.Error("an OperationOutcome was read as a PAS response")
	}
}

// TestRunNonconformantBundles replays the two PAS examples that refer to
// resources they do not contain: strict mode must reject both with 422 and
// the location of the dangling reference, and the demo must fail, with
// nothing pended for the round trip.
func TestRunNonconformantBundles(t *testing.T) {
	res, err := Run(context.Background(), Options{BundlesDir: "nonconformant"})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() {
		t.Fatal("the demo succeeded on nonconformant bundles")
	}
	if res.Failed != 3 {
		t.Fatalf("failed = %d, want 3 (two submissions and the round trip)", res.Failed)
	}
	submits := 0
	for _, row := range res.Rows {
		switch row.Step {
		case "submit":
			submits++
			if row.Status != 422 {
				t.Errorf("%s: status %d, want 422", row.File, row.Status)
			}
			if !strings.Contains(row.Error, "Bundle.entry[6].resource.practitioner") {
				t.Errorf("%s: error %q, want the dangling reference's location", row.File, row.Error)
			}
		case "pended":
			if row.OK || !strings.Contains(row.Error, "no submitted request had a pended item") {
				t.Errorf("pended row %+v, want a failure naming the missing pended item", row)
			}
		}
	}
	if submits != 2 {
		t.Errorf("%d submissions, want 2", submits)
	}
}

// TestRunNonMemberBundleRejected replays a shipped bundle whose patient
// has no birth date, so the demo cannot make it a member. The payer must
// reject it as an unknown subscriber and the submit row must fail with
// that reason, not count as an adjudication.
func TestRunNonMemberBundleRejected(t *testing.T) {
	shipped, err := ShippedBundle("pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	const birthDate = `,"birthDate":"1965-04-12"`
	if !strings.Contains(string(shipped), birthDate) {
		t.Fatal("the shipped Patient no longer has the birth date this test removes")
	}
	dir := t.TempDir()
	bundle := strings.Replace(string(shipped), birthDate, "", 1)
	if err := os.WriteFile(filepath.Join(dir, "no-birth-date.json"), []byte(bundle), 0o600); err != nil {
		t.Fatal(err)
	}

	res, err := Run(context.Background(), Options{BundlesDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() {
		t.Fatal("the demo succeeded on a patient who is not a member")
	}
	i := slices.IndexFunc(res.Rows, func(r Row) bool { return r.Step == "submit" })
	if i < 0 {
		t.Fatal("no submit row")
	}
	row := res.Rows[i]
	if row.OK || row.Status != 200 {
		t.Errorf("submit row ok %v, status %d, want a failed row with status 200", row.OK, row.Status)
	}
	if !strings.Contains(row.Error, "X12 reject reason 75") {
		t.Errorf("submit row error %q, want the payer's reject reason 75", row.Error)
	}
	if slices.ContainsFunc(res.Rows, func(r Row) bool { return r.Step == "inquire" }) {
		t.Error("the demo inquired about a rejected request")
	}
}
