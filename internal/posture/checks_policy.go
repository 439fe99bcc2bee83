package posture

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/dfd"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/policy"
	"github.com/gatehouse-health/gatehouse/internal/scope"
)

// bulkOperations read whole records or populations in one request.
var bulkOperations = []string{"everything", "export", "graphql"}

// workflowOperations are the operations of the Da Vinci PAS and HRex
// member-match workflows, the only ones a partner needs. $status and
// $events of the Subscriptions Backport read a Subscription's
// notifications, which PAS partners use to catch up after an outage.
var workflowOperations = []string{"Claim/$submit", "Claim/$inquire", "Patient/$member-match",
	"Subscription/[id]/$status", "Subscription/[id]/$events"}

// subscriptionType is the one type a partner creates directly: PAS
// notifications need a Subscription, and the policy checks each one against
// the offered topics, the filter criteria and the partner's own FHIR base.
const subscriptionType = "Subscription"

// writeKinds are the interactions that create or change resources.
var writeKinds = []fhirreq.Kind{fhirreq.Create, fhirreq.Update, fhirreq.Patch, fhirreq.Delete, fhirreq.BatchTransaction}

var policyChecks = []Check{
	{
		ID: "GH-SCO-001", Control: "C1", Severity: High, Mode: ModeConfig,
		Title:       "No wildcard scopes",
		Rationale:   "A scope on resource \"*\" (system/*.read, system/*.*) grants every resource type, present and future, which is the scope creep that leaks whole patient records.",
		Remediation: "Replace each wildcard scope in partners[].scopes with the types the partner's workflow needs, such as system/Claim.rs and system/Claim.$submit.",
		config:      checkWildcardScopes,
	},
	{
		ID: "GH-SCO-002", Control: "C7", Severity: High, Mode: ModeConfig,
		Title:       "No create, update or delete scopes, above all on clinical or member data",
		Rationale:   "Partners write only through operations such as Claim/$submit; a write scope (system/Observation.cruds, system/Patient.write) would let a partner inject or alter records in the payer's systems.",
		Remediation: "Remove the c, u and d letters (v1: write or *) from partners[].scopes and grant the operation the workflow needs instead. A partner that receives PAS notifications needs only system/Subscription.cr.",
		config:      checkWriteScopes,
	},
	{
		ID: "GH-SCO-003", Control: "C1", Severity: Low, Mode: ModeConfig,
		Title:       "Every registered scope is valid",
		Rationale:   "A scope that does not parse is never granted, so the registration does not say what the partner can do and the mistake hides a missing or wrong grant. Loading a configuration file rejects such scopes; this check covers configurations built in code.",
		Remediation: "Write scopes as system/Type.perms (SMART v2 letters cruds, or v1 read/write) or as an operation grant such as system/Claim.$submit.",
		config:      checkScopeSyntax,
	},
	{
		ID: "GH-POL-001", Control: "C1", Severity: High, Mode: ModeConfig,
		Title:       "No $everything, $export, GraphQL, history or system search grants",
		Rationale:   "These interactions return whole patient records, populations, every past version or several types in one call; they are the fastest way to exfiltrate PHI with valid credentials. A search at the base (search-system) is reported one level below history at the base, because the gateway requires each _type to have its own Type.search entry, so it opens no type a type-level search could not reach.",
		Remediation: "Remove the entry from partners[].interactions. Grant a bulk interaction only to a partner with a documented need, and review it with the security team.",
		config:      checkBulkInteractions,
	},
	{
		ID: "GH-POL-002", Control: "C10", Severity: High, Mode: ModeConfig,
		Title:       "Writes only through the prior-authorization workflows",
		Rationale:   "Decisions and statuses must change only through the operations built for them; a create, update, patch, delete or batch grant lets a partner write records that bypass those workflows.",
		Remediation: "Limit partners[].interactions to capabilities, reads and searches, Claim/$submit, Claim/$inquire, Patient/$member-match, and for PAS notifications Subscription.create with Subscription/[id]/$status and $events.",
		config:      checkWriteInteractions,
	},
	{
		ID: "GH-POL-003", Control: "C1", Severity: Medium, Mode: ModeConfig,
		Title:       "Searches cannot reach other resources through _has, chains or _include:iterate",
		Rationale:   "Reverse chaining, chained parameters and iterated includes turn a search on one allowed type into a read of types the partner was never granted.",
		Remediation: "Remove the has, chain and include-iterate entries from partners[].grants unless the partner's workflow needs them; without a grant the gateway refuses these parameters.",
		config:      checkSearchReach,
	},
	{
		ID: "GH-POL-004", Control: "C9", Severity: High, Mode: ModeConfig,
		Title:       "Strict profile validation on for every partner and direction",
		Rationale:   "Without profile validation, malformed or forged resources (wrong identifiers, missing required elements, broken invariants) reach the payer's engine or the EHR.",
		Remediation: "Keep strict.mode at enforce (the default), and remove partners[].strict: false and the strict.skip and partners[].strict_skip entries once the partner's payloads conform. Leave strict.unknown_profiles and partners[].strict_unknown_profiles at reject and load the packages that partners declare.",
		config:      checkStrictMode,
	},
	{
		ID: "GH-POL-005", Control: "C7", Severity: Medium, Mode: ModeConfig,
		Title:       "Every partner with interactions has a role for them",
		Rationale:   "The gateway allows a request only when the partner has a read or write role on the data class of the resources it touches. A partner with interactions but no roles gets 403 (policy.role) on every request except capabilities, so the registration looks complete but the link does not work.",
		Remediation: "Add partners[].roles with the data classes the partner's interactions touch, such as claims: read for Claim/$submit and Claim/$inquire, or remove the interactions.",
		config:      checkRolesForInteractions,
	},
}

