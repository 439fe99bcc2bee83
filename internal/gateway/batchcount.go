package gateway

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// addEntryCounts appends "_count=n" to the entry.request.url of each type
// or system search without _count in a batch or transaction body, whose
// parsed form is b, as addDefaultCount does for a plain search. It returns
// the new body, or body itself when no entry needs the parameter. The bytes are
// inserted before the closing quote of each URL string, so every other
// byte and member order is kept, and the JSON stays valid whatever
// escapes the URL uses.
//
// A Bundle with a signature is rejected instead of changed, because the
// change would break the signature. So is a body that would grow past
// maxBody, the request body cap.
func addEntryCounts(body []byte, b *fhirreq.Bundle, n int, maxBody int64) ([]byte, *Refusal) {
	var entries []int
	for i := range b.Entries {
		e := &b.Entries[i]
		if isSearch(e.Request) && e.Request.Query != nil && e.Request.Query.Count < 0 {
			entries = append(entries, e.Index)
		}
	}
	if len(entries) == 0 {
		return body, nil
	}

	urls, signed, err := entryRequestURLs(body)
	if err != nil {
		return nil, bundleUnreadable()
	}
	if signed {
		return nil, &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "policy.bundle.signed-count",
			Message: "Bundle.entry[" + strconv.Itoa(entries[0]) + "]: a search in a signed Bundle needs its own _count, because adding one would break the signature"}
	}

	count := "_count=" + strconv.Itoa(n)
	out := make([]byte, 0, len(body)+len(entries)*(len(count)+1))
	done := 0
	for _, i := range entries {
		u, ok := urls[i]
		if !ok {
			return nil, bundleUnreadable()
		}
		sep := "?"
		if strings.Contains(u.value, "?") {
			sep = "&"
		}
		out = append(out, body[done:u.end]...)
		out = append(out, sep...)
		out = append(out, count...)
		done = u.end
	}
	out = append(out, body[done:]...)
	if int64(len(out)) > maxBody {
		return nil, &Refusal{Status: http.StatusRequestEntityTooLarge, Code: "too-long", Rule: "payload.too-large",
			Message: "the Bundle exceeds the size limit once _count is added to its searches; give each search a _count"}
	}
	return out, nil
}

func bundleUnreadable() *Refusal {
	return &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "policy.bundle.unreadable",
		Message: "the batch or transaction Bundle could not be read, so its entries cannot be checked"}
}

// entryURL is the decoded entry.request.url of one entry and the offset
// of its closing quote in the body.
type entryURL struct {
	value string
	end   int
}

// entryRequestURLs returns entry.request.url of each entry, by entry
// index, and whether the Bundle has a signature member.
func entryRequestURLs(body []byte) (map[int]entryURL, bool, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	urls := map[int]entryURL{}
	signed := false
	err := readObject(dec, func(name string) error {
		switch name {
		case "signature":
			signed = true
			return dec.SkipValue()
		case "entry":
			return readArray(dec, func(i int) error {
				return readObject(dec, func(name string) error {
					if name != "request" {
						return dec.SkipValue()
					}
					return readObject(dec, func(name string) error {
						if name != "url" {
							return dec.SkipValue()
						}
						val, err := dec.ReadValue()
						if err != nil {
							return err
						}
						var s string
						if err := json.Unmarshal(val, &s); err != nil {
							return err
						}
						// The offset is just past the closing quote.
						urls[i] = entryURL{value: s, end: int(dec.InputOffset()) - 1}
						return nil
					})
				})
			})
		default:
			return dec.SkipValue()
		}
	})
	return urls, signed, err
}

// readObject reads a JSON object from dec and calls member with each
// member name. member must read the value.
func readObject(dec *jsontext.Decoder, member func(name string) error) error {
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return errors.New("gateway: not a JSON object")
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if err := member(tok.String()); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readArray reads a JSON array from dec and calls elem with the index of
// each element. elem must read the element.
func readArray(dec *jsontext.Decoder, elem func(i int) error) error {
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return errors.New("gateway: not a JSON array")
	}
	for i := 0; dec.PeekKind() != ']'; i++ {
		if err := elem(i); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}
