package subscriptions

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// Payload content codes of the Backport IG.
const (
	ContentEmpty        = "empty"
	ContentIDOnly       = "id-only"
	ContentFullResource = "full-resource"
)

// Heartbeat period bounds, in seconds. Each heartbeat is an outbound
// exchange with its own record entry, so the minimum bounds how many
// entries a partner's idle Subscriptions add: with DefaultMaxPerPartner,
// at most ten a minute. The maximum is one day.
const (
	minHeartbeat = 60
	maxHeartbeat = 86400
)

// subscription is one payer_subscriptions row.
type subscription struct {
	ID           string
	Partner      string
	Status       string
	Topic        string
	FilterSystem string
	FilterValue  string
	Endpoint     string
	EndpointPath string
	Content      string
	Heartbeat    int // seconds, 0 for none
	Reason       string
	EndAt        string
	EventsCount  int64
	Failures     int
	LastSentAt   string
	CreatedAt    string
}

// invalidError is a rejected Subscription: the element path and a reason
// without request values, both safe to return to the partner.
type invalidError struct {
	Path   string
	Reason string
}

func (e *invalidError) Error() string { return "subscriptions: " + e.Path + ": " + e.Reason }

func reject(path, reason string) error { return &invalidError{Path: path, Reason: reason} }

type subscriptionJSON struct {
	ResourceType string         `json:"resourceType"`
	Meta         *metaJSON      `json:"meta,omitzero"`
	ID           string         `json:"id,omitzero"`
	Status       string         `json:"status"`
	End          string         `json:"end,omitzero"`
	Reason       string         `json:"reason"`
	Criteria     string         `json:"criteria"`
	CriteriaExt  *primitiveJSON `json:"_criteria,omitzero"`
	Channel      channelJSON    `json:"channel"`
	// Contained is read only to reject it: a rest-hook Subscription needs
	// no contained resource, and a stored one would be returned unchecked.
	Contained jsontext.Value `json:"contained,omitzero"`
}

type metaJSON struct {
	Profile []string `json:"profile,omitzero"`
}

type primitiveJSON struct {
	Extension []extensionJSON `json:"extension,omitzero"`
}

type channelJSON struct {
	Extension  []extensionJSON `json:"extension,omitzero"`
	Type       string          `json:"type"`
	Endpoint   string          `json:"endpoint,omitzero"`
	Payload    string          `json:"payload,omitzero"`
	PayloadExt *primitiveJSON  `json:"_payload,omitzero"`
	Header     []string        `json:"header,omitzero"`
}

type extensionJSON struct {
	URL              string `json:"url"`
	ValueString      string `json:"valueString,omitzero"`
	ValueCode        string `json:"valueCode,omitzero"`
	ValueUnsignedInt *int   `json:"valueUnsignedInt,omitzero"`
}

// parseSubscription checks a Subscription a partner submitted (see the
// package doc) and returns the row to store, without id and times.
func (h *Hub) parseSubscription(body []byte, partner string) (*subscription, error) {
	var in subscriptionJSON
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, reject("Subscription", "the resource does not have the shape of a Subscription")
	}
	if in.ResourceType != "Subscription" {
		return nil, reject("Subscription.resourceType", "the resource is not a Subscription")
	}
	p, ok := h.partners[partner]
	if !ok || p.FHIRBase == "" {
		return nil, reject("Subscription", "the payer has no notification route to this partner")
	}
	sub := &subscription{Partner: partner, Status: "requested", Topic: TopicPAS, Reason: in.Reason}
	steps := []func(*subscription, *subscriptionJSON, Partner) error{
		checkStatus, checkCriteria, checkFilter, checkEndpoint, checkPayload, checkChannelExtensions, checkEnd,
	}
	for _, step := range steps {
		if err := step(sub, &in, p); err != nil {
			return nil, err
		}
	}
	// An ended Subscription counts against no limit and gets no new events
	// or heartbeats, so accepting one would only let a partner store rows
	// without bound.
	if sub.EndAt != "" && sub.EndAt <= h.stamp() {
		return nil, reject("Subscription.end", "must be in the future")
	}
	return sub, nil
}

func checkStatus(_ *subscription, in *subscriptionJSON, _ Partner) error {
	if len(in.Contained) > 0 {
		return reject("Subscription.contained", "is not supported: a Subscription for this topic carries no contained resources")
	}
	if in.Status != "requested" && in.Status != "active" {
		return reject("Subscription.status", "must be requested")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return reject("Subscription.reason", "missing: FHIR R4 requires a reason")
	}
	return nil
}

func checkCriteria(_ *subscription, in *subscriptionJSON, _ Partner) error {
	topic, _, _ := strings.Cut(in.Criteria, "|")
	if topic != TopicPAS {
		return reject("Subscription.criteria", "this payer offers the PAS SubscriptionTopic only")
	}
	return nil
}

// checkFilter reads the organisation filter. Several filters must all
// name the same organisation.
func checkFilter(sub *subscription, in *subscriptionJSON, p Partner) error {
	if in.CriteriaExt == nil {
		return nil
	}
	for _, ext := range in.CriteriaExt.Extension {
		if ext.URL != extFilterCriteria {
			continue
		}
		system, value, ok := parseFilter(ext.ValueString)
		if !ok {
			return reject("Subscription._criteria.extension", "use the filter org-identifier=VALUE, where VALUE is system|value or a value")
		}
		if sub.FilterValue != "" && (sub.FilterValue != value || sub.FilterSystem != system) {
			return reject("Subscription._criteria.extension", "the filters name different organisations")
		}
		if p.OrganizationValue != "" && (value != p.OrganizationValue || (system != "" && system != p.OrganizationSystem)) {
			return reject("Subscription._criteria.extension", "the filter must name the subscriber's own organisation")
		}
		sub.FilterSystem, sub.FilterValue = system, value
	}
	return nil
}

