package demo

import (
	"encoding/json"
	"fmt"
	"strings"
)

// reviewActionNames maps X12 306 review action codes, as PAS carries them in
// the reviewAction extension, to the words the demo prints.
var reviewActionNames = map[string]string{
	"A1": "approved",
	"A2": "partly-approved",
	"A3": "denied",
	"A4": "pended",
	"A6": "modified",
	"C":  "cancelled",
	"CT": "contact-payer",
	"NA": "no-action",
}

// ItemDecision is the payer's decision on one Claim item.
type ItemDecision struct {
	Sequence int    `json:"sequence"`
	Code     string `json:"code"`     // X12 306 review action code
	Decision string `json:"decision"` // the code's meaning
}

type node = map[string]any

// decisionsFrom extracts the per-item review actions from a PAS response
// Bundle whose first entry is a ClaimResponse. It reads the response as the
// EHR would, independently of the payer service's own model.
func decisionsFrom(bundle []byte) (claimID string, items []ItemDecision, err error) {
	var b node
	if err := json.Unmarshal(bundle, &b); err != nil {
		return "", nil, fmt.Errorf("response is not JSON: %w", err)
	}
	if b["resourceType"] != "Bundle" {
		return "", nil, fmt.Errorf("response is a %v, not a Bundle", b["resourceType"])
	}
	entries, _ := b["entry"].([]any)
	if len(entries) == 0 {
		return "", nil, fmt.Errorf("response Bundle has no entries")
	}
	first, _ := entries[0].(node)
	cr, _ := first["resource"].(node)
	if cr["resourceType"] != "ClaimResponse" {
		return "", nil, fmt.Errorf("first entry is a %v, not a ClaimResponse", cr["resourceType"])
	}
	// A PAS payer rejects a request, such as one for an unknown
	// subscriber, with outcome error and an X12 reject reason.
	if cr["outcome"] == "error" {
		return "", nil, fmt.Errorf("the payer rejected the request: %s", rejectReason(cr))
	}
	if ids, _ := cr["identifier"].([]any); len(ids) > 0 {
		id, _ := ids[0].(node)
		claimID, _ = id["value"].(string)
	}
	rawItems, _ := cr["item"].([]any)
	for _, ri := range rawItems {
		it, _ := ri.(node)
		seq, _ := it["itemSequence"].(float64)
		code := findReviewAction(it)
		items = append(items, ItemDecision{Sequence: int(seq), Code: code, Decision: reviewActionNames[code]})
	}
	return claimID, items, nil
}

// findReviewAction returns the first reviewActionCode found anywhere below
// n, searching extensions depth first.
func findReviewAction(n any) string {
	switch v := n.(type) {
	case node:
		if url, _ := v["url"].(string); strings.HasSuffix(url, "reviewActionCode") {
			if cc, ok := v["valueCodeableConcept"].(node); ok {
				if codings, _ := cc["coding"].([]any); len(codings) > 0 {
					c, _ := codings[0].(node)
					code, _ := c["code"].(string)
					return code
				}
			}
		}
		for _, key := range []string{"extension", "adjudication"} {
			if code := findReviewAction(v[key]); code != "" {
				return code
			}
		}
	case []any:
		for _, x := range v {
			if code := findReviewAction(x); code != "" {
				return code
			}
		}
	}
	return ""
}

// outcomeText summarises an OperationOutcome body for a failed row.
func outcomeText(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string   `json:"severity"`
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return "no OperationOutcome in the response"
	}
	// The first located error, else the first error, else the first issue:
	// validation outcomes begin with a summary and information about codes
	// that could not be verified offline.
	pick, rank := oo.Issue[0], 0
	for _, is := range oo.Issue {
		isErr := is.Severity == "error" || is.Severity == "fatal"
		switch {
		case isErr && len(is.Expression) > 0:
			pick, rank = is, 2
		case isErr && rank == 0:
			pick, rank = is, 1
		default:
			continue
		}
		if rank == 2 {
			break
		}
	}
	text := pick.Code + ": " + pick.Diagnostics
	if len(pick.Expression) > 0 {
		text += " at " + pick.Expression[0]
	}
	return text
}

func formatDecisions(items []ItemDecision) string {
	parts := make([]string, len(items))
	for i, it := range items {
		name := it.Decision
		if name == "" {
			name = "unknown(" + it.Code + ")"
		}
		parts[i] = fmt.Sprintf("%d:%s", it.Sequence, name)
	}
	return strings.Join(parts, " ")
}

// rejectReason returns the code and display of a rejecting
// ClaimResponse's first error, or "no reason given".
func rejectReason(cr node) string {
	errs, _ := cr["error"].([]any)
	if len(errs) == 0 {
		return "no reason given"
	}
	e, _ := errs[0].(node)
	code, _ := e["code"].(node)
	codings, _ := code["coding"].([]any)
	if len(codings) == 0 {
		return "no reason given"
	}
	c, _ := codings[0].(node)
	value, _ := c["code"].(string)
	display, _ := c["display"].(string)
	return fmt.Sprintf("X12 reject reason %s (%s)", value, display)
}
