package gateway

import (
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-health/gatehouse/internal/policy"
)

// unsupportedParameter names the parameter that makes an otherwise FHIR
// JSON media type unacceptable, such as charset "iso-8859-1", or returns ""
// when the media type itself is wrong.
func unsupportedParameter(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		return ""
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if v := params[k]; !servedParameter(k, v) {
			return fmt.Sprintf("%s %q", k, clip(v, 40))
		}
	}
	return ""
}

// servedParameter reports whether a FHIR JSON media type parameter fits the
// content the gateway reads and serves: UTF-8 and FHIR R4. The name is in
// lower case, as mime.ParseMediaType returns it.
func servedParameter(name, value string) bool {
	switch name {
	case "charset":
		return strings.EqualFold(value, "utf-8")
	case "fhirversion":
		return value == "4.0" || value == "4.0.1"
	}
	return false
}

// checkContentEncoding rejects a compressed or otherwise encoded body with
// 415 (RFC 7694), naming the encoding: strict mode reads only the bytes as
// sent, and decoding them here would add a decompression-bomb surface.
func checkContentEncoding(ex *exchange, hasBody bool) *Refusal {
	encodings := ex.r.Header.Values("Content-Encoding")
	if !hasBody || len(encodings) == 0 {
		return nil
	}
	value := strings.TrimSpace(strings.Join(encodings, ","))
	if strings.EqualFold(value, "identity") {
		return nil
	}
	return &Refusal{Status: http.StatusUnsupportedMediaType, Code: "not-supported", Rule: "payload.content-encoding",
		Message: fmt.Sprintf("Content-Encoding %q is not supported: send the request body uncompressed, without Content-Encoding", clip(value, 40))}
}

// clip shortens a client-supplied value quoted in a message to at most n
// bytes, cutting at a UTF-8 character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// upstreamAccept is the Accept header the upstream receives on every
// forwarded request. FHIR JSON is the one format the gateway validates and
// records, so the partner's q values and wildcards are not forwarded.
const upstreamAccept = "application/fhir+json"

// checkAccept rejects with 406 a request whose Accept is invalid or admits
// no FHIR R4 JSON, as the policy rejects such a _format. Forwarded, the
// request would run upstream, and an upstream that honours Accept would
// respond in a format the gateway then withholds with a 502. It stores the
// accepted q values in ex.accept for the released response's media type.
//
// A _format parameter overrides Accept (FHIR R4 http.html), for clients
// that cannot set headers. So a _format naming JSON is served whatever the
// Accept value, and any other _format gets the policy's 406 here.
func checkAccept(ex *exchange) *Refusal {
	if ex.fhir != nil && ex.fhir.Query != nil && ex.fhir.Query.Format != "" {
		return acceptFormat(ex)
	}
	q, bad := negotiateJSON(ex.r.Header.Values("Accept"))
	if bad != "" {
		return &Refusal{Status: http.StatusNotAcceptable, Code: "not-supported", Rule: "request.accept",
			Message: fmt.Sprintf("the Accept header has an invalid media range %q: write type/subtype, and a q value from 0 to 1 with at most three decimals", clip(bad, 60))}
	}
	if !q.acceptable() {
		return &Refusal{Status: http.StatusNotAcceptable, Code: "not-supported", Rule: "request.accept",
			Message: "the Accept header admits no FHIR R4 JSON, the only format served: send Accept: application/fhir+json or leave it out"}
	}
	ex.accept = &q
	return nil
}

// acceptFormat applies the request's _format in place of its Accept. It
// stores the q values that _format gives the two FHIR JSON media types, so
// that _format=application/json gets a response labelled application/json.
func acceptFormat(ex *exchange) *Refusal {
	if d, ok := policy.CheckFormat(ex.fhir.Query); !ok {
		return &Refusal{Status: d.Status, Code: d.Code, Rule: d.Rule, Message: d.Reason}
	}
	q := jsonAcceptance{fhirJSON: 1, json: 1, fhirJSONRanged: true}
	switch ex.fhir.Query.Format {
	case "application/fhir+json":
		q.json = 0
	case "application/json":
		q.fhirJSON, q.fhirJSONRanged = 0, false
	}
	ex.accept = &q
	return nil
}

// checkOutboundFormat rejects a _format other than JSON on the engine's
// requests with the policy engine's own rule, because the outbound
// pipeline runs no policy engine.
func checkOutboundFormat(ex *exchange) *Refusal {
	if ex.fhir == nil || ex.fhir.Query == nil {
		return nil
	}
	d, ok := policy.CheckFormat(ex.fhir.Query)
	if ok {
		return nil
	}
	return &Refusal{Status: d.Status, Code: d.Code, Rule: d.Rule, Message: d.Reason}
}

// jsonAcceptance is the q values an Accept field gives the two FHIR JSON
// media types the gateway can label a response with. A type with q 0 is
// not acceptable.
type jsonAcceptance struct {
	fhirJSON float64 // application/fhir+json
	json     float64 // application/json
	// fhirJSONRanged is set when some media range matches
	// application/fhir+json, so that the client chose its q.
	fhirJSONRanged bool
}

// acceptable reports whether the gateway may respond in FHIR JSON.
// application/fhir+json is the content's own media type, so a range that
// gives it q 0 rejects FHIR JSON, and the gateway does not serve the same
// bytes as application/json instead. So "application/fhir+json;q=0, */*"
// is not acceptable. application/json is an alias for clients that name
// only it, so "application/json;q=0, application/fhir+json" is acceptable.
func (a jsonAcceptance) acceptable() bool {
	if a.fhirJSONRanged {
		return a.fhirJSON > 0
	}
	return a.json > 0
}

