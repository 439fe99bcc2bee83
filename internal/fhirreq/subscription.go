package fhirreq

import (
	"bytes"
	"errors"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// SubscriptionChannel is one top-level channel member of a Subscription
// body.
type SubscriptionChannel struct {
	// Types and Endpoints contain every type and endpoint member of the
	// channel, in document order.
	Types     []string
	Endpoints []string
	// Malformed is set when the channel is not an object, or when its type
	// or endpoint is not a string.
	Malformed bool
}

// SubscriptionChannels returns the top-level channel members of a
// Subscription body, in document order. As in SearchURIs, member names are
// compared ignoring case, so that a case variant ("Channel", "Endpoint")
// that a lenient parser upstream would read is returned too. A value of
// another shape than FHIR's is returned as Malformed rather than skipped,
// because such a parser might still read an address from it.
func SubscriptionChannels(resource []byte) ([]SubscriptionChannel, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(resource))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, errors.Join(errStructure, err)
	}
	var channels []SubscriptionChannel
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		if tok.Kind() == '}' {
			return channels, nil
		}
		if !strings.EqualFold(tok.String(), "channel") {
			if err := dec.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		ch, err := readChannel(dec)
		if err != nil {
			return nil, err
		}
		channels = append(channels, ch)
	}
}

// readChannel reads the value of a channel member.
func readChannel(dec *jsontext.Decoder) (SubscriptionChannel, error) {
	var ch SubscriptionChannel
	if dec.PeekKind() != '{' {
		ch.Malformed = true
		return ch, dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return ch, err
	}
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return ch, err
		}
		if tok.Kind() == '}' {
			return ch, nil
		}
		var list *[]string
		switch name := tok.String(); {
		case strings.EqualFold(name, "type"):
			list = &ch.Types
		case strings.EqualFold(name, "endpoint"):
			list = &ch.Endpoints
		default:
			if err := dec.SkipValue(); err != nil {
				return ch, err
			}
			continue
		}
		if dec.PeekKind() != '"' {
			ch.Malformed = true
			if err := dec.SkipValue(); err != nil {
				return ch, err
			}
			continue
		}
		value, err := dec.ReadToken()
		if err != nil {
			return ch, err
		}
		*list = append(*list, value.String())
	}
}