// parsedScope is one scope of one partner with its key path.
type parsedScope struct {
	partner string
	key     string
	raw     string
	scope   scope.Scope
	err     error
}

func (t *Target) scopes() []parsedScope {
	var out []parsedScope
	for i, p := range t.Config.Partners {
		for j, s := range p.Scopes {
			sc, err := scope.Parse(s, scope.Options{AllowWildcard: true})
			out = append(out, parsedScope{p.ID, fmt.Sprintf("partners[%d].scopes[%d]", i, j), s, sc, err})
		}
	}
	return out
}

func checkWildcardScopes(t *Target) []result {
	var out []result
	for _, s := range t.scopes() {
		if s.err == nil && s.scope.Type == scope.Wildcard {
			out = append(out, fail(s.key, "partner %q: %s grants every resource type", s.partner, s.raw))
		}
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "no partner holds a wildcard scope"))
	}
	return out
}

func checkWriteScopes(t *Target) []result {
	const write = scope.Create | scope.Update | scope.Delete
	var out []result
	for _, s := range t.scopes() {
		if s.err != nil || s.scope.Perms&write == 0 {
			continue
		}
		if s.scope.Type == subscriptionType && s.scope.Perms&(scope.Update|scope.Delete) == 0 {
			continue
		}
		class := "every type"
		if s.scope.Type != scope.Wildcard {
			class = "a type in no data class, which the policy refuses"
			if c, ok := dfd.ClassOfType(s.scope.Type); ok {
				class = string(c) + " data"
			}
		}
		msg := fmt.Sprintf("partner %q: %s grants %s on %s", s.partner, s.raw, s.scope.Perms, class)
		if patientData(s.scope.Type) {
			out = append(out, fail(s.key, "%s", msg))
		} else {
			out = append(out, failAt(Medium, s.key, "%s", msg))
		}
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "no scope grants create, update or delete"))
	}
	return out
}