// negotiateJSON returns the q values that the Accept field values give
// application/fhir+json and application/json as the gateway serves them
// (charset UTF-8, FHIR R4), following RFC 9110 section 12.5.1.
//
// For each type, the most specific media range that matches it sets its q.
// So "application/fhir+json;q=0, */*" rejects FHIR JSON although "*/*"
// admits everything. A range with a type and subtype is more specific than
// "application/*", which is more specific than "*/*". Among ranges of one
// type, more parameters are more specific. When equally specific ranges
// disagree, the lowest q applies. A range with a parameter that the
// gateway's response does not have (another charset or FHIR version, or an
// unknown parameter such as profile) matches neither type. An absent or
// empty field admits both types with q 1.
//
// A malformed range, or a q value outside the RFC 9110 qvalue grammar
// (q=2, q=abc, q=.5), makes the whole field invalid. bad is then that
// range, and the caller responds 406 rather than guess which types the
// client meant to reject. Parameters after q (accept-ext) are read like
// media type parameters, so a range with one matches nothing.
func negotiateJSON(values []string) (q jsonAcceptance, bad string) {
	var fhirJSON, json rangeMatch
	ranges := 0
	for _, v := range values {
		for r := range strings.SplitSeq(v, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			ranges++
			mr, ok := parseMediaRange(r)
			if !ok {
				return jsonAcceptance{}, r
			}
			fhirJSON.consider(mr, "application/fhir+json")
			json.consider(mr, "application/json")
		}
	}
	if ranges == 0 {
		return jsonAcceptance{fhirJSON: 1, json: 1, fhirJSONRanged: true}, ""
	}
	return jsonAcceptance{fhirJSON: fhirJSON.q, json: json.q, fhirJSONRanged: fhirJSON.seen}, ""
}

// mediaRange is one parsed element of an Accept field.
type mediaRange struct {
	mediaType string  // lower case, possibly "*/*" or "application/*"
	params    int     // number of parameters other than q
	matchable bool    // every parameter is one the gateway's response has
	q         float64 // 1 when absent
}

// parseMediaRange parses one Accept element, reporting false for a
// malformed range or q value.
func parseMediaRange(r string) (mediaRange, bool) {
	mt, params, err := mime.ParseMediaType(r)
	if err != nil || !strings.Contains(mt, "/") {
		return mediaRange{}, false
	}
	m := mediaRange{mediaType: mt, matchable: true, q: 1}
	for k, v := range params {
		if k == "q" {
			q, ok := parseQValue(v)
			if !ok {
				return mediaRange{}, false
			}
			m.q = q
			continue
		}
		if !servedParameter(k, v) {
			m.matchable = false
		}
		m.params++
	}
	return m, true
}

// parseQValue parses an RFC 9110 qvalue: "0" or "1", optionally with a
// point and up to three decimals, and at most 1.
func parseQValue(s string) (float64, bool) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if (whole != "0" && whole != "1") || len(frac) > 3 || (hasPoint && strings.Trim(frac, "0123456789") != "") {
		return 0, false
	}
	if whole == "1" && strings.Trim(frac, "0") != "" {
		return 0, false
	}
	q, err := strconv.ParseFloat(whole+"."+frac+"0", 64)
	return q, err == nil
}

// rangeMatch keeps the most specific range seen so far that matches one
// media type.
type rangeMatch struct {
	specificity int // valid once seen is set
	q           float64
	seen        bool
}

// consider applies r to the media type mt if r matches it and is at least
// as specific as the ranges seen so far.
func (m *rangeMatch) consider(r mediaRange, mt string) {
	if !r.matchable {
		return
	}
	var spec int
	switch r.mediaType {
	case mt:
		spec = 2
	case mt[:strings.IndexByte(mt, '/')] + "/*":
		spec = 1
	case "*/*":
		spec = 0
	default:
		return
	}
	// The parameter count breaks ties within a level, as
	// "application/fhir+json;charset=utf-8" overrides "application/fhir+json".
	spec = spec<<16 + min(r.params, 1<<16-1)
	switch {
	case !m.seen || spec > m.specificity:
		m.specificity, m.q, m.seen = spec, r.q, true
	case spec == m.specificity:
		m.q = min(m.q, r.q)
	}
}

// releasedJSONType returns the media type a FHIR JSON response is released
// with. That is the upstream's label in canonical form (canonicalJSONType)
// if accept gives it a q above 0 or is nil, and otherwise the other FHIR
// JSON type, which checkAccept has then found acceptable.
func releasedJSONType(accept *jsonAcceptance, upstreamType string) string {
	ct := canonicalJSONType(upstreamType)
	if accept == nil {
		return ct
	}
	isJSON := strings.HasPrefix(ct, "application/json;")
	switch {
	case isJSON && accept.json <= 0:
		return "application/fhir+json; charset=utf-8"
	case !isJSON && accept.fhirJSON <= 0:
		return "application/json; charset=utf-8"
	}
	return ct
}

// canonicalJSONType returns a FHIR JSON media type that the gateway has
// accepted, in the one spelling it sends on: the media type with charset
// UTF-8 and no other parameter. The original may carry an RFC 2231
// "charset*" that Go's mime package reads over a plain "charset", where a
// server without RFC 2231 support reads the plain one, so forwarding it
// would let the two decode the same bytes differently.
func canonicalJSONType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		mt = "application/fhir+json"
	}
	return mt + "; charset=utf-8"
}
