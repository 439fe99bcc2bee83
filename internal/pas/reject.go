package pas

import (
	"fmt"
	"time"
)

// X12 code systems of a PAS rejection. PAS 2.0.1 and 2.2.1 bind
// ClaimResponse.error.code to X12278RejectReasonCodes, which includes all
// of 901, and the errorFollowupAction extension to X12278FollowUpActionCodes.
const (
	SystemRejectReason   = "https://codesystem.x12.org/005010/901"
	SystemFollowUpAction = "https://codesystem.x12.org/005010/889"
	extensionFollowUp    = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-errorFollowupAction"
)

// Rejection is an X12 278 AAA segment: the reason (AAA03, code set 901)
// and the follow-up action (AAA04, code set 889) of a request the payer
// did not adjudicate.
type Rejection struct {
	ID       string // the ClaimResponse id, under the rules of Adjudication.ID
	Created  time.Time
	Reason   Coding // such as 75, Subscriber/Insured Not Found
	FollowUp Coding // such as C, Please Correct and Resubmit
}

// SubscriberNotFound is AAA 75 with follow-up C: the patient is not a
// member the payer can find, and the submitter may correct and resubmit.
//
// NOTE: the PAS packages do not carry the X12 code systems, so the codes
// and display texts are not checked against them here.
func SubscriberNotFound(id string, created time.Time) Rejection {
	return Rejection{
		ID: id, Created: created,
		Reason:   Coding{System: SystemRejectReason, Code: "75", Display: "Subscriber/Insured Not Found"},
		FollowUp: Coding{System: SystemFollowUpAction, Code: "C", Display: "Please Correct and Resubmit"},
	}
}

type responseErrorJSON struct {
	Extension []extensionOut `json:"extension,omitzero"`
	Code      codeableJSON   `json:"code"`
}

// BuildRejection returns the PAS response Bundle that rejects req as a
// whole: a ClaimResponse with outcome "error", no items and no
// preAuthRef, whose error carries the rejection's reason and follow-up
// action, followed by the entries BuildResponse copies. A PAS payer sends
// it with status 200, as a 278 response carrying an AAA segment.
func BuildRejection(req *Request, rej Rejection) (string, error) {
	if !isFHIRID(rej.ID) {
		return "", fmt.Errorf("pas: ClaimResponse id %q is not a valid FHIR id", rej.ID)
	}
	fullURL, err := siblingURL(req.Claim.FullURL, "ClaimResponse", rej.ID)
	if err != nil {
		return "", err
	}
	cr := claimResponseJSON{
		ResourceType: "ClaimResponse",
		ID:           rej.ID,
		Meta:         outMeta{Profile: []string{ProfileClaimResponse}},
		Identifier:   req.RawIdentifiers,
		Status:       "active",
		Type:         req.claimType,
		Use:          "preauthorization",
		Patient:      req.Patient.Reference,
		Created:      formatInstant(rej.Created),
		Insurer:      req.Insurer.Reference,
		Requestor:    req.Provider.Reference,
		Request:      requestRef(req),
		Outcome:      "error",
		Disposition:  rej.Reason.Display,
		Error: []responseErrorJSON{{
			Extension: []extensionOut{{URL: extensionFollowUp, ValueCodeableConcept: &codeableJSON{Coding: []Coding{rej.FollowUp}}}},
			Code:      codeableJSON{Coding: []Coding{rej.Reason}},
		}},
	}
	return responseBundle(req, fullURL, cr, rej.Created)
}
