package congruence

import (
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

type referenceJSON struct {
	Reference  string          `json:"reference"`
	Identifier *identifierJSON `json:"identifier"`
}

type identifierJSON struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type claimJSON struct {
	Item []struct {
		Sequence int64 `json:"sequence"`
	} `json:"item"`
	Patient   *referenceJSON `json:"patient"`
	Provider  *referenceJSON `json:"provider"`
	Insurer   *referenceJSON `json:"insurer"`
	Insurance []struct {
		Coverage *referenceJSON `json:"coverage"`
	} `json:"insurance"`
}

type coverageJSON struct {
	Payor []*referenceJSON `json:"payor"`
}

// partyJSON reads the parts of Organization, Practitioner and
// PractitionerRole that identify them.
type partyJSON struct {
	Identifier   []identifierJSON `json:"identifier"`
	Organization *referenceJSON   `json:"organization"`
	Practitioner *referenceJSON   `json:"practitioner"`
}

// CheckClaimBundle applies the identity rules and then the PAS Bundle rules
// to a Claim/$submit or Claim/$inquire body parsed by fhirreq.ParseBundle.
func (c *Checker) CheckClaimBundle(id Identity, b *fhirreq.Bundle) *Mismatch {
	if m := c.CheckIdentity(id); m != nil {
		return m
	}
	ix := newIndex(b)
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.NestedBundle {
			return &Mismatch{Rule: "congruence.nested-bundle", Path: e.Path() + ".resource",
				Reason: e.Path() + ".resource is or contains a Bundle, which a PAS request may not nest"}
		}
	}
	for i := range b.Entries {
		var m *Mismatch
		switch b.Entries[i].ResourceType {
		case "Claim":
			m = c.checkClaim(id.Organization, ix, i)
		case "Coverage":
			m = c.checkCoverage(ix, i)
		}
		if m != nil {
			return m
		}
	}
	return nil
}

func resourcePath(i int) string { return "Bundle.entry[" + strconv.Itoa(i) + "].resource" }

func (c *Checker) checkClaim(org Identifier, ix *index, i int) *Mismatch {
	at := resourcePath(i)
	var claim claimJSON
	if err := json.Unmarshal(ix.entries[i].Resource, &claim); err != nil {
		return unreadable(at)
	}
	if m := checkProvider(org, ix, i, claim.Provider, at+".provider", "congruence.provider"); m != nil {
		return m
	}
	if m := c.checkPayer(ix, i, claim.Insurer, at+".insurer", "congruence.insurer"); m != nil {
		return m
	}
	// The payer acts on the beneficiary the Claim names. An identifier
	// alone, or a reference outside the Bundle, names a patient that
	// strict mode never checked against the beneficiary profile.
	if target, ok := ix.resolve(i, claim.Patient); !ok || ix.entries[target].ResourceType != "Patient" {
		return &Mismatch{Rule: "congruence.patient", Path: at + ".patient",
			Reason: at + ".patient does not resolve to a Patient entry of the Bundle"}
	}
	// Decisions come back per item, keyed by its sequence, so two items
	// with one sequence would let a decision be applied to either.
	seen := make(map[int64]bool, len(claim.Item))
	for k, item := range claim.Item {
		if seen[item.Sequence] {
			path := at + ".item[" + strconv.Itoa(k) + "].sequence"
			return &Mismatch{Rule: "congruence.item-sequence", Path: path,
				Reason: path + " repeats the sequence of an earlier item; each item of a Claim needs its own"}
		}
		seen[item.Sequence] = true
	}
	for k, ins := range claim.Insurance {
		path := at + ".insurance[" + strconv.Itoa(k) + "].coverage"
		target, ok := ix.resolve(i, ins.Coverage)
		if !ok || ix.entries[target].ResourceType != "Coverage" {
			return &Mismatch{Rule: "congruence.coverage", Path: path,
				Reason: path + " does not resolve to a Coverage entry of the Bundle"}
		}
	}
	return nil
}

func (c *Checker) checkCoverage(ix *index, i int) *Mismatch {
	at := resourcePath(i)
	var cov coverageJSON
	if err := json.Unmarshal(ix.entries[i].Resource, &cov); err != nil {
		return unreadable(at)
	}
	if len(cov.Payor) == 0 {
		return &Mismatch{Rule: "congruence.payor", Path: at + ".payor", Reason: at + ".payor is missing"}
	}
	for k, ref := range cov.Payor {
		if m := c.checkPayer(ix, i, ref, at+".payor["+strconv.Itoa(k)+"]", "congruence.payor"); m != nil {
			return m
		}
	}
	return nil
}

