package fhirreq

import (
	"mime"
	"net/http"
	"strings"
)

// conditionalKinds are the interactions a PUT, PATCH or DELETE on a type
// with a query performs: the query contains the match criteria.
var conditionalKinds = map[string]Kind{
	http.MethodPut:    Update,
	http.MethodPatch:  Patch,
	http.MethodDelete: Delete,
}

func isConditionalMethod(method string) bool {
	_, ok := conditionalKinds[method]
	return ok
}

// isSearchPost reports whether the request is POST [base]/_search or
// POST [base]/Type/_search.
func isSearchPost(method string, segs []string) bool {
	if method != http.MethodPost || len(segs) == 0 || len(segs) > 2 {
		return false
	}
	return segs[len(segs)-1] == "_search"
}

// searchForm returns the form body of a POST _search, which must be
// application/x-www-form-urlencoded, optionally with charset=utf-8.
func searchForm(contentType string, body []byte) (string, error) {
	if len(body) == 0 {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", &Error{http.StatusUnsupportedMediaType, "a _search body must be application/x-www-form-urlencoded"}
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return "", &Error{http.StatusUnsupportedMediaType, "a _search body takes no media type parameter other than charset=utf-8"}
		}
	}
	return string(body), nil
}

func joinQuery(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

// conditionalCreate parses If-None-Exist criteria, accepted once and only on
// a create.
func (req *Request) conditionalCreate(values []string) error {
	switch {
	case len(values) == 0:
		return nil
	case len(values) > 1:
		return &Error{http.StatusBadRequest, "If-None-Exist appears more than once"}
	case req.Kind != Create:
		return &Error{http.StatusBadRequest, "If-None-Exist applies only to a create"}
	}
	criteria := strings.TrimPrefix(values[0], "?")
	if criteria == "" {
		return &Error{http.StatusBadRequest, "If-None-Exist is empty"}
	}
	q, err := ParseQuery(criteria)
	if err != nil {
		return err
	}
	req.IfNoneExist = q
	return nil
}

// maxEntrySegments is the number of path segments parseEntryRequest splits
// without allocating; longer paths still parse.
const maxEntrySegments = 6

// parseEntryRequest parses Bundle.entry.request of a batch or transaction
// into req and q, which must be zero: method, url (relative to the FHIR
// base, optionally with a query) and ifNoneExist, by the same rules as an
// HTTP request. An empty url names the base itself, so a POST entry with an
// empty url is a nested batch.
func parseEntryRequest(req *Request, q *Query, method, url, ifNoneExist string) error {
	path, rawQuery, _ := strings.Cut(url, "?")
	if strings.HasPrefix(path, "/") || entryURLAbsolutes.in(path) {
		return &Error{http.StatusBadRequest, "an entry request url must be relative to the FHIR base"}
	}
	var buf [maxEntrySegments]string
	segs, err := splitSegments(buf[:0], path)
	if err != nil {
		return err
	}
	if _, err := req.classify(method, segs, rawQuery != ""); err != nil {
		return err
	}
	if err := q.parse(rawQuery); err != nil {
		return err
	}
	req.Query = q
	if ifNoneExist == "" {
		return nil
	}
	return req.conditionalCreate([]string{ifNoneExist})
}
