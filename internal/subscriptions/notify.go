package subscriptions

import (
	"fmt"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

type bundleJSON struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Meta         *metaJSON   `json:"meta,omitzero"`
	Type         string      `json:"type"`
	Timestamp    string      `json:"timestamp"`
	Total        *int        `json:"total,omitzero"`
	Entry        []entryJSON `json:"entry"`
}

type entryJSON struct {
	FullURL  string         `json:"fullUrl"`
	Resource jsontext.Value `json:"resource,omitzero"`
	Search   *searchJSON    `json:"search,omitzero"`
	Request  *requestJSON   `json:"request,omitzero"`
	Response *responseJSON  `json:"response,omitzero"`
}

type searchJSON struct {
	Mode string `json:"mode"`
}

type requestJSON struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type responseJSON struct {
	Status string `json:"status"`
}

type parametersJSON struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Meta         metaJSON        `json:"meta"`
	Parameter    []parameterJSON `json:"parameter"`
}

type parameterJSON struct {
	Name           string          `json:"name"`
	ValueReference *referenceJSON  `json:"valueReference,omitzero"`
	ValueCanonical string          `json:"valueCanonical,omitzero"`
	ValueCode      string          `json:"valueCode,omitzero"`
	ValueString    string          `json:"valueString,omitzero"`
	ValueInstant   string          `json:"valueInstant,omitzero"`
	Part           []parameterJSON `json:"part,omitzero"`
}

type referenceJSON struct {
	Reference string `json:"reference"`
}

// notice is what a notification reports: its kind, the Subscription's
// state, its events and how much of their resources to include.
type notice struct {
	sub     *subscription
	kind    string
	events  []storedEvent
	content string
}

// bundle builds the notification Bundle: type history, the
// SubscriptionStatus first, then the events' resources.
func (h *Hub) bundle(n notice) ([]byte, error) {
	status, err := h.status(n)
	if err != nil {
		return nil, err
	}
	b := bundleJSON{
		ResourceType: "Bundle",
		ID:           h.newID(),
		Meta:         &metaJSON{Profile: []string{profileNotification}},
		Type:         "history",
		Timestamp:    h.now().UTC().Format(time.RFC3339),
		Entry: []entryJSON{{
			FullURL:  "urn:uuid:" + h.newID(),
			Resource: status,
			Request:  &requestJSON{Method: "GET", URL: h.subscriptionURL(n.sub.ID) + "/$status"},
			Response: &responseJSON{Status: "200"},
		}},
	}
	for _, ev := range n.events {
		b.Entry = append(b.Entry, h.eventEntries(ev, n.content)...)
	}
	return json.Marshal(b)
}

// status builds the SubscriptionStatus Parameters of a notification.
func (h *Hub) status(n notice) (jsontext.Value, error) {
	p := parametersJSON{
		ResourceType: "Parameters",
		ID:           h.newID(),
		Meta:         metaJSON{Profile: []string{profileStatus}},
		Parameter: []parameterJSON{
			{Name: "subscription", ValueReference: &referenceJSON{Reference: h.subscriptionURL(n.sub.ID)}},
			{Name: "topic", ValueCanonical: n.sub.Topic},
			{Name: "status", ValueCode: n.sub.Status},
			{Name: "type", ValueCode: n.kind},
			{Name: "events-since-subscription-start", ValueString: strconv.FormatInt(n.sub.EventsCount, 10)},
		},
	}
	for _, ev := range n.events {
		p.Parameter = append(p.Parameter, h.eventParameter(ev, n.content))
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: encode status: %w", err)
	}
	return b, nil
}

func (h *Hub) eventParameter(ev storedEvent, content string) parameterJSON {
	param := parameterJSON{Name: "notification-event", Part: []parameterJSON{
		{Name: "event-number", ValueString: strconv.FormatInt(ev.Number, 10)},
		{Name: "timestamp", ValueInstant: instant(ev.OccurredAt)},
	}}
	switch content {
	case ContentIDOnly:
		param.Part = append(param.Part, parameterJSON{Name: "focus", ValueReference: &referenceJSON{Reference: h.resourceURL(ev.Focus)}})
	case ContentFullResource:
		param.Part = append(param.Part, parameterJSON{Name: "focus", ValueReference: &referenceJSON{Reference: ev.Focus.FullURL}})
		for _, c := range ev.Context {
			param.Part = append(param.Part, parameterJSON{Name: "additional-context", ValueReference: &referenceJSON{Reference: c.FullURL}})
		}
	}
	return param
}

// eventEntries returns the Bundle entries of one event: for id-only the
// focus without its resource, for full-resource the focus and its context.
func (h *Hub) eventEntries(ev storedEvent, content string) []entryJSON {
	switch content {
	case ContentIDOnly:
		return []entryJSON{{
			FullURL:  h.resourceURL(ev.Focus),
			Request:  &requestJSON{Method: "POST", URL: ev.Focus.Type},
			Response: &responseJSON{Status: "201"},
		}}
	case ContentFullResource:
		out := []entryJSON{{
			FullURL:  ev.Focus.FullURL,
			Resource: ev.Focus.JSON,
			Request:  &requestJSON{Method: "POST", URL: ev.Focus.Type},
			Response: &responseJSON{Status: "201"},
		}}
		for _, c := range ev.Context {
			url := c.Type
			if c.ID != "" {
				url += "/" + c.ID
			}
			out = append(out, entryJSON{
				FullURL:  c.FullURL,
				Resource: c.JSON,
				Request:  &requestJSON{Method: "GET", URL: url},
				Response: &responseJSON{Status: "200"},
			})
		}
		return out
	}
	return nil
}

func (h *Hub) subscriptionURL(id string) string { return h.fhirBase + "/Subscription/" + id }

func (h *Hub) resourceURL(r Resource) string { return h.fhirBase + "/" + r.Type + "/" + r.ID }

// instant converts a stored time to a FHIR instant, "" unchanged.
func instant(stored string) string {
	t, err := time.Parse(timeLayout, stored)
	if err != nil {
		return stored
	}
	return t.Format(time.RFC3339Nano)
}