// checkPayer requires ref to resolve to an Organization carrying one of
// this payer's identifiers.
func (c *Checker) checkPayer(ix *index, from int, ref *referenceJSON, path, rule string) *Mismatch {
	wrong := &Mismatch{Rule: rule, Path: path, Reason: path + " does not identify this payer"}
	if ref != nil && ref.Identifier != nil && !c.isPayer([]Identifier{ref.Identifier.id()}) {
		return wrong
	}
	target, ok := ix.resolve(from, ref)
	if !ok {
		return unresolved(rule, path)
	}
	party, err := ix.party(target)
	if err != nil || ix.entries[target].ResourceType != "Organization" || !keyedTo(party.ids(), c.payerIDs...) {
		return wrong
	}
	return nil
}

// checkProvider requires a provider-side party, such as the Claim's
// provider, to resolve to the partner's organisation, directly or through
// a PractitionerRole. rule names the mismatch.
func checkProvider(org Identifier, ix *index, from int, ref *referenceJSON, path, rule string) *Mismatch {
	wrong := &Mismatch{Rule: rule, Path: path, Reason: path + " does not identify the partner's registered organisation"}
	if ref != nil && ref.Identifier != nil && ref.Identifier.id() != org {
		return wrong
	}
	target, ok := ix.resolve(from, ref)
	if !ok {
		return unresolved(rule, path)
	}
	party, err := ix.party(target)
	if err != nil {
		return unreadable(resourcePath(target))
	}
	switch ix.entries[target].ResourceType {
	case "Organization", "Practitioner":
		if keyedTo(party.ids(), org) {
			return nil
		}
		return wrong
	case "PractitionerRole":
		return roleProvider(org, ix, target, party, path, rule)
	}
	return &Mismatch{Rule: rule, Path: path,
		Reason: path + " must be an Organization, Practitioner or PractitionerRole entry"}
}

// roleProvider checks a PractitionerRole provider: its organization when it
// names one, else its practitioner, must carry the partner's identifier.
func roleProvider(org Identifier, ix *index, role int, party *partyJSON, claimPath, rule string) *Mismatch {
	ref, field, want := party.Organization, ".organization", "Organization"
	if ref == nil {
		ref, field, want = party.Practitioner, ".practitioner", "Practitioner"
	}
	path := resourcePath(role) + field
	wrong := &Mismatch{Rule: rule, Path: path,
		Reason: "the PractitionerRole that " + claimPath + " names belongs to another organisation than the partner's (" + path + ")"}
	if ref != nil && ref.Identifier != nil && ref.Identifier.id() != org {
		return wrong
	}
	target, ok := ix.resolve(role, ref)
	if !ok {
		return unresolved(rule, path)
	}
	p, err := ix.party(target)
	if err != nil || ix.entries[target].ResourceType != want || !keyedTo(p.ids(), org) {
		return wrong
	}
	return nil
}

// keyedTo reports whether a party is unambiguously one of want. The payer
// keys a party on its first identifier that has both system and value
// (pas.Party.Key), so that identifier must be one of want. Every other
// identifier in a system that want uses must be one of want too, so that
// no reader that picks another identifier finds a second party.
func keyedTo(ids []Identifier, want ...Identifier) bool {
	keyed := false
	for _, id := range ids {
		if id.System == "" || id.Value == "" {
			continue
		}
		if !keyed && !contains(want, id) {
			return false
		}
		keyed = true
		if inSystemOf(want, id.System) && !containsAlias(want, id) {
			return false
		}
	}
	return keyed
}

// containsAlias reports whether want holds id, with systems compared by
// systemKey.
func containsAlias(ids []Identifier, want Identifier) bool {
	key := systemKey(want.System)
	for _, id := range ids {
		if id.Value == want.Value && systemKey(id.System) == key {
			return true
		}
	}
	return false
}

func inSystemOf(ids []Identifier, system string) bool {
	key := systemKey(system)
	for _, id := range ids {
		if systemKey(id.System) == key {
			return true
		}
	}
	return false
}

// systemKey names the identifier system that a lenient reader may take
// system for: letter case and a trailing slash ignored, and the HL7 OID of
// the NPI system read as the NPI system. An identifier that such a reader
// would key in a system the party is checked in must match as well, so
// keyedTo compares systems by this key.
func systemKey(system string) string {
	s := strings.ToLower(strings.TrimRight(system, "/"))
	if s == npiOID {
		return NPISystem
	}
	return s
}

func unresolved(rule, path string) *Mismatch {
	return &Mismatch{Rule: rule, Path: path, Reason: path + " does not resolve to exactly one entry of the Bundle"}
}

func unreadable(path string) *Mismatch {
	return &Mismatch{Rule: "congruence.unreadable", Path: path, Reason: path + " could not be read as FHIR JSON"}
}

