package policy

import (
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// decideBatch decides POST [base]: a batch or transaction Bundle is allowed
// only if every entry, decided on its own by the same rules, is allowed.
// The first refused entry decides, with its location in the Reason.
func (e *Engine) decideBatch(in Input) Decision {
	if d := e.controlsOnly(in.Request, allow("")); !d.Allow {
		return d
	}
	b, d, ok := e.parseBundle(in.Body)
	if !ok {
		return d
	}
	if b.Type != "batch" && b.Type != "transaction" {
		return invalid("policy.bundle.type", "POST to the FHIR base takes a batch or transaction Bundle")
	}
	for i := range b.Entries {
		if d := e.decideEntry(in, &b.Entries[i]); !d.Allow {
			return atEntry(&b.Entries[i], d)
		}
	}
	return allow("allow.batch")
}

func (e *Engine) decideEntry(in Input, entry *fhirreq.Entry) Decision {
	req := entry.Request
	switch {
	case req == nil:
		return invalid("policy.bundle.entry-request", "each entry of a batch or transaction needs a request")
	case entry.HasResponse || entry.HasSearch:
		return invalid("policy.bundle.entry-request", "an entry of a batch or transaction carries no response or search")
	case entry.NestedBundle || req.Kind == fhirreq.BatchTransaction:
		return forbidden("policy.bundle.nested", "a batch or transaction may not contain another Bundle")
	}
	hasBody := req.Kind == fhirreq.Create || req.Kind == fhirreq.Update || req.Kind == fhirreq.Patch ||
		req.Method == "POST" && req.Operation != ""
	if !hasBody && entry.ResourceType != "" {
		return invalid("policy.bundle.entry-resource", "an entry that reads, searches or deletes carries no resource")
	}
	if d, ok := CheckFormat(req.Query); !ok {
		return d
	}
	// An entry must be an interaction the partner registered, checked
	// first as the gateway checks a direct request before the policy.
	if missing, ok := in.Allowlist.Missing(req); ok {
		return forbidden("policy.not-allowed", "the interaction "+missing+" is not allowed for this partner")
	}
	in.Request, in.Body, in.entry = req, []byte(entry.Resource), entry
	return e.decideRequest(in)
}
