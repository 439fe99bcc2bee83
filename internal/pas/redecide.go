package pas

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Redecision is a later decision on items of a stored response, such as a
// reviewer's decision on a pended item.
type Redecision struct {
	// ID is the id of the new ClaimResponse version, with the same rules
	// as Adjudication.ID.
	ID      string
	Created time.Time
	// Actions maps item sequences to their new review action. Every
	// sequence must be an item of the stored ClaimResponse.
	Actions map[int]ReviewAction
}

// Redecide returns a new response Bundle from stored, a Bundle that
// BuildResponse or Redecide produced. The new ClaimResponse has the id and
// created time of rd, the decisions of rd.Actions for the items it names,
// the stored decisions for the others, and the outcome those imply. The
// preAuthRef, the items' review numbers and the copied entries stay.
func Redecide(stored []byte, rd Redecision) ([]byte, error) {
	if !isFHIRID(rd.ID) {
		return nil, errors.New("pas: ClaimResponse id is not a valid FHIR id")
	}
	var b outBundle
	if err := json.Unmarshal(stored, &b); err != nil {
		return nil, fmt.Errorf("pas: stored response: %w", err)
	}
	if len(b.Entry) == 0 {
		return nil, errors.New("pas: stored response has no entries")
	}
	var cr claimResponseJSON
	if err := json.Unmarshal(b.Entry[0].Resource, &cr); err != nil {
		return nil, fmt.Errorf("pas: stored ClaimResponse: %w", err)
	}
	if cr.ResourceType != "ClaimResponse" {
		return nil, errors.New("pas: stored response does not start with a ClaimResponse")
	}

	decisions, err := applyActions(cr.Item, rd.Actions)
	if err != nil {
		return nil, err
	}
	fullURL, err := renameFullURL(b.Entry[0].FullURL, cr.ID, rd.ID)
	if err != nil {
		return nil, err
	}
	cr.ID = rd.ID
	cr.Created = formatInstant(rd.Created)
	cr.Outcome = Outcome(decisions)
	resource, err := json.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("pas: encode ClaimResponse: %w", err)
	}
	b.Entry[0] = outEntry{FullURL: fullURL, Resource: resource}
	b.Timestamp = formatInstant(rd.Created)
	return json.Marshal(b)
}

// applyActions rewrites the reviewActionCode of the items named in actions
// and returns every item's decision after the change.
func applyActions(items []responseItemJSON, actions map[int]ReviewAction) ([]Decision, error) {
	found := 0
	var out []Decision
	for i := range items {
		it := &items[i]
		action, change := actions[it.ItemSequence]
		if change {
			if !action.Valid() {
				return nil, fmt.Errorf("pas: unknown review action %q", action)
			}
			if !setReviewAction(it, action) {
				return nil, fmt.Errorf("pas: stored item %d has no reviewAction", it.ItemSequence)
			}
			found++
		}
		out = append(out, Decision{Sequence: it.ItemSequence, Action: currentAction(it)})
	}
	if found != len(actions) {
		return nil, errors.New("pas: a redecided item sequence is not in the stored ClaimResponse")
	}
	return out, nil
}

func setReviewAction(it *responseItemJSON, action ReviewAction) bool {
	for a := range it.Adjudication {
		for e := range it.Adjudication[a].Extension {
			ext := &it.Adjudication[a].Extension[e]
			if ext.URL != ExtReviewAction {
				continue
			}
			for p := range ext.Extension {
				if ext.Extension[p].URL == ExtReviewActionCode {
					ext.Extension[p].ValueCodeableConcept = &codeableJSON{Coding: []Coding{{
						System: SystemReviewAction, Code: string(action), Display: action.Display(),
					}}}
					return true
				}
			}
		}
	}
	return false
}

func currentAction(it *responseItemJSON) ReviewAction {
	for _, adj := range it.Adjudication {
		for _, ext := range adj.Extension {
			if ext.URL != ExtReviewAction {
				continue
			}
			for _, part := range ext.Extension {
				if part.URL == ExtReviewActionCode && part.ValueCodeableConcept != nil {
					return reviewCode(part.ValueCodeableConcept)
				}
			}
		}
	}
	return ""
}

// renameFullURL swaps the id at the end of a ClaimResponse fullUrl, which
// is either "<base>ClaimResponse/<id>" or "urn:uuid:<id>".
func renameFullURL(fullURL, oldID, newID string) (string, error) {
	if strings.HasPrefix(fullURL, "urn:uuid:") {
		if !isUUID(newID) {
			return "", errors.New("pas: the ClaimResponse fullUrl is a URN, so the new id must be a lower-case UUID")
		}
		return "urn:uuid:" + newID, nil
	}
	prefix, ok := strings.CutSuffix(fullURL, "ClaimResponse/"+oldID)
	if !ok {
		return "", errors.New("pas: the stored ClaimResponse fullUrl does not end with its id")
	}
	return prefix + "ClaimResponse/" + newID, nil
}

// ResponseEntries returns the entries of a response Bundle produced by
// BuildResponse or Redecide, as fullUrl and raw resource pairs, the
// ClaimResponse first. Notifications carry them as their focus and
// context.
func ResponseEntries(stored []byte) ([]Entry, error) {
	var b outBundle
	if err := json.Unmarshal(stored, &b); err != nil {
		return nil, fmt.Errorf("pas: stored response: %w", err)
	}
	out := make([]Entry, 0, len(b.Entry))
	for i, e := range b.Entry {
		var h headerJSON
		if err := json.Unmarshal(e.Resource, &h); err != nil {
			return nil, fmt.Errorf("pas: stored response entry %d: %w", i, err)
		}
		out = append(out, Entry{Index: i, FullURL: e.FullURL, Type: h.ResourceType, ID: h.ID, Resource: jsontext.Value(e.Resource)})
	}
	return out, nil
}
