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
		v := params[k]
		switch {
		case k == "charset" && strings.EqualFold(v, "utf-8"):
		case k == "fhirversion" && (v == "4.0" || v == "4.0.1"):
		default:
			return fmt.Sprintf("%s %q", k, clip(v, 40))
		}
	}
	return ""
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
// forwarded request: FHIR JSON is the one format the gateway validates
// and records, so the upstream is given no choice to read from the
// partner's q-values and wildcards.
const upstreamAccept = "application/fhir+json"

// checkAccept rejects, with 406, a request whose Accept admits no FHIR R4
// JSON, as the policy rejects such a _format. Forwarded, the request would
// run upstream, and an upstream that honoured Accept would respond in a
// form the gateway then withholds with a 502.
func checkAccept(ex *exchange) *Refusal {
	if acceptsFHIRJSON(ex.r.Header.Values("Accept")) {
		return nil
	}
	return &Refusal{Status: http.StatusNotAcceptable, Code: "not-supported", Rule: "request.accept",
		Message: "the Accept header admits no FHIR R4 JSON, the only format served: send Accept: application/fhir+json or leave it out"}
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

// acceptsFHIRJSON reports whether the Accept field values admit FHIR R4
// JSON: no media range at all, or one that covers application/fhir+json
// or application/json with a non-zero q, no charset other than UTF-8 and
// no FHIR version other than R4's.
// NOTE: each range is read on its own, so "application/fhir+json;q=0, */*"
// is admitted through "*/*", although RFC 9110 gives the more specific
// range precedence. The partner then gets FHIR JSON it did not ask for.
func acceptsFHIRJSON(values []string) bool {
	ranges := 0
	for _, v := range values {
		for r := range strings.SplitSeq(v, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			ranges++
			if rangeAdmitsFHIRJSON(r) {
				return true
			}
		}
	}
	return ranges == 0
}

func rangeAdmitsFHIRJSON(r string) bool {
	mt, params, err := mime.ParseMediaType(r)
	if err != nil {
		return false
	}
	switch mt {
	case "application/fhir+json", "application/json", "application/*", "*/*":
	default:
		return false
	}
	for k, v := range params {
		switch {
		case k == "q":
			q, err := strconv.ParseFloat(v, 64)
			if err != nil || q <= 0 || q > 1 {
				return false
			}
		case k == "charset" && strings.EqualFold(v, "utf-8"):
		case k == "fhirversion" && (v == "4.0" || v == "4.0.1"):
		default:
			return false
		}
	}
	return true
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
