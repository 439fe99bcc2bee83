package pas

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

type itemJSON struct {
	Sequence          int              `json:"sequence"`
	Extension         []jsontext.Value `json:"extension"`
	ModifierExtension []extensionJSON  `json:"modifierExtension"`
	Category          jsontext.Value   `json:"category"`
	ProductOrService  jsontext.Value   `json:"productOrService"`
}

type extensionJSON struct {
	URL                  string         `json:"url"`
	ValueBoolean         *bool          `json:"valueBoolean"`
	ValueCodeableConcept *codeableJSON  `json:"valueCodeableConcept"`
	ValueIdentifier      jsontext.Value `json:"valueIdentifier"`
}

// parseItems reads Claim.item. A $submit Claim needs at least one item;
// every item needs a unique positive sequence and a productOrService.
func parseItems(req *Request, c *claimJSON, at string) error {
	if len(c.Item) == 0 && req.Kind == KindSubmit {
		return invalid(at+".item", "missing: the Claim requests no items")
	}
	seen := map[int]bool{}
	for i, raw := range c.Item {
		path := at + ".item[" + itoa(i) + "]"
		item, err := parseItem(raw, path)
		if err != nil {
			return err
		}
		if seen[item.Sequence] {
			return invalid(path+".sequence", "the same sequence appears on an earlier item")
		}
		seen[item.Sequence] = true
		req.Items = append(req.Items, item)
	}
	return nil
}

func parseItem(raw itemJSON, path string) (Item, error) {
	if raw.Sequence < 1 {
		return Item{}, invalid(path+".sequence", "missing or not a positive integer")
	}
	if !present(raw.ProductOrService) {
		return Item{}, invalid(path+".productOrService", "missing")
	}
	var pos codeableJSON
	if err := json.Unmarshal(raw.ProductOrService, &pos); err != nil {
		return Item{}, decodeError(path+".productOrService", err)
	}
	if err := checkShape(raw.Category, &codeableJSON{}, path+".category"); err != nil {
		return Item{}, err
	}
	item := Item{
		Sequence:            raw.Sequence,
		ProductOrService:    pos.Coding,
		productOrServiceRaw: raw.ProductOrService,
		categoryRaw:         raw.Category,
	}

	for i, ext := range raw.Extension {
		if err := item.readExtension(ext, path+".extension["+itoa(i)+"]"); err != nil {
			return Item{}, err
		}
	}
	for _, mod := range raw.ModifierExtension {
		if mod.URL == ExtInfoCancelled && mod.ValueBoolean != nil && *mod.ValueBoolean {
			item.Cancelled = true
		}
	}
	if item.CertificationType == "3" {
		item.Cancelled = true
	}
	return item, nil
}

// readExtension keeps the item extensions the payer acts on or echoes.
func (item *Item) readExtension(raw jsontext.Value, path string) error {
	var ext extensionJSON
	if err := unmarshalAliasing(raw, &ext); err != nil {
		return decodeError(path, err)
	}
	switch ext.URL {
	case ExtItemTraceNumber:
		if err := checkShape(ext.ValueIdentifier, &Identifier{}, path+".valueIdentifier"); err != nil {
			return err
		}
		if present(ext.ValueIdentifier) {
			item.TraceNumbers = append(item.TraceNumbers, ext.ValueIdentifier)
		}
	case ExtCertificationType:
		item.certificationRaw = raw
		if ext.ValueCodeableConcept != nil {
			for _, c := range ext.ValueCodeableConcept.Coding {
				if c.System == SystemCertificationType || c.System == "" {
					item.CertificationType = c.Code
					break
				}
			}
		}
	case ExtServiceRequestType:
		item.requestTypeRaw = raw
	}
	return nil
}

// partyIdentifiers returns the complete identifiers of a resource. A
// PractitionerRole is keyed on the Organization it references, or when it
// names none, on its Practitioner. Its own identifiers are not used. That is
// the party the congruence check binds to the submitting partner, so the
// key the payer stores is the identifier the gateway verified.
func partyIdentifiers(ix *bundleIndex, e *Entry) []Identifier {
	var r struct {
		Identifier   []Identifier  `json:"identifier"`
		Practitioner referenceJSON `json:"practitioner"`
		Organization referenceJSON `json:"organization"`
	}
	if err := json.Unmarshal(e.Resource, &r); err != nil {
		// Some resources (Bundle, QuestionnaireResponse) have a single
		// identifier; none of them is a party.
		return nil
	}
	if e.Type == "PractitionerRole" {
		return roleIdentifiers(ix, e, r.Organization.Reference, r.Practitioner.Reference)
	}
	var ids []Identifier
	for _, id := range r.Identifier {
		if id.complete() {
			ids = append(ids, id)
		}
	}
	return ids
}

func roleIdentifiers(ix *bundleIndex, role *Entry, organization, practitioner string) []Identifier {
	ref := organization
	if ref == "" {
		ref = practitioner
	}
	target, ok := ix.resolve(role.Index, ref)
	if !ok || target.Type == "PractitionerRole" {
		return nil
	}
	return partyIdentifiers(ix, target)
}
