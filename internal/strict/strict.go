// Package strict is strict mode (control C9): every resource that crosses
// the link, in either direction, must conform to FHIR R4 and to the
// profiles declared for its interaction, or it is rejected before it is
// forwarded or released.
//
// Requests and responses of the Da Vinci PAS operations are checked against
// the PAS Bundle profiles of every PAS version the payer supports. A body is
// accepted when it conforms to one of them, and otherwise rejected with the
// issues of the closest version. A body whose meta.profile names a PAS
// profile with a supported version ("...|2.0.1") is checked under that
// version only. Every other body is checked against the R4 core
// definitions and the profiles its meta.profile names. A meta.profile
// that is not loaded is an error unless Options.WarnUnknownProfiles is
// set or it is in UncheckedProfileDomains, because the resource would
// pass as conforming to a profile that nothing checked.
package strict

import (
	"fmt"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/validate"
)

const (
	pasBase  = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
	hrexBase = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/"
)

// profiles gives the request and response profile of the Da Vinci
// operations: PAS submission and inquiry, and the HRex member match.
var profiles = map[string][2]string{
	"Claim/$submit":         {pasBase + "profile-pas-request-bundle", pasBase + "profile-pas-response-bundle"},
	"Claim/$inquire":        {pasBase + "profile-pas-inquiry-request-bundle", pasBase + "profile-pas-inquiry-response-bundle"},
	"Patient/$member-match": {hrexBase + "hrex-parameters-member-match-in", hrexBase + "hrex-parameters-member-match-out"},
}

// DefaultPASVersions are the PAS versions accepted when none are
// configured, newest last.
var DefaultPASVersions = []string{"2.0.1", "2.2.1"}

// Checker validates bodies. It is safe for concurrent use.
type Checker struct {
	// versions contains one validator per PAS version, newest last, each
	// resolving unversioned PAS profile URLs to its version.
	versions []*validate.Validator
	// names contains the PAS version of each validator, in the same order.
	names []string
}

// UncheckedProfileDomains lists URL prefixes of profiles that a body may
// declare although no shipped package defines them. The Subscriptions
// Backport profiles are declared by the PAS Subscription workflow in both
// directions (Subscription, notification Bundle, SubscriptionStatus).
//
// NOTE: the Backport package is not shipped, so only the R4 core and the
// checks of internal/subscriptions and internal/ehrsim apply to those
// resources.
var UncheckedProfileDomains = []string{
	"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/",
}

// Options configures a Checker.
type Options struct {
	// PASVersions are the PAS versions accepted, newest last. Empty means
	// DefaultPASVersions.
	PASVersions []string
	// WarnUnknownProfiles makes a meta.profile that is not loaded a
	// warning, so the body passes unchecked against it. By default it is
	// an error.
	WarnUnknownProfiles bool
}

// New loads the embedded FHIR packages once per PAS version, with the
// default Options otherwise.
func New(pasVersions []string) (*Checker, error) {
	return NewWithOptions(Options{PASVersions: pasVersions})
}

// NewWithOptions loads the embedded FHIR packages once per PAS version.
func NewWithOptions(opts Options) (*Checker, error) {
	pasVersions := opts.PASVersions
	if len(pasVersions) == 0 {
		pasVersions = DefaultPASVersions
	}
	c := &Checker{}
	for _, v := range pasVersions {
		val, err := validate.New(validate.Options{
			Context:                 []string{"hl7.fhir.us.davinci-pas#" + v},
			RejectUnknownProfiles:   !opts.WarnUnknownProfiles,
			UncheckedProfileDomains: UncheckedProfileDomains,
		})
		if err != nil {
			return nil, fmt.Errorf("strict: PAS %s: %w", v, err)
		}
		c.versions = append(c.versions, val)
		c.names = append(c.names, v)
	}
	return c, nil
}

// CheckRequest validates the body of a request performing interaction
// (in allowlist syntax, such as Claim/$submit). It returns nil when the body
// conforms, and otherwise the OperationOutcome to send.
func (c *Checker) CheckRequest(interaction string, body []byte) (*outcome.OperationOutcome, error) {
	return c.check(body, profiles[interaction][0])
}

// CheckResponse validates an upstream response body of interaction.
func (c *Checker) CheckResponse(interaction string, body []byte) (*outcome.OperationOutcome, error) {
	return c.check(body, profiles[interaction][1])
}

// RequiresResponseBody reports whether interaction has a response
// profile, so that a successful response without a body does not conform.
func (c *Checker) RequiresResponseBody(interaction string) bool {
	_, ok := profiles[interaction]
	return ok
}

// profileOperationOutcome is the R4 core definition of OperationOutcome.
const profileOperationOutcome = "http://hl7.org/fhir/StructureDefinition/OperationOutcome"

// CheckErrorResponse validates the body of an upstream response whose
// status is not 2xx. FHIR servers return errors as an OperationOutcome,
// so any other resource is rejected, whatever the interaction.
func (c *Checker) CheckErrorResponse(body []byte) (*outcome.OperationOutcome, error) {
	return c.check(body, profileOperationOutcome)
}

// check accepts body if it conforms under any PAS version, and otherwise
// reports the version with the fewest errors, the one the sender most
// likely meant. A body without an interaction profile is also tried under
// every version, because its entries may declare unversioned PAS profiles,
// as a notification about a PAS 2.0.1 request does.
//
// A body that declares its PAS version is checked under that version
// alone, which spares a second validation when it fails the newest one.
// The verdicts come from validate.Check, which builds no warnings or
// notes. A refused body is validated again in full, so that the
// OperationOutcome the sender gets carries them too.
func (c *Checker) check(body []byte, profile string) (*outcome.OperationOutcome, error) {
	if i := c.declaredVersion(body); i >= 0 {
		res, err := c.validate(i, body, profile, true)
		if err != nil || res.Valid() {
			return nil, err
		}
		return c.outcome(i, body, profile)
	}
	best, bestErrors := -1, -1
	for i := len(c.versions) - 1; i >= 0; i-- {
		res, err := c.validate(i, body, profile, true)
		if err != nil {
			return nil, err
		}
		if res.Valid() {
			return nil, nil
		}
		if n := countErrors(res); bestErrors < 0 || n < bestErrors {
			best, bestErrors = i, n
		}
	}
	return c.outcome(best, body, profile)
}

// outcome validates a refused body in full under version i.
func (c *Checker) outcome(i int, body []byte, profile string) (*outcome.OperationOutcome, error) {
	res, err := c.validate(i, body, profile, false)
	if err != nil {
		return nil, err
	}
	return res.OperationOutcome(), nil
}

// validate checks body under version i, against profile when it is set,
// for the verdict and errors only when errorsOnly is set.
func (c *Checker) validate(i int, body []byte, profile string, errorsOnly bool) (*validate.Result, error) {
	run := c.versions[i].Validate
	if errorsOnly {
		run = c.versions[i].Check
	}
	var profiles []string
	if profile != "" {
		profiles = []string{profile}
	}
	res, err := run(body, profiles...)
	if err != nil {
		return nil, fmt.Errorf("strict: %w", err)
	}
	return res, nil
}

func countErrors(res *validate.Result) int {
	n := 0
	for _, is := range res.Issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			n++
		}
	}
	return n
}