func (id *identifierJSON) id() Identifier { return Identifier{System: id.System, Value: id.Value} }

func (p *partyJSON) ids() []Identifier {
	out := make([]Identifier, 0, len(p.Identifier))
	for i := range p.Identifier {
		out = append(out, p.Identifier[i].id())
	}
	return out
}

// index resolves references between the entries of one Bundle. Full
// URLs are keyed by fhirreq.FoldFullURL, because a reader that ignores the
// case of a scheme or host, or a trailing slash, takes such variants for
// one resource, so the gateway cannot determine which entry it resolves.
type index struct {
	entries  []fhirreq.Entry
	byURL    map[string]int
	byTypeID map[string][]int
	dupURL   map[string]bool
}

func newIndex(b *fhirreq.Bundle) *index {
	ix := &index{entries: b.Entries, byURL: map[string]int{}, byTypeID: map[string][]int{}, dupURL: map[string]bool{}}
	for i, e := range b.Entries {
		if e.FullURL != "" {
			key := fhirreq.FoldFullURL(e.FullURL)
			if _, dup := ix.byURL[key]; dup {
				ix.dupURL[key] = true
			}
			ix.byURL[key] = i
		}
		if e.ResourceType != "" && e.ResourceID != "" {
			key := e.ResourceType + "/" + e.ResourceID
			ix.byTypeID[key] = append(ix.byTypeID[key], i)
		}
	}
	return ix
}

// byFullURL returns the entry whose fullUrl is url. A url that names
// several entries once folded, or an entry only in another spelling,
// resolves to none.
func (ix *index) byFullURL(url string) (int, bool) {
	key := fhirreq.FoldFullURL(url)
	i, ok := ix.byURL[key]
	if !ok || ix.dupURL[key] || ix.entries[i].FullURL != url {
		return 0, false
	}
	return i, true
}

func (ix *index) party(i int) (*partyJSON, error) {
	var p partyJSON
	if err := json.Unmarshal(ix.entries[i].Resource, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// resolve finds the one entry ref points to from entry from.
func (ix *index) resolve(from int, ref *referenceJSON) (int, bool) {
	if ref == nil || ref.Reference == "" {
		return 0, false
	}
	r := ref.Reference
	if strings.Contains(r, ":") {
		return ix.byFullURL(r)
	}
	// A relative reference never matches a fullUrl as written. FHIR R4
	// resolves it against the base of the referring entry's fullUrl, and
	// requires an absolute fullUrl. So an entry with the relative fullUrl
	// "Organization/1" is what a literal reader takes for "Organization/1",
	// while a reader that follows FHIR takes the entry under the base.
	if strings.HasPrefix(r, "#") {
		return 0, false
	}
	typeID, ok := relativeTypeID(r)
	if !ok {
		return 0, false
	}
	fullURL := ix.entries[from].FullURL
	if base := restBase(fullURL); base != "" {
		return ix.byFullURL(base + typeID)
	}
	if fullURL != "" && !strings.HasPrefix(fullURL, "urn:") {
		// A fullUrl that is neither a RESTful http(s) URL nor a urn has no
		// base the gateway can be sure of. The built-in payer takes the
		// path before the last two segments as the base, and another reader
		// may ignore the case of the scheme ("HTTP://"). Either finds the
		// entry under that URL, which may be another party than the one
		// found by type and id.
		return 0, false
	}
	if found := ix.byTypeID[typeID]; len(found) == 1 {
		return found[0], true
	}
	return 0, false
}

// relativeTypeID returns "Type/id" for "Type/id" or "Type/id/_history/v".
func relativeTypeID(ref string) (string, bool) {
	parts := strings.Split(ref, "/")
	if len(parts) == 4 && parts[2] == "_history" && parts[3] != "" {
		parts = parts[:2]
	}
	if len(parts) != 2 || !fhirreq.IsResourceType(parts[0]) || parts[1] == "" {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

func isHTTP(fullURL string) bool {
	return strings.HasPrefix(fullURL, "http://") || strings.HasPrefix(fullURL, "https://")
}

// restBase returns "http://host/fhir/" for a fullUrl such as
// "http://host/fhir/Claim/123", or "" when the fullUrl has no RESTful base.
func restBase(fullURL string) string {
	if !isHTTP(fullURL) {
		return ""
	}
	idSlash := strings.LastIndexByte(fullURL, '/')
	if idSlash <= 0 {
		return ""
	}
	typeSlash := strings.LastIndexByte(fullURL[:idSlash], '/')
	if typeSlash < 0 || !fhirreq.IsResourceType(fullURL[typeSlash+1:idSlash]) {
		return ""
	}
	return fullURL[:typeSlash+1]
}
