package fhirreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// referenceSearchURIs finds what SearchURIs should, by a plain recursive
// walk over encoding/json tokens. It collects a Reference.reference string
// with a "?", every string value inside an array written as a reference's
// value, and a top-level Subscription criteria that is no topic URI.
func referenceSearchURIs(resource []byte, subscription bool) ([]SearchURI, error) {
	dec := json.NewDecoder(bytes.NewReader(resource))
	dec.UseNumber()
	var found []SearchURI
	var walk func(tok json.Token, depth int, inRefArray bool) error
	walk = func(tok json.Token, depth int, inRefArray bool) error {
		switch v := tok.(type) {
		case string:
			if inRefArray && strings.Contains(v, "?") {
				found = append(found, SearchURI{Value: v})
			}
		case json.Delim:
			switch v {
			case '[':
				for dec.More() {
					t, err := dec.Token()
					if err != nil {
						return err
					}
					if err := walk(t, depth+1, inRefArray); err != nil {
						return err
					}
				}
				_, err := dec.Token()
				return err
			case '{':
				for dec.More() {
					nameTok, err := dec.Token()
					if err != nil {
						return err
					}
					name := nameTok.(string)
					t, err := dec.Token()
					if err != nil {
						return err
					}
					isRef := strings.EqualFold(name, "reference")
					isCrit := subscription && depth == 0 && strings.EqualFold(name, "criteria")
					if s, ok := t.(string); ok {
						switch {
						case (isRef || inRefArray) && strings.Contains(s, "?"):
							found = append(found, SearchURI{Value: s})
						case isCrit && !IsTopicURI(s):
							found = append(found, SearchURI{Criteria: true, Value: s})
						}
						continue
					}
					childRef := inRefArray || isRef && t == json.Delim('[')
					if err := walk(t, depth+1, childRef); err != nil {
						return err
					}
				}
				_, err := dec.Token()
				return err
			}
		}
		return nil
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return found, nil
		}
		if err != nil {
			return nil, err
		}
		if err := walk(tok, 0, false); err != nil {
			return nil, err
		}
	}
}

func FuzzSearchURIsAgainstWalk(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Observation","subject":{"reference":["Patient/1","Patient?_has:Claim:patient:status=active"]},"note":["x?"]}`,
		`{"resourceType":"Observation","subject":{"reference":[["Patient?_id=1"]]},"note":[{"text":"y?"}]}`,
		`{"subject":{"reference":[{"reference":["a"]},"Patient?_id=1"]}}`,
		`{"a":{"Reference":"Patient\u003f_id=1"},"b":[{"reference":"Patient?x=1"}]}`,
		`{"resourceType":"Subscription","criteria":"Observation?code=x"}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, subscription bool) {
		got, err := SearchURIs(body, subscription)
		if err != nil {
			return
		}
		want, err := referenceSearchURIs(body, subscription)
		if err != nil {
			return
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("SearchURIs(%q) = %+v, want %+v", body, got, want)
		}
	})
}
