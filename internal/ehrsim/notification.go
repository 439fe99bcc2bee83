package ehrsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

// Notification types of the Subscriptions Backport (STU 1.1), as the
// SubscriptionStatus type parameter carries them.
const (
	TypeHandshake   = "handshake"
	TypeHeartbeat   = "heartbeat"
	TypeEvent       = "event-notification"
	TypeQueryStatus = "query-status"
	TypeQueryEvent  = "query-event"
)

var statusCodes = map[string]bool{"requested": true, "active": true, "error": true, "off": true, "entered-in-error": true}

// Event is one notification-event of a SubscriptionStatus.
type Event struct {
	Number int64  `json:"number"`
	Focus  string `json:"focus,omitempty"` // the focus reference, empty for empty content
}

// status is the content of a SubscriptionStatus Parameters resource.
type status struct {
	subscription     string // the reference, as sent
	subscriptionID   string // its last path segment
	topic            string
	code             string
	kind             string
	eventsSinceStart int64
	hasCounter       bool
	events           []Event
}

type bundleIn struct {
	ResourceType string    `json:"resourceType"`
	Type         string    `json:"type"`
	Entry        []entryIn `json:"entry"`
}

type entryIn struct {
	Resource json.RawMessage `json:"resource"`
}

type parametersIn struct {
	ResourceType string        `json:"resourceType"`
	Parameter    []parameterIn `json:"parameter"`
}

type parameterIn struct {
	Name           string        `json:"name"`
	ValueReference *referenceIn  `json:"valueReference"`
	ValueCanonical string        `json:"valueCanonical"`
	ValueCode      string        `json:"valueCode"`
	ValueString    string        `json:"valueString"`
	Part           []parameterIn `json:"part"`
}

type referenceIn struct {
	Reference string `json:"reference"`
}

// errNotification is the cause of every structural rejection.
var errNotification = errors.New("ehrsim: invalid notification")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errNotification}, args...)...)
}

// parseNotification reads the SubscriptionStatus of a notification Bundle
// (type history) or of a $status response (type searchset), and checks the
// elements the Backport profiles backport-subscription-notification-r4
// and backport-subscription-status-r4 require.
//
// NOTE: the validator's embedded packages do not include the Backport IG,
// so strict mode checks these Bundles against the R4 core only. This
// function checks the Backport-specific rules in its place.
func parseNotification(body []byte, wantType string) (*status, error) {
	var b bundleIn
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, invalidf("not a JSON Bundle")
	}
	if b.ResourceType != "Bundle" || b.Type != wantType {
		return nil, invalidf("resourceType %q of type %q, expected a Bundle of type %s", b.ResourceType, b.Type, wantType)
	}
	if len(b.Entry) == 0 {
		return nil, invalidf("the Bundle has no entry; the first must be the SubscriptionStatus")
	}
	var p parametersIn
	if err := json.Unmarshal(b.Entry[0].Resource, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, invalidf("entry[0] is not a SubscriptionStatus Parameters resource")
	}
	st, err := readStatus(p.Parameter)
	if err != nil {
		return nil, err
	}
	return st, st.checkKind()
}

// readStatus reads the SubscriptionStatus parameters. Each is allowed once
// except notification-event.
func readStatus(params []parameterIn) (*status, error) {
	st := &status{}
	seen := map[string]bool{}
	for _, prm := range params {
		if prm.Name != "notification-event" && seen[prm.Name] {
			return nil, invalidf("parameter %q repeats", prm.Name)
		}
		seen[prm.Name] = true
		if err := st.read(prm); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"subscription", "topic", "status", "type"} {
		if !seen[name] {
			return nil, invalidf("parameter %q is missing", name)
		}
	}
	return st, nil
}

func (st *status) read(prm parameterIn) error {
	switch prm.Name {
	case "subscription":
		if prm.ValueReference == nil || prm.ValueReference.Reference == "" {
			return invalidf("subscription has no valueReference")
		}
		st.subscription = prm.ValueReference.Reference
		st.subscriptionID = st.subscription[strings.LastIndex(st.subscription, "/")+1:]
	case "topic":
		st.topic = prm.ValueCanonical
		if base, _, _ := strings.Cut(st.topic, "|"); base != subscriptions.TopicPAS {
			return invalidf("topic %q is not the PAS topic", st.topic)
		}
	case "status":
		st.code = prm.ValueCode
		if !statusCodes[st.code] {
			return invalidf("status %q is not a Subscription status code", st.code)
		}
	case "type":
		st.kind = prm.ValueCode
	case "events-since-subscription-start":
		n, err := strconv.ParseInt(prm.ValueString, 10, 64)
		if err != nil || n < 0 {
			return invalidf("events-since-subscription-start %q is not a count", prm.ValueString)
		}
		st.eventsSinceStart, st.hasCounter = n, true
	case "notification-event":
		ev, err := readEvent(prm.Part)
		if err != nil {
			return err
		}
		st.events = append(st.events, ev)
	}
	return nil
}

func readEvent(parts []parameterIn) (Event, error) {
	var ev Event
	for _, part := range parts {
		switch part.Name {
		case "event-number":
			n, err := strconv.ParseInt(part.ValueString, 10, 64)
			if err != nil || n < 1 {
				return ev, invalidf("event-number %q is not a positive integer", part.ValueString)
			}
			ev.Number = n
		case "focus":
			if part.ValueReference != nil {
				ev.Focus = part.ValueReference.Reference
			}
		}
	}
	if ev.Number == 0 {
		return ev, invalidf("a notification-event has no event-number")
	}
	return ev, nil
}

// checkKind matches the events to the notification type: handshakes,
// heartbeats and status responses carry none, event notifications at
// least one.
func (st *status) checkKind() error {
	switch st.kind {
	case TypeHandshake, TypeHeartbeat, TypeQueryStatus:
		if len(st.events) > 0 {
			return invalidf("a %s carries notification-event parameters", st.kind)
		}
	case TypeEvent:
		if len(st.events) == 0 {
			return invalidf("an event-notification carries no notification-event")
		}
	case TypeQueryEvent:
	default:
		return invalidf("type %q is not a notification type", st.kind)
	}
	return nil
}

// rejection returns the status code and the OperationOutcome for a
// notification the EHR does not accept.
func rejection(status int, code outcome.Code, msg string, more ...outcome.Issue) (int, *outcome.OperationOutcome) {
	issues := append([]outcome.Issue{{Severity: outcome.Error, Code: code, Diagnostics: msg}}, more...)
	return status, outcome.FromIssues(issues)
}
