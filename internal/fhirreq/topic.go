package fhirreq

import (
	"bytes"
	"errors"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// PASSubscriptionTopic is the canonical URL of the Da Vinci PAS
// SubscriptionTopic, which notifies a provider organisation of prior
// authorization results. The built-in payer service offers this topic
// only, and the policy allows it without configuration.
const PASSubscriptionTopic = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"

// FilterCriteriaURL is the URL of the Subscriptions Backport IG extension
// that carries the filter criteria of a topic-based R4 Subscription.
const FilterCriteriaURL = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria"

// TopicCriteria contains the topics and filter criteria of a topic-based
// Subscription (Subscriptions R5 Backport IG for R4).
type TopicCriteria struct {
	// Topics contains every top-level criteria member that names a
	// SubscriptionTopic (IsTopicURI), in document order.
	Topics []string
	// Filters contains the valueString of every backport-filter-criteria
	// extension, in document order.
	Filters []string
	// Malformed is set when a filter criteria extension, or a _criteria
	// or extension member that may contain one, has another shape than
	// FHIR JSON gives it. A lenient reader might still find a filter there.
	Malformed bool
	// CriteriaMalformed is set when a top-level criteria member is not a
	// JSON string. Neither Topics nor SearchURIs reads such a value, but a
	// lenient reader may take a topic or a search from an array or object.
	CriteriaMalformed bool
}

// SubscriptionTopicCriteria returns the topics and filter criteria of a
// Subscription body. It reads filter criteria in two places:
//
//   - the extensions of _criteria, where the Backport IG's Subscription
//     profile puts them (Subscription.criteria.extension:filterCriteria);
//   - the top-level extensions, which the IG's filter-criteria
//     SearchParameter reads (its expression is
//     extension('...backport-filter-criteria').value on Subscription), so
//     a server may honour them there too.
//
// As in SearchURIs, member names are compared ignoring case, and so is
// the extension URL, so that a variant a lenient parser upstream would
// read is returned too.
func SubscriptionTopicCriteria(resource []byte) (TopicCriteria, error) {
	var tc TopicCriteria
	dec := jsontext.NewDecoder(bytes.NewReader(resource))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return tc, errors.Join(errStructure, err)
	}
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return tc, err
		}
		if tok.Kind() == '}' {
			return tc, nil
		}
		switch name := tok.String(); {
		case strings.EqualFold(name, "criteria") && dec.PeekKind() == '"':
			value, err := dec.ReadToken()
			if err != nil {
				return tc, err
			}
			if IsTopicURI(value.String()) {
				tc.Topics = append(tc.Topics, value.String())
			}
		case strings.EqualFold(name, "criteria"):
			tc.CriteriaMalformed = true
			err = dec.SkipValue()
		case strings.EqualFold(name, "_criteria"):
			err = tc.readCriteriaElement(dec)
		case strings.EqualFold(name, "extension"):
			err = tc.readExtensions(dec)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return tc, err
		}
	}
}

// readCriteriaElement reads the value of _criteria, the element part of
// the criteria primitive.
func (tc *TopicCriteria) readCriteriaElement(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		tc.Malformed = true
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if tok.Kind() == '}' {
			return nil
		}
		if strings.EqualFold(tok.String(), "extension") {
			err = tc.readExtensions(dec)
		} else {
			err = dec.SkipValue()
		}
		if err != nil {
			return err
		}
	}
}

// readExtensions reads an extension array and keeps the values of the
// filter criteria extensions in it.
func (tc *TopicCriteria) readExtensions(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '[' {
		tc.Malformed = true
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		if err := tc.readExtension(dec); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readExtension reads one element of an extension array. A filter
// criteria extension must have exactly one value[x], a valueString.
func (tc *TopicCriteria) readExtension(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		tc.Malformed = true
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	// Case variants of url or value[x] may each appear, so every one is
	// counted: a lenient reader may take any of them.
	var (
		isFilter, urlMalformed bool
		values                 int
		filter                 string
		filterRead             bool
	)
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if tok.Kind() == '}' {
			break
		}
		name := tok.String()
		switch {
		case strings.EqualFold(name, "url") && dec.PeekKind() == '"':
			value, err := dec.ReadToken()
			if err != nil {
				return err
			}
			isFilter = isFilter || strings.EqualFold(strings.TrimSpace(value.String()), FilterCriteriaURL)
			continue
		case strings.EqualFold(name, "url"):
			urlMalformed = true
		case strings.EqualFold(name, "valueString") && dec.PeekKind() == '"':
			value, err := dec.ReadToken()
			if err != nil {
				return err
			}
			values++
			filter, filterRead = value.String(), true
			continue
		case len(name) >= len("value") && strings.EqualFold(name[:len("value")], "value"):
			values++
		}
		if err := dec.SkipValue(); err != nil {
			return err
		}
	}

	switch {
	case urlMalformed:
		// Without a readable URL the extension may be a filter.
		tc.Malformed = true
	case !isFilter || values == 0:
		// Another extension, or a filter without a value, which filters
		// nothing.
	case values > 1 || !filterRead:
		tc.Malformed = true
	default:
		tc.Filters = append(tc.Filters, filter)
	}
	return nil
}
