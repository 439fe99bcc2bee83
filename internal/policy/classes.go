package policy

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
)

// Class is a data class: a set of resource types a partner is given one role
// on.
type Class string

// The data classes. A resource type in no class is refused to every partner.
const (
	Claims      Class = "claims"
	Coverage    Class = "coverage"
	Clinical    Class = "clinical"
	Member      Class = "member"
	Directory   Class = "directory"
	Workflow    Class = "workflow"
	Audit       Class = "audit"
	Conformance Class = "conformance"
)

// classTypes is the roles table: the resource types of each class.
var classTypes = map[Class][]string{
	Claims:   {"Claim", "ClaimResponse", "ExplanationOfBenefit"},
	Coverage: {"Coverage", "CoverageEligibilityRequest", "CoverageEligibilityResponse"},
	Clinical: {
		"AllergyIntolerance", "Binary", "CarePlan", "CareTeam", "Composition", "Condition", "Device",
		"DeviceRequest", "DiagnosticReport", "DocumentReference", "Encounter", "FamilyMemberHistory",
		"Goal", "ImagingStudy", "Immunization", "Medication", "MedicationAdministration",
		"MedicationDispense", "MedicationRequest", "MedicationStatement", "NutritionOrder",
		"Observation", "Procedure", "QuestionnaireResponse", "ServiceRequest", "Specimen",
	},
	Member:      {"Patient", "RelatedPerson", "Person", "Group", "Consent"},
	Directory:   {"Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService", "Endpoint", "InsurancePlan"},
	Workflow:    {"Task", "Communication", "CommunicationRequest", "Subscription"},
	Audit:       {"Provenance", "AuditEvent"},
	Conformance: {"CapabilityStatement", "CodeSystem", "ConceptMap", "Library", "NamingSystem", "OperationDefinition", "Questionnaire", "SearchParameter", "StructureDefinition", "ValueSet"},
}

// writableClasses are the classes a partner may be given the write role on.
// Claims, coverage and member data change only through the operations built
// for them (Claim/$submit creates a Claim), never by a plain create or
// update. No partner writes audit, directory or conformance data.
var writableClasses = map[Class]bool{Clinical: true, Workflow: true}

// typeClass maps each resource type to its class.
var typeClass = func() map[string]Class {
	m := map[string]Class{}
	for c, types := range classTypes {
		for _, t := range types {
			m[t] = c
		}
	}
	return m
}()

// ClassOf returns the data class of a resource type, and false for a type
// in no class.
func ClassOf(typ string) (Class, bool) {
	c, ok := typeClass[typ]
	return c, ok
}

// allClassTypes lists the resource types of every class, sorted.
var allClassTypes = func() []string {
	var out []string
	for _, types := range classTypes {
		out = append(out, types...)
	}
	sort.Strings(out)
	return out
}()

// Classes returns every data class, sorted.
func Classes() []Class {
	out := make([]Class, 0, len(classTypes))
	for c := range classTypes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// TypesOf returns the resource types of a class, sorted.
func TypesOf(c Class) []string {
	out := slices.Clone(classTypes[c])
	sort.Strings(out)
	return out
}

// Role is the access a partner has to one data class.
type Role int

// The roles, each including the one before.
const (
	None  Role = iota // no access, the default
	Read              // read, vread and search
	Write             // Read plus create and update; only on writable classes
)

var roleNames = map[string]Role{"none": None, "read": Read, "write": Write}

// Feature is a search or interaction form refused unless the partner is
// granted it.
type Feature string

// The features that need an explicit grant.
const (
	Everything     Feature = "everything"      // $everything at any level
	Export         Feature = "export"          // bulk $export
	HasSearch      Feature = "has"             // _has reverse chaining
	ChainedSearch  Feature = "chain"           // chained parameters
	IncludeIterate Feature = "include-iterate" // _include:iterate and _revinclude:iterate
	GraphQL        Feature = "graphql"         // $graphql and _graphql
	History        Feature = "history"         // _history at any level
	SystemSearch   Feature = "system-search"   // search at the FHIR base, across types
)

var features = []Feature{Everything, Export, HasSearch, ChainedSearch, IncludeIterate, GraphQL, History, SystemSearch}

// Partner is a compiled partner registration, as the policy uses it.
type Partner struct {
	ID           string
	Organization congruence.Identifier
	// OutboundFHIRBase is the partner's FHIR base as the payer reaches it
	// (partners[].outbound.fhir_base), or empty when none is registered.
	// Subscription endpoints must be operations under it.
	OutboundFHIRBase string
	roles            map[Class]Role
	grants           map[Feature]string
}

// Role returns the partner's role on a class.
func (p *Partner) Role(c Class) Role { return p.roles[c] }

// Granted reports whether the partner has a grant for f.
func (p *Partner) Granted(f Feature) bool {
	_, ok := p.grants[f]
	return ok
}

// PartnerConfig is a partner registration as configuration writes it.
type PartnerConfig struct {
	ID           string
	Organization congruence.Identifier
	// Roles maps class names to "none", "read" or "write". Missing classes
	// are "none".
	Roles map[string]string
	// Grants lists the features the partner is explicitly allowed, each
	// with the reason it needs it.
	Grants []GrantConfig
	// OutboundFHIRBase is partners[].outbound.fhir_base, or empty.
	OutboundFHIRBase string
}

// GrantConfig is one explicit grant of a dangerous feature.
type GrantConfig struct {
	Feature string
	Reason  string
}

// NewPartner checks and compiles a registration. Errors name the field as
// a configuration key below partners[i] (for example "roles.claims").
func NewPartner(cfg PartnerConfig) (*Partner, error) {
	if cfg.ID == "" {
		return nil, errors.New("policy: id: required")
	}
	p := &Partner{ID: cfg.ID, Organization: cfg.Organization, OutboundFHIRBase: cfg.OutboundFHIRBase,
		roles: map[Class]Role{}, grants: map[Feature]string{}}
	for name, roleName := range cfg.Roles {
		c := Class(name)
		if _, ok := classTypes[c]; !ok {
			return nil, fmt.Errorf("policy: roles.%s: unknown data class; use one of %v", name, Classes())
		}
		role, ok := roleNames[roleName]
		if !ok {
			return nil, fmt.Errorf("policy: roles.%s: unknown role %q; use none, read or write", name, roleName)
		}
		if role == Write && !writableClasses[c] {
			return nil, fmt.Errorf("policy: roles.%s: write is not available for this class; its resources change only through the operations built for them", name)
		}
		p.roles[c] = role
	}
	for i, g := range cfg.Grants {
		f := Feature(g.Feature)
		if !slices.Contains(features, f) {
			return nil, fmt.Errorf("policy: grants[%d].feature: unknown feature %q; use one of %v", i, g.Feature, features)
		}
		if g.Reason == "" {
			return nil, fmt.Errorf("policy: grants[%d].reason: required, so that the posture audit can show why %s is granted", i, g.Feature)
		}
		p.grants[f] = g.Reason
	}
	return p, nil
}