func parseFilter(s string) (system, value string, ok bool) {
	name, arg, found := strings.Cut(s, "=")
	if !found || arg == "" {
		return "", "", false
	}
	switch name {
	case "org-identifier", "orgIdentifier", "identifier":
	default:
		return "", "", false
	}
	if sys, val, hasSystem := strings.Cut(arg, "|"); hasSystem {
		return sys, val, val != ""
	}
	return "", arg, true
}

// checkEndpoint requires a rest-hook endpoint under the partner's FHIR
// base and keeps the part below it. The gateway's policy applies the same
// rule, fhirreq.EndpointOperation, before the request reaches this
// service.
func checkEndpoint(sub *subscription, in *subscriptionJSON, p Partner) error {
	ch := in.Channel
	if ch.Type != "rest-hook" {
		return reject("Subscription.channel.type", "must be rest-hook")
	}
	// NOTE: the outbound path forwards only FHIR interactions, so the
	// endpoint must be a system-level operation of the partner's FHIR base,
	// such as <base>/$subscription-hook. Other paths need a notification
	// route on the outbound listener.
	rel, err := fhirreq.EndpointOperation(ch.Endpoint, p.FHIRBase)
	if err != nil {
		return reject("Subscription.channel.endpoint", err.Error())
	}
	if len(ch.Header) > 0 {
		return reject("Subscription.channel.header", "is not supported: the gateway authenticates notifications")
	}
	sub.Endpoint, sub.EndpointPath = ch.Endpoint, rel
	return nil
}

func checkPayload(sub *subscription, in *subscriptionJSON, _ Partner) error {
	ch := in.Channel
	switch ch.Payload {
	case "":
		sub.Content = ContentEmpty
		return nil
	case "application/fhir+json", "application/json":
	default:
		return reject("Subscription.channel.payload", "must be application/fhir+json")
	}
	sub.Content = ContentIDOnly
	if ch.PayloadExt == nil {
		return nil
	}
	for _, ext := range ch.PayloadExt.Extension {
		if ext.URL != extPayloadContent {
			continue
		}
		switch ext.ValueCode {
		case ContentEmpty, ContentIDOnly, ContentFullResource:
			sub.Content = ext.ValueCode
		default:
			return reject("Subscription.channel._payload.extension", "use empty, id-only or full-resource")
		}
	}
	return nil
}

func checkChannelExtensions(sub *subscription, in *subscriptionJSON, _ Partner) error {
	for _, ext := range in.Channel.Extension {
		if ext.URL != extHeartbeatPeriod {
			continue
		}
		if ext.ValueUnsignedInt == nil || *ext.ValueUnsignedInt < minHeartbeat || *ext.ValueUnsignedInt > maxHeartbeat {
			return reject("Subscription.channel.extension", "the heartbeat period must be between "+strconv.Itoa(minHeartbeat)+" and "+strconv.Itoa(maxHeartbeat)+" seconds")
		}
		sub.Heartbeat = *ext.ValueUnsignedInt
	}
	return nil
}

func checkEnd(sub *subscription, in *subscriptionJSON, _ Partner) error {
	if in.End == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, in.End)
	if err != nil {
		return reject("Subscription.end", "must be a FHIR instant")
	}
	sub.EndAt = t.UTC().Format(timeLayout)
	return nil
}

// resource renders the stored Subscription as the service returns it.
func (h *Hub) resource(sub *subscription) []byte {
	out := subscriptionJSON{
		ResourceType: "Subscription",
		Meta:         &metaJSON{Profile: []string{profileSubscription, profilePASSubscription}},
		ID:           sub.ID,
		Status:       sub.Status,
		Reason:       sub.Reason,
		Criteria:     sub.Topic,
		Channel: channelJSON{
			Type:       "rest-hook",
			Endpoint:   sub.Endpoint,
			PayloadExt: &primitiveJSON{Extension: []extensionJSON{{URL: extPayloadContent, ValueCode: sub.Content}}},
		},
	}
	if sub.Content != ContentEmpty {
		out.Channel.Payload = "application/fhir+json"
	}
	if sub.FilterValue != "" {
		filter := "org-identifier=" + sub.FilterValue
		if sub.FilterSystem != "" {
			filter = "org-identifier=" + sub.FilterSystem + "|" + sub.FilterValue
		}
		out.CriteriaExt = &primitiveJSON{Extension: []extensionJSON{{URL: extFilterCriteria, ValueString: filter}}}
	}
	if sub.Heartbeat > 0 {
		hb := sub.Heartbeat
		out.Channel.Extension = []extensionJSON{{URL: extHeartbeatPeriod, ValueUnsignedInt: &hb}}
	}
	if sub.EndAt != "" {
		if t, err := time.Parse(timeLayout, sub.EndAt); err == nil {
			out.End = t.Format(time.RFC3339)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic("subscriptions: encode Subscription: " + err.Error()) // strings and ints cannot fail to encode
	}
	return b
}

var errNotFound = errors.New("subscriptions: subscription not found")

// errTooMany means the partner already has the maximum number of live
// Subscriptions.
var errTooMany = errors.New("subscriptions: too many live subscriptions for this partner")
