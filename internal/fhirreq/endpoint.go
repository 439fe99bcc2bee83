package fhirreq

import (
	"errors"
	"net/url"
	"strings"
)

// EndpointOperation checks a URL that a server sends requests to on a
// partner's behalf, such as a rest-hook Subscription.channel.endpoint,
// against base, the FHIR base registered for the partner. The endpoint
// must be an absolute https URL without user information, query or
// fragment, and must be base followed by "/" and an operation name ("$",
// a letter, then letters, digits and '-'), such as <base>/$subscription-hook.
// The gateway's outbound path forwards only FHIR interactions, so a
// system-level operation is the one form it can deliver to.
//
// EndpointOperation returns the part below the base ("$subscription-hook").
// An error's message completes a sentence about the endpoint ("must not
// carry a query") and never quotes the URL.
func EndpointOperation(endpoint, base string) (string, error) {
	if err := checkEndpointURL(endpoint); err != nil {
		return "", err
	}
	// base is compared as written in the configuration, so an endpoint that
	// spells the scheme, host or path differently is rejected rather than
	// normalised.
	prefix := strings.TrimRight(base, "/") + "/"
	rel, ok := strings.CutPrefix(endpoint, prefix)
	if base == "" || !ok || !isEndpointOperation(rel) {
		return "", errEndpointNotUnderBase
	}
	return rel, nil
}

var errEndpointNotUnderBase = errors.New("must be an operation of the FHIR base registered for this partner, such as <base>/$subscription-hook")

// checkEndpointURL requires an absolute https URL without user
// information, query or fragment.
func checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a valid URL")
	case u.Scheme != "https" || u.Host == "":
		return errors.New("must be an absolute https URL")
	case u.User != nil:
		return errors.New("must not carry a user name or password: the gateway authenticates notifications")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("must not carry a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not carry a fragment")
	}
	return nil
}

// isEndpointOperation reports whether s is "$" followed by a letter and
// then letters, digits and '-'.
func isEndpointOperation(s string) bool {
	if len(s) < 2 || s[0] != '$' || !isAlpha(s[1]) {
		return false
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}
