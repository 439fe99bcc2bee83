package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/pagelink"
)

// PagePath is the path, below a FHIR base of the gateway, of page
// requests: GET [base]/_page?token=TOKEN, where TOKEN seals an upstream
// link of a search the gateway allowed (see package pagelink).
const PagePath = "/_page"

// DefaultPageLifetime is how long a page token stays valid after the
// response that carried it when Options.PageLifetime is zero.
//
// NOTE: an upstream may expire its own paging state sooner, such as HAPI
// FHIR's _getpages cache; the partner then gets the upstream's error.
const DefaultPageLifetime = 30 * time.Minute

// maxPageLinkQuery caps the query of an upstream link at the cap fhirreq
// puts on a partner's query.
const maxPageLinkQuery = fhirreq.MaxQueryBytes

// isPageRequest reports whether ex addresses the page endpoint of its
// target's FHIR base.
func isPageRequest(ex *exchange) bool {
	return ex.r.URL.Path == ex.target.prefix+PagePath
}

// parsePageRequest opens the token of a page request and returns the
// search it was sealed for, so that the later stages (allowlist, kill
// switch, policy) decide that search again with the partner's current
// token and registration. The upstream's link is kept in ex.page and
// forwarded in place of the search's query.
func (g *Gateway) parsePageRequest(ex *exchange) (*fhirreq.Request, *Refusal) {
	if g.opts.Pages == nil {
		return nil, &Refusal{Status: http.StatusNotFound, Code: "not-found", Rule: "request.unknown", Message: "no FHIR interaction at this path"}
	}
	if ex.r.Method != http.MethodGet {
		return nil, &Refusal{Status: http.StatusMethodNotAllowed, Code: "not-supported", Rule: "request.noncanonical",
			Message: "a page request uses GET", Header: http.Header{"Allow": {http.MethodGet}}}
	}

	tok, ok := strings.CutPrefix(ex.r.URL.RawQuery, "token=")
	if !ok || tok == "" || strings.ContainsAny(tok, "&;=%+") {
		return nil, &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "page.parameters",
			Message: "a page request carries the token parameter and nothing else; follow the link as the gateway returned it"}
	}
	page, err := g.opts.Pages.Open(string(ex.direction), ex.partner.ID, tok, g.now())
	if errors.Is(err, pagelink.ErrExpired) {
		return nil, &Refusal{Status: http.StatusGone, Code: "expired", Rule: "page.expired",
			Message: "the page token has expired; run the search again"}
	}
	if err != nil {
		return nil, invalidPageToken()
	}

	search := &url.URL{Path: ex.target.prefix, RawQuery: page.Query}
	if page.Search != "" {
		search.Path += "/" + page.Search
	}
	req, err := fhirreq.ParseWithBody(&http.Request{Method: http.MethodGet, URL: search, Header: http.Header{}}, ex.target.prefix, nil)
	if err != nil || !isSearch(req) {
		// Only the gateway can seal a token, and it seals only searches
		// that parsed, so this is a token of another version.
		return nil, invalidPageToken()
	}

	ex.page = &page
	return req, nil
}

func invalidPageToken() *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: "security", Rule: "page.token-invalid",
		Message: "the page token is not valid for this client; follow the links the gateway returned"}
}

// pageURL returns the upstream URL a page request is forwarded to: the
// target's base joined with the sealed link.
func pageURL(t *target, page *pagelink.Page) (*url.URL, error) {
	path, query, _ := strings.Cut(page.Link, "?")
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		return nil, err
	}
	u := *t.base
	u.RawPath = strings.TrimRight(t.base.EscapedPath(), "/") + path
	u.Path = strings.TrimRight(t.base.Path, "/") + unescaped
	u.RawQuery = query
	return &u, nil
}

// sealPageLinks replaces the URL of every Bundle.link of a successful
// search response with the gateway's page URL carrying a token, and drops
// every link that does not point to the search's own path on the target's
// base. So no upstream URL reaches the client, and the client can follow
// only the pages of the search that was decided. Other members of the
// Bundle keep their bytes and order. A body whose links cannot be read is
// rejected, because releasing it could release a raw upstream link.
func (g *Gateway) sealPageLinks(ex *exchange, status int, body []byte) ([]byte, *Refusal) {
	if g.opts.Pages == nil || status < 200 || status > 299 || !isSearch(ex.fhir) || len(body) == 0 {
		return body, nil
	}
	out, dropped, err := rewriteMember(body, "link", func(links jsontext.Value) (jsontext.Value, int, error) {
		return g.sealLinks(ex, links)
	})
	if errors.Is(err, pagelink.ErrTooLong) {
		// Releasing the page without the link would end the search early
		// with no sign that results are missing.
		return nil, &Refusal{Status: http.StatusBadRequest, Code: "too-long", Rule: "page.token-too-long",
			Message: "the search is too long for the gateway to write its page links; shorten its parameters or split it into several searches"}
	}
	if err != nil {
		return nil, &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.page-links",
			Message: "the links of the upstream's search response could not be read, so nothing was released"}
	}
	if dropped > 0 {
		g.log.Warn("search links dropped: they do not point to the search on the upstream", "exchange", ex.entry.ExchangeID, "count", dropped)
	}
	return out, nil
}

