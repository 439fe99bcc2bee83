package loadgen

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// NPIs of the two organisations every converted Bundle names. They are
// the identifiers development mode registers for its partner and its
// payer, so identity congruence accepts the Bundles there.
const (
	RequestorNPI = "8189991234"
	InsurerNPI   = "1234567893"
)

// Identifier systems of the values Fill writes.
const (
	BundleIDSystem = "urn:gatehouse:loadgen:bundle"
	ClaimIDSystem  = "urn:gatehouse:loadgen:claim"
	// MemberIDSystem names the member id on converted Coverages. It is
	// the built-in payer service's default member id system.
	MemberIDSystem = "urn:gatehouse:payer:member-id"
)

const (
	pasProfile  = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
	pasExt      = pasProfile + "extension-"
	systemNPI   = "http://hl7.org/fhir/sid/us-npi"
	systemX12   = "https://codesystem.x12.org/005010/"
	systemPOS   = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
	systemSOP   = "urn:oid:2.16.840.1.113883.3.221.5" // PHDSC Source of Payment Typology
	systemV2    = "http://terminology.hl7.org/CodeSystem/v2-0203"
	systemClaim = "http://terminology.hl7.org/CodeSystem/claim-type"
	xhtmlNS     = "http://www.w3.org/1999/xhtml"
)

// claimData is the source data of one PAS request.
type claimData struct {
	name      string // Template.Name
	claimType string // institutional or professional
	plan      string // the Synthea plan: private, medicare, medicaid, dual_eligible
	patient   patientData
	items     []itemData
}

// patientData contains the Patient elements a request carries.
type patientData struct {
	identifiers []identifierJSON
	name        humanNameJSON
	gender      string
	birthDate   string
	address     []addressJSON
	telecom     []contactPointJSON
	// extensions are US Core extensions copied as written.
	extensions []jsontext.Value
}

// itemData is one requested service: the code of the source claim item.
type itemData struct {
	system, code, display string
}

// FHIR data types, with only the elements the Bundles use.
type (
	codingJSON struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code,omitempty"`
		Display string `json:"display,omitempty"`
	}
	conceptJSON struct {
		Coding []codingJSON `json:"coding,omitempty"`
		Text   string       `json:"text,omitempty"`
	}
	identifierJSON struct {
		Type   *conceptJSON `json:"type,omitempty"`
		System string       `json:"system,omitempty"`
		Value  string       `json:"value,omitempty"`
	}
	referenceJSON struct {
		Reference string `json:"reference"`
	}
	metaJSON struct {
		Profile []string `json:"profile"`
	}
	narrativeJSON struct {
		Status string `json:"status"`
		Div    string `json:"div"`
	}
	humanNameJSON struct {
		Use    string   `json:"use,omitempty"`
		Family string   `json:"family,omitempty"`
		Given  []string `json:"given,omitempty"`
		Prefix []string `json:"prefix,omitempty"`
		Suffix []string `json:"suffix,omitempty"`
	}
	addressJSON struct {
		Line       []string `json:"line,omitempty"`
		City       string   `json:"city,omitempty"`
		State      string   `json:"state,omitempty"`
		PostalCode string   `json:"postalCode,omitempty"`
		Country    string   `json:"country,omitempty"`
	}
	contactPointJSON struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value,omitempty"`
		Use    string `json:"use,omitempty"`
	}
	extensionJSON struct {
		URL                  string       `json:"url"`
		ValueCodeableConcept *conceptJSON `json:"valueCodeableConcept,omitempty"`
	}
)

