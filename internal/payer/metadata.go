package payer

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// Canonical URLs the CapabilityStatement points to. They carry no
// version because the service accepts PAS 2.0.1 and 2.2.1 Bundles.
const (
	pasServerCapabilities  = "http://hl7.org/fhir/us/davinci-pas/CapabilityStatement/IntermediaryCapabilities"
	pasImplementationGuide = "http://hl7.org/fhir/us/davinci-pas/ImplementationGuide/hl7.fhir.us.davinci-pas"
	opSubmit               = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit"
	opInquire              = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry"
	opEligibility          = "http://hl7.org/fhir/OperationDefinition/CoverageEligibilityRequest-submit"
	opMemberMatch          = "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
	opSubscriptionStatus   = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"
	opSubscriptionEvents   = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events"
)

type capabilityStatement struct {
	ResourceType        string        `json:"resourceType"`
	Status              string        `json:"status"`
	Date                string        `json:"date"`
	Kind                string        `json:"kind"`
	Instantiates        []string      `json:"instantiates"`
	Software            nameOnly      `json:"software"`
	Implementation      description   `json:"implementation"`
	FHIRVersion         string        `json:"fhirVersion"`
	Format              []string      `json:"format"`
	ImplementationGuide []string      `json:"implementationGuide"`
	Rest                []restSection `json:"rest"`
}

type nameOnly struct {
	Name string `json:"name"`
}

type description struct {
	Description string `json:"description"`
}

type restSection struct {
	Mode     string         `json:"mode"`
	Resource []restResource `json:"resource"`
}

type restResource struct {
	Type             string          `json:"type"`
	SupportedProfile []string        `json:"supportedProfile,omitempty"`
	Interaction      []interaction   `json:"interaction,omitempty"`
	SearchParam      []searchParam   `json:"searchParam,omitempty"`
	Operation        []restOperation `json:"operation,omitempty"`
}

type interaction struct {
	Code string `json:"code"`
}

type searchParam struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type restOperation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// handleMetadata serves GET /metadata: the CapabilityStatement of this
// instance, with FHIR R4, JSON only and the two PAS operations on Claim.
func (s *Service) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	cs := capabilityStatement{
		ResourceType:        "CapabilityStatement",
		Status:              "active",
		Date:                s.started.UTC().Format(time.RFC3339),
		Kind:                "instance",
		Instantiates:        []string{pasServerCapabilities},
		Software:            nameOnly{Name: "Gatehouse payer service"},
		Implementation:      description{Description: "Built-in payer service: Da Vinci PAS prior authorization, eligibility, claim status, member match"},
		FHIRVersion:         "4.0.1",
		Format:              []string{"json"},
		ImplementationGuide: []string{pasImplementationGuide},
		Rest: []restSection{{
			Mode:     "server",
			Resource: restResources(),
		}},
	}
	body, err := json.Marshal(cs)
	if err != nil {
		panic("payer: encode CapabilityStatement: " + err.Error()) // strings cannot fail to encode
	}
	writeFHIR(w, body)
}

// restResources lists what the service serves, per resource type.
func restResources() []restResource {
	return []restResource{
		{
			Type:             "Claim",
			SupportedProfile: []string{pas.ProfileClaim, pas.ProfileClaimUpdate, pas.ProfileClaimInquiry},
			Operation:        []restOperation{{Name: "submit", Definition: opSubmit}, {Name: "inquire", Definition: opInquire}},
		},
		{
			Type:        "ClaimResponse",
			Interaction: []interaction{{Code: "read"}, {Code: "search-type"}},
			SearchParam: []searchParam{{Name: "identifier", Type: "token"}, {Name: "patient", Type: "reference"}, {Name: "created", Type: "date"}},
		},
		{
			Type:      "CoverageEligibilityRequest",
			Operation: []restOperation{{Name: "submit", Definition: opEligibility}},
		},
		{
			Type:      "Patient",
			Operation: []restOperation{{Name: "member-match", Definition: opMemberMatch}},
		},
		{
			Type:        "Subscription",
			Interaction: []interaction{{Code: "create"}, {Code: "read"}, {Code: "delete"}},
			Operation:   []restOperation{{Name: "status", Definition: opSubscriptionStatus}, {Name: "events", Definition: opSubscriptionEvents}},
		},
	}
}