func (g *Gateway) pageLifetime() time.Duration {
	if g.opts.PageLifetime > 0 {
		return g.opts.PageLifetime
	}
	return DefaultPageLifetime
}

// pageLink is one Bundle.link, with the members the gateway reads.
type pageLink struct {
	URL string `json:"url"`
}

// sealLinks rewrites the elements of a Bundle.link array and returns how
// many it dropped, or pagelink.ErrTooLong when a link cannot be sealed.
func (g *Gateway) sealLinks(ex *exchange, links jsontext.Value) (jsontext.Value, int, error) {
	var elems []jsontext.Value
	if err := json.Unmarshal(links, &elems); err != nil {
		return nil, 0, err
	}
	// Every link of the response seals the same search and lifetime.
	page := pagelink.Page{Search: ex.fhir.Type, Query: ex.fhir.Query.Encode(), Expires: g.now().Add(g.pageLifetime()).Unix()}
	kept := make([]jsontext.Value, 0, len(elems))
	for _, elem := range elems {
		var l pageLink
		if err := json.Unmarshal(elem, &l); err != nil {
			return nil, 0, err
		}
		rest, ok := upstreamLink(ex, l.URL)
		if !ok {
			continue
		}
		page.Link = rest
		token, err := g.opts.Pages.Seal(string(ex.direction), ex.partner.ID, page)
		if err != nil {
			return nil, 0, err
		}
		newURL, err := json.Marshal(ex.target.pageBase + PagePath + "?token=" + token)
		if err != nil {
			return nil, 0, err
		}
		elem, _, err := rewriteMember(elem, "url", func(jsontext.Value) (jsontext.Value, int, error) { return newURL, 0, nil })
		if err != nil {
			return nil, 0, err
		}
		kept = append(kept, elem)
	}
	if len(kept) == 0 {
		return nil, len(elems), nil
	}
	out, err := json.Marshal(kept)
	return out, len(elems) - len(kept), err
}

// upstreamLink returns the path and query of rawURL below the target's
// base, when rawURL is an absolute URL on that base at the path of the
// exchange's search. That path is [base]/Type for a type search, or the
// base itself, where system searches and HAPI FHIR's _getpages go.
func upstreamLink(ex *exchange, rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	base := ex.target.base
	if err != nil || u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	if len(u.RawQuery) > maxPageLinkQuery {
		return "", false
	}
	path := strings.TrimPrefix(u.EscapedPath(), strings.TrimRight(base.EscapedPath(), "/"))
	if path == u.EscapedPath() && base.EscapedPath() != "" && base.EscapedPath() != "/" {
		return "", false // not under the base
	}
	switch path {
	case "", "/":
	case "/" + ex.fhir.Type:
		// A system search has Type "", which the case above takes.
	default:
		return "", false
	}
	if u.RawQuery == "" {
		return path, true
	}
	return path + "?" + u.RawQuery, true
}

// rewriteMember returns the JSON object obj with the value of its member
// name replaced by what rewrite returns, or the member removed when
// rewrite returns nil. Other members keep their bytes and order. The
// count rewrite returns is passed through.
func rewriteMember(obj []byte, name string, rewrite func(jsontext.Value) (jsontext.Value, int, error)) ([]byte, int, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(obj))
	var buf bytes.Buffer
	enc := jsontext.NewEncoder(&buf)
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, 0, errors.New("gateway: not a JSON object")
	}
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return nil, 0, err
	}
	count := 0
	for dec.PeekKind() != '}' {
		// A token and a value are valid until the next read only.
		key, err := dec.ReadToken()
		if err != nil {
			return nil, 0, err
		}
		member := key.String()
		val, err := dec.ReadValue()
		if err != nil {
			return nil, 0, err
		}
		if member == name {
			var n int
			if val, n, err = rewrite(val.Clone()); err != nil {
				return nil, 0, err
			}
			count += n
			if val == nil {
				continue
			}
		}
		if err := enc.WriteToken(jsontext.String(member)); err != nil {
			return nil, 0, err
		}
		if err := enc.WriteValue(val); err != nil {
			return nil, 0, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, 0, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, 0, errors.New("gateway: data after the JSON object")
	}
	if err := enc.WriteToken(jsontext.EndObject); err != nil {
		return nil, 0, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), count, nil
}
