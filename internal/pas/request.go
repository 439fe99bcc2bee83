package pas

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

type claimJSON struct {
	ResourceType string           `json:"resourceType"`
	Meta         metaJSON         `json:"meta"`
	Contained    []headerJSON     `json:"contained"`
	Identifier   []jsontext.Value `json:"identifier"`
	Type         jsontext.Value   `json:"type"`
	Use          string           `json:"use"`
	Patient      jsontext.Value   `json:"patient"`
	Insurer      jsontext.Value   `json:"insurer"`
	Provider     jsontext.Value   `json:"provider"`
	Priority     jsontext.Value   `json:"priority"`
	Related      []relatedJSON    `json:"related"`
	Insurance    []jsontext.Value `json:"insurance"`
	Item         []itemJSON       `json:"item"`
}

type relatedJSON struct {
	Claim        jsontext.Value `json:"claim"`
	Relationship codeableJSON   `json:"relationship"`
}

type insuranceJSON struct {
	Coverage jsontext.Value `json:"coverage"`
}

type codeableJSON struct {
	Coding []Coding `json:"coding"`
}

type referenceJSON struct {
	Reference string `json:"reference"`
}

// ParseRequest parses a PAS $submit request Bundle. body must already have
// passed the strict JSON intake (fhirjson.CheckObject). A Bundle that
// declares the PAS inquiry profiles is rejected; one that declares no PAS
// profile is accepted.
//
// Every error is a *BundleError wrapping ErrInvalid or ErrBusinessRule.
// The Request's raw JSON elements are subslices of body, so the caller
// must not modify body while it uses the Request.
func ParseRequest(body []byte) (*Request, error) {
	return parseClaimBundle(body, KindSubmit)
}

// ParseInquiry parses a PAS $inquire Bundle: like ParseRequest, but the
// Claim may have no items and no insurance, and a Bundle that declares the
// $submit profiles is rejected. As with ParseRequest, the Request refers
// to body's bytes.
func ParseInquiry(body []byte) (*Request, error) {
	return parseClaimBundle(body, KindInquiry)
}

