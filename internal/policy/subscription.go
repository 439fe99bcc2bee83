package policy

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// pasFilterNames are the filter parameters of the PAS SubscriptionTopic,
// written without a resource type: org-identifier as PAS 2.2.1 and the
// built-in payer service name it, orgIdentifier as some implementations
// spell it, and identifier as in PAS 2.0.1.
var pasFilterNames = map[string]bool{"org-identifier": true, "orgIdentifier": true, "identifier": true}

// CheckSubscriptionTopic checks a SubscriptionTopic canonical URL for
// Options.SubscriptionTopics: an absolute URI without query, fragment or
// white space, optionally followed by "|" and a version. An http or https
// URL needs a host.
func CheckSubscriptionTopic(topic string) error {
	base, version, versioned := strings.Cut(topic, "|")
	u, err := url.Parse(base)
	switch {
	case !fhirreq.IsTopicURI(topic) || err != nil || strings.ContainsFunc(topic, isSpaceOrControl):
		return errors.New("must be an absolute canonical URL without query or fragment, such as http://example.org/SubscriptionTopic/admission")
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return errors.New("an http or https canonical URL needs a host")
	case versioned && (version == "" || strings.Contains(version, "|")):
		return errors.New(`the version after "|" must be non-empty and contain no further "|"`)
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// topicAllowed reports whether criteria, a topic URI with an optional
// "|version", names an allowed topic. An allowed entry without a version
// allows every version of its topic; one with a version allows only it.
//
// NOTE: the allowed topics are the same for every partner, because the
// policy does not know which resource types a configured topic pushes and
// so cannot check them against the partner's roles.
func (e *Engine) topicAllowed(criteria string) bool {
	base, version, versioned := strings.Cut(criteria, "|")
	for _, t := range e.topics {
		tBase, tVersion, tVersioned := strings.Cut(t, "|")
		if tBase == base && (!tVersioned || versioned && tVersion == version) {
			return true
		}
	}
	return false
}

// checkSubscriptionTopics decides the topics and filter criteria of a
// topic-based Subscription (R4 Subscriptions Backport). Every topic it
// names must be allowed, because a topic defines which resources an
// upstream that runs topic-based Subscriptions itself pushes to the
// subscriber. Every filter criteria value is a search-style filter on the
// topic's events, so it is decided as a search the partner runs (see
// checkFilter).
func (e *Engine) checkSubscriptionTopics(in Input) (Decision, bool) {
	if in.Request.Type != "Subscription" {
		return Decision{}, true
	}
	tc, err := fhirreq.SubscriptionTopicCriteria(resourceBody(in))
	if err != nil {
		return invalid("policy.body.unreadable", "the body is not a FHIR JSON resource"), false
	}
	// checkSearchURIs reads only string criteria, so a criteria of another
	// shape would pass both the topic and the search checks.
	if tc.CriteriaMalformed {
		return forbidden("policy.subscription.criteria", "Subscription.criteria must be one string: a SubscriptionTopic URL or a search written as [type]?[parameters]"), false
	}
	for _, topic := range tc.Topics {
		if !e.topicAllowed(topic) {
			return forbidden("policy.subscription.topic", "Subscription.criteria names a SubscriptionTopic that this gateway does not offer"), false
		}
	}
	if tc.Malformed {
		return forbidden("policy.subscription.filter", "a backport-filter-criteria extension must be an element of Subscription._criteria.extension with one valueString"), false
	}
	pasOnly := len(tc.Topics) > 0 && !slices.ContainsFunc(tc.Topics, func(t string) bool {
		base, _, _ := strings.Cut(t, "|")
		return base != fhirreq.PASSubscriptionTopic
	})
	for _, filter := range tc.Filters {
		if d, ok := e.checkFilter(in, filter, pasOnly); !ok {
			return d, false
		}
	}
	return Decision{}, true
}

// checkFilter decides one filter criteria value. The Backport IG writes
// filters as [type]?[parameters] or as bare parameters whose keys are
// search parameters of the topic's resource or filters the topic defines.
// The typed form must be a plain search of a type the partner may search,
// as conditional criteria must. A bare filter has no type to decide it
// on, so only the PAS topic's organisation filter is accepted bare. It
// must name the partner's own organisation, as the built-in payer service
// requires, because on a server that runs the PAS topic it selects whose
// prior authorization results the subscriber receives.
func (e *Engine) checkFilter(in Input, filter string, pasOnly bool) (Decision, bool) {
	const rule = "policy.subscription.filter"
	if strings.Contains(filter, "?") {
		typ, q, err := fhirreq.ParseSearchURI(filter)
		if err != nil {
			return invalid(rule, "Subscription filter criteria must be [type]?[parameters] or parameters alone, in canonical query form"), false
		}
		d, ok := e.plainSearch(in, typ, q, rule, "Subscription filter criteria may hold only plain search parameters of their type")
		if !ok && d.Rule != rule {
			d = forbidden(rule, "Subscription filter criteria search "+typ+", and "+d.Reason)
		}
		return d, ok
	}

	q, err := fhirreq.ParseQuery(filter)
	if err != nil {
		return invalid(rule, "Subscription filter criteria must be [type]?[parameters] or parameters alone, in canonical query form"), false
	}
	if !pasOnly {
		return forbidden(rule, "Subscription filter criteria without a resource type are accepted only on the PAS topic: write them as [type]?[parameters]"), false
	}
	if len(q.Params) == 0 || len(q.Includes) > 0 || len(q.Has) > 0 || q.Count >= 0 ||
		q.Summary != "" || q.Format != "" || q.Elements != nil || q.Types != nil {
		return forbidden(rule, "Subscription filter criteria on the PAS topic may hold only org-identifier"), false
	}
	for _, p := range q.Params {
		if !pasFilterNames[p.Name()] || !p.Plain() {
			return forbidden(rule, "Subscription filter criteria on the PAS topic may hold only org-identifier, without modifier"), false
		}
		if !namesOrganization(p.Value, in.Partner) {
			return forbidden(rule, "the org-identifier filter must name the partner's registered organisation"), false
		}
	}
	return Decision{}, true
}

// namesOrganization reports whether an org-identifier value, "system|value"
// or a bare value, names the partner's registered organisation. Both
// parts are compared exactly, as the built-in payer service compares them.
func namesOrganization(value string, p *Partner) bool {
	org := p.Organization
	if system, v, ok := strings.Cut(value, "|"); ok {
		return system == org.System && v == org.Value && v != ""
	}
	return value == org.Value && value != ""
}

// checkSubscriptionChannel requires every channel of a written
// Subscription to be a rest-hook whose endpoint is an operation under the
// FHIR base registered for the partner, the rule the built-in payer service
// applies too (fhirreq.EndpointOperation). An upstream that runs
// Subscriptions itself posts notifications straight to the endpoint, past
// the gateway's outbound path and egress allowlist, so any other endpoint
// would send the payer's data wherever the partner wrote.
func checkSubscriptionChannel(in Input) (Decision, bool) {
	if in.Request.Type != "Subscription" {
		return Decision{}, true
	}
	channels, err := fhirreq.SubscriptionChannels(resourceBody(in))
	if err != nil {
		return invalid("policy.body.unreadable", "the body is not a FHIR JSON resource"), false
	}
	if len(channels) == 0 {
		return forbidden("policy.subscription.channel", "Subscription.channel is missing: a Subscription needs a rest-hook channel"), false
	}
	base := in.Partner.OutboundFHIRBase
	for _, ch := range channels {
		if ch.Malformed || len(ch.Types) == 0 || slices.ContainsFunc(ch.Types, func(t string) bool { return t != "rest-hook" }) {
			return forbidden("policy.subscription.channel", "Subscription.channel.type must be rest-hook: other channels deliver notifications outside the gateway"), false
		}
		if base == "" {
			return forbidden("policy.subscription.endpoint", "no FHIR base is registered for this partner, so it may not subscribe with a rest-hook channel"), false
		}
		if len(ch.Endpoints) == 0 {
			return forbidden("policy.subscription.endpoint", "Subscription.channel.endpoint is missing: a rest-hook channel needs an endpoint under the FHIR base registered for this partner"), false
		}
		for _, endpoint := range ch.Endpoints {
			if _, err := fhirreq.EndpointOperation(endpoint, base); err != nil {
				return forbidden("policy.subscription.endpoint", "Subscription.channel.endpoint "+err.Error()), false
			}
		}
	}
	return Decision{}, true
}