// patientData reports whether typ contains clinical or member data; the
// wildcard covers both.
func patientData(typ string) bool {
	if typ == scope.Wildcard {
		return true
	}
	c, _ := dfd.ClassOfType(typ)
	return c == dfd.Clinical || c == dfd.Member
}

func checkScopeSyntax(t *Target) []result {
	var out []result
	for _, s := range t.scopes() {
		if s.err != nil {
			out = append(out, fail(s.key, "partner %q: %q is not a valid scope: %v", s.partner, s.raw, s.err))
		}
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "every registered scope is valid"))
	}
	return out
}

// interaction is one allowlist entry of one partner, parsed.
type interaction struct {
	partner  int
	key, raw string
	patterns []fhirreq.Pattern
}

func (t *Target) interactions() []interaction {
	var out []interaction
	for i, p := range t.Config.Partners {
		for j, s := range p.Interactions {
			// Load has validated every entry, so a parse error leaves the
			// entry without patterns and no check counts it.
			ps, _ := fhirreq.ParsePattern(s)
			out = append(out, interaction{i, fmt.Sprintf("partners[%d].interactions[%d]", i, j), s, ps})
		}
	}
	return out
}

func (t *Target) partnerID(i int) string { return t.Config.Partners[i].ID }

func checkBulkInteractions(t *Target) []result {
	var out []result
	for _, in := range t.interactions() {
		if len(in.patterns) == 0 {
			continue
		}
		// Every pattern of one entry has the same kind family: history
		// expands to instance and type history.
		p := in.patterns[0]
		switch {
		case slices.Contains(bulkOperations, p.Operation):
			out = append(out, fail(in.key, "partner %q may call %s", t.partnerID(in.partner), in.raw))
		case p.Kind == fhirreq.HistorySystem:
			out = append(out, fail(in.key, "partner %q may read the history of every type", t.partnerID(in.partner)))
		case p.Kind == fhirreq.SearchSystem:
			out = append(out, failAt(Medium, in.key, "partner %q may search several types in one call at the FHIR base", t.partnerID(in.partner)))
		case p.Kind == fhirreq.HistoryInstance || p.Kind == fhirreq.HistoryType:
			out = append(out, failAt(Medium, in.key, "partner %q may read the history of %s", t.partnerID(in.partner), p.Type))
		}
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "no partner may call $everything, $export, $graphql, history or search at the base"))
	}
	return out
}

func checkWriteInteractions(t *Target) []result {
	var out []result
	for _, in := range t.interactions() {
		if len(in.patterns) == 0 {
			continue
		}
		p := in.patterns[0]
		id := t.partnerID(in.partner)
		switch {
		case p.Kind == fhirreq.Create && p.Type == subscriptionType:
			continue
		case slices.Contains(writeKinds, p.Kind):
			out = append(out, fail(in.key, "partner %q may %s", id, describeWrite(p)))
		case isOperation(p.Kind) && !slices.Contains(workflowOperations, p.String()) && !slices.Contains(bulkOperations, p.Operation):
			out = append(out, failAt(Medium, in.key, "partner %q may call %s, which is not a prior-authorization or member-match operation and may change data", id, in.raw))
		}
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "partners write only through Claim/$submit and PAS Subscriptions"))
	}
	return out
}

func isOperation(k fhirreq.Kind) bool {
	return k == fhirreq.OperationSystem || k == fhirreq.OperationType || k == fhirreq.OperationInstance
}

func describeWrite(p fhirreq.Pattern) string {
	if p.Kind == fhirreq.BatchTransaction {
		return "post batches and transactions of any type"
	}
	return fmt.Sprintf("%s %s resources", p.Kind, p.Type)
}