// Resources of a request Bundle.
type (
	bundleJSON struct {
		ResourceType string            `json:"resourceType"`
		Meta         metaJSON          `json:"meta"`
		Identifier   identifierJSON    `json:"identifier"`
		Type         string            `json:"type"`
		Timestamp    string            `json:"timestamp"`
		Entry        []bundleEntryJSON `json:"entry"`
	}
	bundleEntryJSON struct {
		FullURL  string `json:"fullUrl"`
		Resource any    `json:"resource"`
	}
	claimJSON struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		Meta         metaJSON         `json:"meta"`
		Text         narrativeJSON    `json:"text"`
		Identifier   []identifierJSON `json:"identifier"`
		Status       string           `json:"status"`
		Type         conceptJSON      `json:"type"`
		Use          string           `json:"use"`
		Patient      referenceJSON    `json:"patient"`
		Created      string           `json:"created"`
		Insurer      referenceJSON    `json:"insurer"`
		Provider     referenceJSON    `json:"provider"`
		Priority     conceptJSON      `json:"priority"`
		Insurance    []insuranceJSON  `json:"insurance"`
		Item         []claimItemJSON  `json:"item"`
	}
	insuranceJSON struct {
		Sequence int           `json:"sequence"`
		Focal    bool          `json:"focal"`
		Coverage referenceJSON `json:"coverage"`
	}
	claimItemJSON struct {
		Extension        []extensionJSON `json:"extension"`
		Sequence         int             `json:"sequence"`
		Category         conceptJSON     `json:"category"`
		ProductOrService conceptJSON     `json:"productOrService"`
		ServicedDate     string          `json:"servicedDate"`
		Location         conceptJSON     `json:"locationCodeableConcept"`
	}
	patientJSON struct {
		ResourceType string             `json:"resourceType"`
		ID           string             `json:"id"`
		Meta         metaJSON           `json:"meta"`
		Extension    []jsontext.Value   `json:"extension,omitempty"`
		Identifier   []identifierJSON   `json:"identifier"`
		Name         []humanNameJSON    `json:"name"`
		Telecom      []contactPointJSON `json:"telecom,omitempty"`
		Gender       string             `json:"gender"`
		BirthDate    string             `json:"birthDate,omitempty"`
		Address      []addressJSON      `json:"address,omitempty"`
	}
	coverageJSON struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		Meta         metaJSON         `json:"meta"`
		Identifier   []identifierJSON `json:"identifier"`
		Status       string           `json:"status"`
		Type         *conceptJSON     `json:"type,omitempty"`
		SubscriberID string           `json:"subscriberId"`
		Beneficiary  referenceJSON    `json:"beneficiary"`
		Relationship conceptJSON      `json:"relationship"`
		Payor        []referenceJSON  `json:"payor"`
	}
	organizationJSON struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		Meta         metaJSON         `json:"meta"`
		Identifier   []identifierJSON `json:"identifier"`
		Active       bool             `json:"active"`
		Type         []conceptJSON    `json:"type"`
		Name         string           `json:"name"`
	}
)

// buildTemplate serializes the PAS request Bundle for c, dated at now,
// and cuts it into a Template.
func buildTemplate(c *claimData, now time.Time, m markers) (*Template, error) {
	if len(c.items) == 0 {
		return nil, fmt.Errorf("loadgen: %s: the claim has no items", c.name)
	}
	ids := entryIDs{claim: pas.NewUUID(), patient: pas.NewUUID(), coverage: pas.NewUUID(), requestor: pas.NewUUID(), insurer: pas.NewUUID()}
	stamp := now.UTC().Format(time.RFC3339)
	b := bundleJSON{
		ResourceType: "Bundle",
		Meta:         metaJSON{Profile: []string{pasProfile + "profile-pas-request-bundle"}},
		Identifier:   identifierJSON{System: BundleIDSystem, Value: m.bundle},
		Type:         "collection",
		Timestamp:    stamp,
		Entry: []bundleEntryJSON{
			{FullURL: urn(ids.claim), Resource: c.claim(ids, m.claim, now)},
			{FullURL: urn(ids.patient), Resource: c.patientResource(ids)},
			{FullURL: urn(ids.coverage), Resource: c.coverage(ids)},
			{FullURL: urn(ids.requestor), Resource: organization(ids.requestor, "profile-requestor", RequestorNPI, "1P", "Gatehouse Load Test Clinic")},
			{FullURL: urn(ids.insurer), Resource: organization(ids.insurer, "profile-insurer", InsurerNPI, "PR", "Gatehouse Development Health Plan")},
		},
	}
	doc, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", c.name, err)
	}
	return m.cut(c.name, len(c.items), doc)
}

