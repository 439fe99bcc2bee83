package pas

import (
	"errors"
	"path/filepath"
	"testing"
)

var inquiryID = Identifier{System: "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER", Value: "INQ-1"}

func TestBuildInquiryRoundTrip(t *testing.T) {
	for _, f := range demoBundles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			req := parseFile(t, f)
			body, err := BuildInquiry(req, InquiryParams{ClaimID: testID, BundleIdentifier: inquiryID, Created: testTime})
			if err != nil {
				t.Fatal(err)
			}
			inq, err := ParseInquiry(body)
			if err != nil {
				t.Fatalf("ParseInquiry: %v", err)
			}
			if inq.Key() != req.Key() {
				t.Errorf("key %v, expected %v", inq.Key(), req.Key())
			}
			if !inq.Patient.SameAs(req.Patient) || !inq.Provider.SameAs(req.Provider) || !inq.Insurer.SameAs(req.Insurer) {
				t.Errorf("patient, provider or insurer changed")
			}
			if len(inq.Items) != len(req.Items) {
				t.Errorf("%d items, expected %d", len(inq.Items), len(req.Items))
			}
			if len(inq.Identifiers) != 1 {
				t.Errorf("%d Claim identifiers, PAS inquiry allows exactly one", len(inq.Identifiers))
			}

			// The inquiry declares its profile, so $submit rejects it.
			_, err = ParseRequest(body)
			var be *BundleError
			if !errors.As(err, &be) || be.Path != "Bundle.meta.profile" {
				t.Errorf("ParseRequest(inquiry) = %v, expected an error at Bundle.meta.profile", err)
			}
		})
	}
}

func TestBuildInquiryNeedsIdentifier(t *testing.T) {
	req := parseFile(t, referral221)
	if _, err := BuildInquiry(req, InquiryParams{ClaimID: testID, Created: testTime}); err == nil {
		t.Errorf("BuildInquiry accepted an empty Bundle identifier")
	}
}

func TestBuildInquiryResponse(t *testing.T) {
	req := parseFile(t, homecare221)
	ds := approveAll(req)
	ds[1].Action = Pended
	stored, err := BuildResponse(req, Adjudication{ID: testID, PreAuthRef: "PA-7", Created: testTime, Decisions: ds})
	if err != nil {
		t.Fatal(err)
	}
	body, err := BuildInquiry(req, InquiryParams{ClaimID: testID, BundleIdentifier: inquiryID, Created: testTime})
	if err != nil {
		t.Fatal(err)
	}
	inq, err := ParseInquiry(body)
	if err != nil {
		t.Fatal(err)
	}

	out, err := BuildInquiryResponse([]byte(stored), inq, testTime.Add(3600e9))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ParseResponse(out)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	if err := resp.CheckAgainst(inq); err != nil {
		t.Errorf("CheckAgainst(inquiry): %v", err)
	}
	if resp.PreAuthRef != "PA-7" || resp.Outcome != "partial" {
		t.Errorf("preAuthRef %q outcome %q, expected the stored PA-7 and partial", resp.PreAuthRef, resp.Outcome)
	}
	if len(resp.Items) != 2 || resp.Items[1].Action != Pended {
		t.Errorf("items %+v, expected the stored decisions", resp.Items)
	}
	if string(resp.BundleIdentifier) != `{"system":"http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER","value":"INQ-1"}` {
		t.Errorf("Bundle.identifier %s, expected the inquiry's", resp.BundleIdentifier)
	}

	var doc struct {
		Timestamp string   `json:"timestamp"`
		Meta      metaJSON `json:"meta"`
	}
	var crDoc struct {
		Meta metaJSON `json:"meta"`
	}
	mustUnmarshal(t, out, &doc)
	mustUnmarshal(t, resp.ClaimResponse.Resource, &crDoc)
	if !hasProfile(doc.Meta.Profile, ProfileInquiryResponseBundle) {
		t.Errorf("Bundle profiles %v, expected the inquiry response Bundle profile", doc.Meta.Profile)
	}
	if !hasProfile(crDoc.Meta.Profile, ProfileClaimInquiryResponse) {
		t.Errorf("ClaimResponse profiles %v, expected the inquiry response profile", crDoc.Meta.Profile)
	}
	if doc.Timestamp != "2026-03-01T10:30:00Z" {
		t.Errorf("timestamp %q, expected the inquiry time", doc.Timestamp)
	}
}