func parseClaimBundle(body []byte, want Kind) (*Request, error) {
	b, ix, err := decodeBundle(body)
	if err != nil {
		return nil, err
	}
	if !present(b.Identifier) {
		return nil, invalid("Bundle.identifier", "missing")
	}
	if err := checkShape(b.Identifier, &Identifier{}, "Bundle.identifier"); err != nil {
		return nil, err
	}
	if b.Timestamp == "" {
		return nil, invalid("Bundle.timestamp", "missing")
	}

	// The Claim is the first entry.
	claimEntry := &ix.entries[0]
	at := claimEntry.Path()
	if claimEntry.Type != "Claim" {
		return nil, invalid(at, "the first entry must be a Claim")
	}
	var c claimJSON
	if err := unmarshalAliasing(claimEntry.Resource, &c); err != nil {
		return nil, decodeError(at, err)
	}
	if err := checkKind(want, b.Meta.Profile, c.Meta.Profile, at); err != nil {
		return nil, err
	}

	req := &Request{
		Kind:             want,
		BundleIdentifier: b.Identifier,
		Entries:          ix.entries,
		Claim:            claimEntry,
		claimType:        c.Type,
		priority:         c.Priority,
		insurance:        c.Insurance,
		index:            ix,
	}
	steps := []func(*Request, *claimJSON, string) error{
		parseUse, parseIdentifiers, parseParties, parseCoverage, parseItems, parseRelated, checkReferences,
	}
	for _, step := range steps {
		if err := step(req, &c, at); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// checkKind rejects a Bundle whose PAS profiles declare it for the other
// operation. The Bundle profile decides when present, because
// Inferno's inquiry fixture wraps a Claim that declares the submit
// profile in an inquiry Bundle.
func checkKind(want Kind, bundleProfiles, claimProfiles []string, at string) error {
	declared, where := KindUnknown, "Bundle.meta.profile"
	switch {
	case hasProfile(bundleProfiles, ProfileInquiryRequestBundle):
		declared = KindInquiry
	case hasProfile(bundleProfiles, ProfileRequestBundle):
		declared = KindSubmit
	case hasProfile(claimProfiles, ProfileClaimInquiry):
		declared, where = KindInquiry, at+".meta.profile"
	case hasProfile(claimProfiles, ProfileClaim, ProfileClaimUpdate):
		declared, where = KindSubmit, at+".meta.profile"
	}
	switch {
	case declared == KindInquiry && want == KindSubmit:
		return invalid(where, "declares a PAS inquiry profile; send inquiries to Claim/$inquire")
	case declared == KindSubmit && want == KindInquiry:
		return invalid(where, "declares a PAS request profile; send requests to Claim/$submit")
	}
	return nil
}

func parseUse(_ *Request, c *claimJSON, at string) error {
	switch c.Use {
	case "preauthorization":
		return nil
	case "":
		return invalid(at+".use", "missing")
	}
	return businessRule(at+".use", "must be preauthorization; claims and predeterminations are not handled here")
}

func parseIdentifiers(req *Request, c *claimJSON, at string) error {
	for i, raw := range c.Identifier {
		var id Identifier
		if err := json.Unmarshal(raw, &id); err != nil {
			return decodeError(at+".identifier["+itoa(i)+"]", err)
		}
		if !id.complete() {
			continue
		}
		if len(req.Identifiers) == 0 {
			req.keyRaw = raw
		}
		req.Identifiers = append(req.Identifiers, id)
	}
	req.RawIdentifiers = c.Identifier
	if len(req.Identifiers) == 0 {
		return invalid(at+".identifier", "missing: the Claim needs an identifier with system and value")
	}
	if !present(c.Type) {
		return invalid(at+".type", "missing")
	}
	if err := checkShape(c.Type, &codeableJSON{}, at+".type"); err != nil {
		return err
	}
	return checkShape(c.Priority, &codeableJSON{}, at+".priority")
}

// checkShape decodes an optional element that is copied verbatim into
// new resources, so that a value of the wrong JSON type is rejected
// instead of copied.
func checkShape(raw jsontext.Value, into any, path string) error {
	if !present(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return decodeError(path, err)
	}
	return nil
}

func parseParties(req *Request, c *claimJSON, at string) error {
	var err error
	if req.Patient, err = resolveParty(req.index, c.Patient, at+".patient", "Patient"); err != nil {
		return err
	}
	if req.Insurer, err = resolveParty(req.index, c.Insurer, at+".insurer", "Organization"); err != nil {
		return err
	}
	if req.Provider, err = resolveParty(req.index, c.Provider, at+".provider", "Organization", "PractitionerRole", "Practitioner"); err != nil {
		return err
	}

	// The payer recognises the same patient and provider by identifier.
	if len(req.Patient.Identifiers) == 0 {
		return invalid(req.Patient.Entry.Path()+".identifier", "the patient has no identifier with system and value")
	}
	if len(req.Provider.Identifiers) == 0 {
		return invalid(req.Provider.Entry.Path()+".identifier", "the provider has no identifier with system and value")
	}
	return nil
}

func parseCoverage(req *Request, c *claimJSON, at string) error {
	for i, raw := range c.Insurance {
		var ins insuranceJSON
		if err := unmarshalAliasing(raw, &ins); err != nil {
			return decodeError(at+".insurance["+itoa(i)+"]", err)
		}
		cov, err := resolveParty(req.index, ins.Coverage, at+".insurance["+itoa(i)+"].coverage", "Coverage")
		if err != nil {
			return err
		}
		req.Coverage = append(req.Coverage, cov)
	}
	if len(req.Coverage) == 0 && req.Kind == KindSubmit {
		return invalid(at+".insurance", "missing: the Claim names no Coverage")
	}
	return nil
}

func parseRelated(req *Request, c *claimJSON, at string) error {
	for i, rel := range c.Related {
		if !isPrior(rel.Relationship) || !present(rel.Claim) {
			continue
		}
		path := at + ".related[" + itoa(i) + "].claim"
		prior, err := resolveParty(req.index, rel.Claim, path, "Claim")
		if err != nil {
			return err
		}
		if prior.Entry.Index == 0 {
			return invalid(path, "a Claim cannot update itself")
		}
		if len(prior.Identifiers) == 0 {
			return invalid(prior.Entry.Path()+".identifier", "the prior Claim has no identifier with system and value")
		}
		req.Prior = append(req.Prior, prior.Identifiers...)
	}
	return nil
}

func isPrior(cc codeableJSON) bool {
	for _, c := range cc.Coding {
		if c.Code == "prior" && (c.System == "" || c.System == systemRelatedClaim) {
			return true
		}
	}
	return false
}

// checkReferences requires every reference inside the Claim to resolve:
// PAS requires a request Bundle to carry every resource its Claim points
// to. Local references ("#id") must name a contained resource.
func checkReferences(req *Request, c *claimJSON, at string) error {
	refs, err := references(req.Claim.Resource)
	if err != nil {
		return invalid(at, "unreadable JSON")
	}
	for _, r := range refs {
		if r.value != "" && r.value[0] == '#' {
			if !containsID(c.Contained, r.value[1:]) {
				return invalid(pointerPath(at, r.at), "the local reference names no contained resource")
			}
			continue
		}
		if _, ok := req.index.resolve(0, r.value); !ok {
			return invalid(pointerPath(at, r.at), "the reference does not resolve to an entry of the Bundle")
		}
	}
	return nil
}

func containsID(contained []headerJSON, id string) bool {
	for _, h := range contained {
		if h.ID == id {
			return true
		}
	}
	return false
}

// resolveParty resolves a required Reference written in the Claim and
// checks the target's resource type.
func resolveParty(ix *bundleIndex, raw jsontext.Value, path string, types ...string) (*Party, error) {
	if !present(raw) {
		return nil, invalid(path, "missing")
	}
	var ref referenceJSON
	if err := json.Unmarshal(raw, &ref); err != nil {
		return nil, decodeError(path, err)
	}
	if ref.Reference == "" {
		return nil, invalid(path+".reference", "missing: the target must be an entry of the Bundle")
	}
	target, ok := ix.resolve(0, ref.Reference)
	if !ok {
		return nil, invalid(path, "the reference does not resolve to an entry of the Bundle")
	}
	if !oneOf(target.Type, types) {
		return nil, invalid(path, "the reference points to a resource of the wrong type")
	}
	return &Party{Reference: raw, Entry: target, Identifiers: partyIdentifiers(ix, target)}, nil
}

func oneOf(s string, list []string) bool {
	for _, v := range list {
		if s == v {
			return true
		}
	}
	return false
}