// entryIDs are the resource ids of one Bundle. Each fullUrl is
// urn:uuid:<id>.
type entryIDs struct {
	claim, patient, coverage, requestor, insurer string
}

func urn(id string) string { return "urn:uuid:" + id }

func (c *claimData) claim(ids entryIDs, claimMarker string, now time.Time) claimJSON {
	// A prior authorization requests services to come: a week ahead.
	serviced := now.UTC().AddDate(0, 0, 7).Format("2006-01-02")
	items := make([]claimItemJSON, len(c.items))
	for i, it := range c.items {
		service := serviceTypeOf(it)
		items[i] = claimItemJSON{
			Extension: []extensionJSON{
				{URL: pasExt + "serviceItemRequestType", ValueCodeableConcept: x12(1525, "HS", "Health Services Review")},
				{URL: pasExt + "certificationType", ValueCodeableConcept: x12(1322, "I", "Initial")},
			},
			Sequence: i + 1,
			Category: *x12(1365, service.code, service.display),
			ProductOrService: conceptJSON{
				Coding: []codingJSON{
					{System: it.system, Code: it.code, Display: it.display},
					{System: systemX12 + "1365", Code: service.code, Display: service.display},
				},
				Text: it.display,
			},
			ServicedDate: serviced,
			Location:     conceptJSON{Coding: []codingJSON{{System: systemPOS, Code: service.placeOfService}}},
		}
	}
	return claimJSON{
		ResourceType: "Claim",
		ID:           ids.claim,
		Meta:         metaJSON{Profile: []string{pasProfile + "profile-claim"}},
		Text:         narrativeJSON{Status: "generated", Div: c.narrative()},
		Identifier:   []identifierJSON{{System: ClaimIDSystem, Value: claimMarker}},
		Status:       "active",
		Type:         conceptJSON{Coding: []codingJSON{{System: systemClaim, Code: c.claimType}}},
		Use:          "preauthorization",
		Patient:      referenceJSON{urn(ids.patient)},
		Created:      now.UTC().Format(time.RFC3339),
		Insurer:      referenceJSON{urn(ids.insurer)},
		Provider:     referenceJSON{urn(ids.requestor)},
		Priority:     conceptJSON{Coding: []codingJSON{{System: "http://terminology.hl7.org/CodeSystem/processpriority", Code: "normal"}}},
		Insurance:    []insuranceJSON{{Sequence: 1, Focal: true, Coverage: referenceJSON{urn(ids.coverage)}}},
		Item:         items,
	}
}

// narrative renders the requested items as the Claim's XHTML summary, as
// EHRs generate one for a human reader at the payer.
func (c *claimData) narrative() string {
	var b strings.Builder
	b.WriteString(`<div xmlns="` + xhtmlNS + `"><p><b>Prior authorization request</b></p><table><tr><th>#</th><th>Service</th><th>Code</th></tr>`)
	for i, it := range c.items {
		fmt.Fprintf(&b, "<tr><td>%d</td><td>%s</td><td>%s</td></tr>", i+1, html.EscapeString(it.display), html.EscapeString(it.code))
	}
	b.WriteString("</table></div>")
	return b.String()
}

func (c *claimData) patientResource(ids entryIDs) patientJSON {
	p := c.patient
	return patientJSON{
		ResourceType: "Patient",
		ID:           ids.patient,
		Meta:         metaJSON{Profile: []string{pasProfile + "profile-beneficiary"}},
		Extension:    p.extensions,
		Identifier:   p.identifiers,
		Name:         []humanNameJSON{p.name},
		Telecom:      p.telecom,
		Gender:       p.gender,
		BirthDate:    p.birthDate,
		Address:      p.address,
	}
}