func checkSearchReach(t *Target) []result {
	var out []result
	for _, in := range t.interactions() {
		if len(in.patterns) == 0 || in.patterns[0].Kind != fhirreq.SearchType {
			continue
		}
		id, typ := t.partnerID(in.partner), in.patterns[0].Type
		if !t.settings.searchRestricted {
			out = append(out, fail(in.key, "partner %q may search %s, and this version forwards _has, chained parameters and _include:iterate without checking them", id, typ))
			continue
		}
		if grants := t.settings.searchGrants[in.partner]; len(grants) > 0 {
			out = append(out, failAt(High, in.key, "partner %q may search %s with %s", id, typ, strings.Join(grants, ", ")))
			continue
		}
		out = append(out, pass(in.key, "partner %q may search %s without _has, chains or _include:iterate", id, typ))
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "no partner may search"))
	}
	return out
}

func checkRolesForInteractions(t *Target) []result {
	var out []result
	for i, p := range t.Config.Partners {
		entries := nonCapabilityInteractions(p.Interactions)
		if len(entries) == 0 {
			continue
		}
		key := fmt.Sprintf("partners[%d].roles", i)
		// Load has validated the roles, so an error here comes only from a
		// configuration built in code; it is treated as no roles.
		registered, _ := policy.NewPartner(config.PartnerPolicy(p))
		if registered == nil || !hasAnyRole(registered) {
			out = append(out, fail(key, "partner %q may call %s but has no read or write role, so the gateway rejects every request except capabilities with 403 (policy.role)", p.ID, strings.Join(entries, ", ")))
			continue
		}
		out = append(out, missingReadRoles(key, p, registered)...)
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "every partner with interactions has a role"))
	}
	return out
}

// nonCapabilityInteractions returns the interactions that need a role:
// all but capabilities, which every partner may call.
func nonCapabilityInteractions(list []string) []string {
	var out []string
	for _, s := range list {
		ps, err := fhirreq.ParsePattern(s)
		if err != nil || len(ps) == 0 || ps[0].Kind != fhirreq.Capabilities {
			out = append(out, s)
		}
	}
	return out
}

func hasAnyRole(p *policy.Partner) bool {
	for _, c := range policy.Classes() {
		if p.Role(c) >= policy.Read {
			return true
		}
	}
	return false
}

// missingReadRoles reports each read or search entry whose resource type
// is in a data class the partner has no role on, because the gateway rejects those
// requests. Operations are not checked, because the class they need
// depends on what they return.
func missingReadRoles(key string, p config.Partner, registered *policy.Partner) []result {
	var out []result
	for _, s := range p.Interactions {
		ps, err := fhirreq.ParsePattern(s)
		if err != nil || len(ps) == 0 {
			continue
		}
		switch ps[0].Kind {
		case fhirreq.Read, fhirreq.VRead, fhirreq.SearchType:
		default:
			continue
		}
		c, ok := policy.ClassOf(ps[0].Type)
		if ok && registered.Role(c) < policy.Read {
			out = append(out, fail(key, "partner %q may call %s but has no read role on the %s data class, so the gateway rejects it with 403 (policy.role)", p.ID, s, c))
		}
	}
	return out
}

func checkStrictMode(t *Target) []result {
	if t.settings.strictMode == nil {
		return []result{notConfigured("strict profile validation is not configured: this version checks strict JSON and resource types, and has no key to turn on profile validation")}
	}
	var out []result
	for _, sw := range t.settings.strictMode {
		if !sw.on {
			out = append(out, fail(sw.key, "strict mode is off for %s", sw.where))
		}
	}
	if t.Config != nil && t.Config.Strict.UnknownProfiles == "warn" {
		out = append(out, failAt(Medium, "strict.unknown_profiles",
			"a resource declaring a profile no loaded package defines passes unchecked against that profile"))
	}
	if t.Config != nil {
		for i, p := range t.Config.Partners {
			if p.StrictUnknownProfiles == "warn" {
				out = append(out, failAt(Medium, fmt.Sprintf("partners[%d].strict_unknown_profiles", i),
					"a resource from or to partner %q declaring a profile no loaded package defines passes unchecked against that profile", p.ID))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, pass("", "strict mode is on everywhere"))
	}
	return out
}