func (c *claimData) coverage(ids entryIDs) coverageJSON {
	member := c.memberID()
	cov := coverageJSON{
		ResourceType: "Coverage",
		ID:           ids.coverage,
		Meta:         metaJSON{Profile: []string{pasProfile + "profile-coverage"}},
		Identifier: []identifierJSON{{
			Type:   &conceptJSON{Coding: []codingJSON{{System: systemV2, Code: "MB"}}},
			System: MemberIDSystem,
			Value:  member,
		}},
		Status:       "active",
		SubscriberID: member,
		Beneficiary:  referenceJSON{urn(ids.patient)},
		Relationship: conceptJSON{Coding: []codingJSON{
			{System: "http://terminology.hl7.org/CodeSystem/subscriber-relationship", Code: "self"},
			{System: systemX12 + "1069", Code: "18", Display: "Self"},
		}},
		Payor: []referenceJSON{{urn(ids.insurer)}},
	}
	if code, display, ok := payerType(c.plan); ok {
		cov.Type = &conceptJSON{Coding: []codingJSON{{System: systemSOP, Code: code, Display: display}}}
	}
	return cov
}

// memberID derives the member id from the patient's first identifier, so
// that every claim of one patient names the same member.
func (c *claimData) memberID() string {
	first := c.patient.identifiers[0]
	return memberIDOf(first.System, first.Value)
}

func organization(id, profile, npi, x12Type, name string) organizationJSON {
	return organizationJSON{
		ResourceType: "Organization",
		ID:           id,
		Meta:         metaJSON{Profile: []string{pasProfile + profile}},
		Identifier:   []identifierJSON{{System: systemNPI, Value: npi}},
		Active:       true,
		Type:         []conceptJSON{*x12(98, x12Type, "")},
		Name:         name,
	}
}

// x12 returns a concept with one code of X12 code list list.
func x12(list int, code, display string) *conceptJSON {
	return &conceptJSON{Coding: []codingJSON{{System: systemX12 + strconv.Itoa(list), Code: code, Display: display}}}
}

// service is the X12 service type (code list 1365) and CMS place of
// service an item is requested under.
type service struct {
	code, display, placeOfService string
}

// SNOMED CT codes of Synthea items that map to a service type other than
// medical care.
const (
	snomedEmergencyAdmission = "50849002"
	snomedConsultation       = "698314001"
)

// serviceTypeOf maps a Synthea item code to the service type it is
// requested under. Vaccines (CVX) map to immunizations, and a consultation
// to consultation. An emergency room admission maps to emergency services
// at place of service 23 (emergency room, hospital). Everything else maps
// to medical care at place of service 11 (office).
func serviceTypeOf(it itemData) service {
	switch {
	case it.system == systemCVX:
		return service{"80", "Immunizations", "11"}
	case it.system == systemSNOMED && it.code == snomedEmergencyAdmission:
		return service{"86", "Emergency Services", "23"}
	case it.system == systemSNOMED && it.code == snomedConsultation:
		return service{"3", "Consultation", "11"}
	}
	return service{"1", "Medical Care", "11"}
}

// payerType maps a Synthea plan name to the top-level Source of Payment
// Typology code of its payer type. ok is false for other plans, such as
// dual_eligible, whose Coverage then has no type.
// NOTE: the validator cannot check these codes, because no shipped
// package contains this code system.
func payerType(plan string) (code, display string, ok bool) {
	switch plan {
	case "medicare":
		return "1", "MEDICARE", true
	case "medicaid":
		return "2", "MEDICAID", true
	case "private":
		return "5", "PRIVATE HEALTH INSURANCE", true
	}
	return "", "", false
}
